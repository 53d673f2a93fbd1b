package types_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

func testAddress(b byte) string { return sdk.AccAddress(bytes.Repeat([]byte{b}, 20)).String() }

func stakeCoin(amount int64) sdk.Coin { return sdk.NewInt64Coin(types.DefaultDenom, amount) }

func TestValidateServiceID(t *testing.T) {
	for _, id := range []string{"eth", "ETH-mainnet_2", "0", strings.Repeat("a", types.MaxServiceIDLength)} {
		require.NoError(t, types.ValidateServiceID(id), id)
	}
	for _, id := range []string{"", " ", "eth ", "a/b", "a.b", "é", "eth\n", strings.Repeat("a", types.MaxServiceIDLength+1)} {
		require.ErrorIs(t, types.ValidateServiceID(id), types.ErrInvalidService, "%q", id)
	}
}

func TestMsgStakeSupplierValidateBasic_EndpointURL(t *testing.T) {
	msg := func(url string) *types.MsgStakeSupplier {
		return &types.MsgStakeSupplier{
			OperatorAddress: testAddress(1),
			Stake:           stakeCoin(1),
			Services:        []types.SupplierService{{ServiceId: "eth", EndpointUrl: url, RpcType: types.RPCType_RPC_TYPE_JSON_RPC}},
		}
	}
	for _, url := range []string{
		"http://localhost:8545",
		"https://eth.example.com",
		"https://eth.example.com:443/v1/rpc?key=abc",
		"http://10.0.0.1",
		"http://[::1]:8545/",
		"HTTPS://EXAMPLE.COM",
	} {
		require.NoError(t, msg(url).ValidateBasic(), url)
	}
	for _, url := range []string{
		"not a url",
		"ftp://x",
		"http://",
		"",
		"https://",
		"http:///path",
		"http://:8545",
		"https://user@:443/",
		"ws://eth.example.com",
		"eth.example.com:8545",
		"//eth.example.com",
		"/rpc",
		"http:eth.example.com",
		"http://exa mple.com",
		"http://" + strings.Repeat("a", types.MaxEndpointURLLength),
	} {
		require.ErrorIs(t, msg(url).ValidateBasic(), types.ErrInvalidServiceConfig, "%q", url)
	}
}

func TestMsgStakeSupplierValidateBasic(t *testing.T) {
	svc := func(id string) types.SupplierService {
		return types.SupplierService{ServiceId: id, EndpointUrl: "https://" + id + ".example.com", RpcType: types.RPCType_RPC_TYPE_REST}
	}
	valid := func() *types.MsgStakeSupplier {
		return &types.MsgStakeSupplier{OperatorAddress: testAddress(1), Stake: stakeCoin(5), Services: []types.SupplierService{svc("eth"), svc("sol")}}
	}
	require.NoError(t, valid().ValidateBasic())
	many := make([]types.SupplierService, types.MaxServicesPerStake+1)
	for i := range many {
		many[i] = svc(fmt.Sprintf("s%d", i))
	}
	tests := []struct {
		name string
		edit func(*types.MsgStakeSupplier)
		err  error
	}{
		{"bad operator", func(m *types.MsgStakeSupplier) { m.OperatorAddress = "pokt1bad" }, types.ErrInvalidAddress},
		{"zero stake", func(m *types.MsgStakeSupplier) { m.Stake = stakeCoin(0) }, types.ErrInvalidStake},
		{"stake without denom", func(m *types.MsgStakeSupplier) { m.Stake.Denom = "" }, types.ErrInvalidStake},
		{"no services", func(m *types.MsgStakeSupplier) { m.Services = nil }, types.ErrInvalidService},
		{"service twice", func(m *types.MsgStakeSupplier) { m.Services[1] = svc("eth") }, types.ErrInvalidService},
		{"too many services", func(m *types.MsgStakeSupplier) { m.Services = many }, types.ErrInvalidService},
		{"bad service id", func(m *types.MsgStakeSupplier) { m.Services[1].ServiceId = "s o l" }, types.ErrInvalidServiceConfig},
		{"unspecified rpc type", func(m *types.MsgStakeSupplier) { m.Services[0].RpcType = types.RPCType_RPC_TYPE_UNSPECIFIED }, types.ErrInvalidServiceConfig},
		{"unknown rpc type", func(m *types.MsgStakeSupplier) { m.Services[0].RpcType = 42 }, types.ErrInvalidServiceConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := valid()
			tc.edit(m)
			require.ErrorIs(t, m.ValidateBasic(), tc.err)
		})
	}
}

func TestMsgValidateBasic_Others(t *testing.T) {
	addr := testAddress(2)
	tests := []struct {
		name string
		msg  interface{ ValidateBasic() error }
		err  error // nil: valid
	}{
		{"add service", &types.MsgAddService{OwnerAddress: addr, ServiceId: "eth", ComputeUnitsPerRelay: 1}, nil},
		{"add service bad owner", &types.MsgAddService{OwnerAddress: "x", ServiceId: "eth", ComputeUnitsPerRelay: 1}, types.ErrInvalidAddress},
		{"add service zero compute units", &types.MsgAddService{OwnerAddress: addr, ServiceId: "eth"}, types.ErrInvalidService},
		{"add service long name", &types.MsgAddService{OwnerAddress: addr, ServiceId: "eth", Name: strings.Repeat("n", types.MaxServiceNameLength+1), ComputeUnitsPerRelay: 1}, types.ErrInvalidService},
		{"stake app", &types.MsgStakeApplication{Address: addr, Stake: stakeCoin(1), ServiceIds: []string{"eth"}}, nil},
		{"stake app bad address", &types.MsgStakeApplication{Address: "", Stake: stakeCoin(1), ServiceIds: []string{"eth"}}, types.ErrInvalidAddress},
		{"stake app zero stake", &types.MsgStakeApplication{Address: addr, Stake: stakeCoin(0), ServiceIds: []string{"eth"}}, types.ErrInvalidStake},
		{"stake app no service", &types.MsgStakeApplication{Address: addr, Stake: stakeCoin(1)}, types.ErrInvalidService},
		{"stake app service twice", &types.MsgStakeApplication{Address: addr, Stake: stakeCoin(1), ServiceIds: []string{"a", "a"}}, types.ErrInvalidService},
		{"add app stake", &types.MsgAddApplicationStake{Address: addr, Amount: stakeCoin(1)}, nil},
		{"add app stake zero", &types.MsgAddApplicationStake{Address: addr, Amount: stakeCoin(0)}, types.ErrInvalidStake},
		{"add app stake bad address", &types.MsgAddApplicationStake{Address: "pokt", Amount: stakeCoin(1)}, types.ErrInvalidAddress},
		{"unstake app", &types.MsgUnstakeApplication{Address: addr}, nil},
		{"unstake app bad address", &types.MsgUnstakeApplication{Address: "cosmos1"}, types.ErrInvalidAddress},
		{"add supplier stake", &types.MsgAddSupplierStake{OperatorAddress: addr, Amount: stakeCoin(1)}, nil},
		{"add supplier stake zero", &types.MsgAddSupplierStake{OperatorAddress: addr, Amount: stakeCoin(0)}, types.ErrInvalidStake},
		{"add supplier stake bad address", &types.MsgAddSupplierStake{OperatorAddress: "", Amount: stakeCoin(1)}, types.ErrInvalidAddress},
		{"unstake supplier", &types.MsgUnstakeSupplier{OperatorAddress: addr}, nil},
		{"unstake supplier bad address", &types.MsgUnstakeSupplier{OperatorAddress: "x"}, types.ErrInvalidAddress},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.msg.ValidateBasic()
			if tc.err == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.err)
		})
	}
}

func validHeader() *types.SessionHeader {
	return &types.SessionHeader{
		ApplicationAddress:      testAddress(3),
		ServiceId:               "eth",
		SessionId:               strings.Repeat("0123456789abcdef", 4),
		SessionStartBlockHeight: 5,
		SessionEndBlockHeight:   8,
	}
}

func TestSessionHeaderValidateBasic(t *testing.T) {
	require.NoError(t, validHeader().ValidateBasic())
	var missing *types.SessionHeader
	require.ErrorIs(t, missing.ValidateBasic(), types.ErrInvalidSessionHeader)

	tests := []struct {
		name string
		edit func(*types.SessionHeader)
	}{
		{"empty application", func(h *types.SessionHeader) { h.ApplicationAddress = "" }},
		{"malformed application", func(h *types.SessionHeader) { h.ApplicationAddress = "pokt1abc" }},
		{"empty service", func(h *types.SessionHeader) { h.ServiceId = "" }},
		{"malformed service", func(h *types.SessionHeader) { h.ServiceId = "a b" }},
		{"empty session id", func(h *types.SessionHeader) { h.SessionId = "" }},
		{"short session id", func(h *types.SessionHeader) { h.SessionId = strings.Repeat("a", 63) }},
		{"long session id", func(h *types.SessionHeader) { h.SessionId = strings.Repeat("a", 65) }},
		{"non-hex session id", func(h *types.SessionHeader) { h.SessionId = strings.Repeat("z", 64) }},
		{"upper-case session id", func(h *types.SessionHeader) { h.SessionId = strings.Repeat("ABCDEF01", 8) }},
		{"zero start", func(h *types.SessionHeader) { h.SessionStartBlockHeight = 0 }},
		{"negative start", func(h *types.SessionHeader) { h.SessionStartBlockHeight = -3 }},
		{"end before start", func(h *types.SessionHeader) { h.SessionEndBlockHeight = 4 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := validHeader()
			tc.edit(h)
			require.ErrorIs(t, h.ValidateBasic(), types.ErrInvalidSessionHeader)
		})
	}
	single := validHeader()
	single.SessionEndBlockHeight = single.SessionStartBlockHeight
	require.NoError(t, single.ValidateBasic(), "a one-block session is a valid range")
}

func TestMsgCreateClaimAndSubmitProofValidateBasic(t *testing.T) {
	sup := testAddress(4)
	root := bytes.Repeat([]byte{1}, types.RootHashLength)
	require.NoError(t, (&types.MsgCreateClaim{SupplierOperatorAddress: sup, SessionHeader: *validHeader(), RootHash: root}).ValidateBasic())
	require.ErrorIs(t, (&types.MsgCreateClaim{SupplierOperatorAddress: "x", SessionHeader: *validHeader(), RootHash: root}).ValidateBasic(), types.ErrInvalidAddress)
	require.ErrorIs(t, (&types.MsgCreateClaim{SupplierOperatorAddress: sup, SessionHeader: types.SessionHeader{}, RootHash: root}).ValidateBasic(), types.ErrInvalidSessionHeader)
	require.ErrorIs(t, (&types.MsgCreateClaim{SupplierOperatorAddress: sup, SessionHeader: *validHeader(), RootHash: root[1:]}).ValidateBasic(), types.ErrInvalidRootHash)

	leaf := types.LeafProof{Leaf: []byte{1}, SideNodes: [][]byte{nil, bytes.Repeat([]byte{2}, 48)}}
	proofs := func(n int, p types.LeafProof) []types.LeafProof {
		out := make([]types.LeafProof, n)
		for i := range out {
			out[i] = p
		}
		return out
	}
	submit := func(hdr types.SessionHeader, ps []types.LeafProof) error {
		return (&types.MsgSubmitProof{SupplierOperatorAddress: sup, SessionHeader: hdr, Proofs: ps}).ValidateBasic()
	}
	require.NoError(t, submit(*validHeader(), proofs(1, leaf)))
	require.NoError(t, submit(*validHeader(), proofs(types.MaxProofsPerClaim, leaf)))
	require.ErrorIs(t, submit(*validHeader(), nil), types.ErrWrongProofCount)
	require.ErrorIs(t, submit(*validHeader(), proofs(types.MaxProofsPerClaim+1, leaf)), types.ErrWrongProofCount)
	require.ErrorIs(t, submit(*validHeader(), proofs(1, types.LeafProof{})), types.ErrInvalidProof, "empty leaf")
	require.ErrorIs(t, submit(*validHeader(), proofs(1, types.LeafProof{Leaf: make([]byte, types.MaxLeafLength+1)})), types.ErrInvalidProof, "leaf too long")
	require.ErrorIs(t, submit(*validHeader(), proofs(1, types.LeafProof{Leaf: []byte{1}, SideNodes: make([][]byte, types.MaxSideNodes+1)})), types.ErrInvalidProof, "too many side nodes")
	require.ErrorIs(t, submit(*validHeader(), proofs(1, types.LeafProof{Leaf: []byte{1}, SideNodes: [][]byte{make([]byte, 47)}})), types.ErrInvalidProof, "side node of 47 bytes")
	require.ErrorIs(t, submit(types.SessionHeader{ServiceId: "eth"}, proofs(1, leaf)), types.ErrInvalidSessionHeader)
}
