package types

import (
	errorsmod "cosmossdk.io/errors"
	sdk "github.com/cosmos/cosmos-sdk/types"
)

var (
	_ sdk.Msg = (*MsgUpdateParams)(nil)
	_ sdk.Msg = (*MsgAddService)(nil)
	_ sdk.Msg = (*MsgStakeApplication)(nil)
	_ sdk.Msg = (*MsgAddApplicationStake)(nil)
	_ sdk.Msg = (*MsgUnstakeApplication)(nil)
	_ sdk.Msg = (*MsgStakeSupplier)(nil)
	_ sdk.Msg = (*MsgAddSupplierStake)(nil)
	_ sdk.Msg = (*MsgUnstakeSupplier)(nil)
	_ sdk.Msg = (*MsgCreateClaim)(nil)
	_ sdk.Msg = (*MsgSubmitProof)(nil)
)

// ValidateBasic runs the checks that need no state.
func (m *MsgUpdateParams) ValidateBasic() error {
	if err := validateAddress("authority", m.Authority); err != nil {
		return err
	}
	return m.Params.Validate()
}

// ValidateBasic runs the checks that need no state.
func (m *MsgAddService) ValidateBasic() error {
	if err := validateAddress("owner_address", m.OwnerAddress); err != nil {
		return err
	}
	return m.ToService().ValidateBasic()
}

// ToService is the service the message creates or updates.
func (m *MsgAddService) ToService() Service {
	return Service{Id: m.ServiceId, Name: m.Name, ComputeUnitsPerRelay: m.ComputeUnitsPerRelay, OwnerAddress: m.OwnerAddress}
}

// ValidateBasic runs the checks that need no state.
func (m *MsgStakeApplication) ValidateBasic() error {
	if err := validateAddress("address", m.Address); err != nil {
		return err
	}
	if err := validateStakeCoin("stake", m.Stake); err != nil {
		return err
	}
	return validateServiceIDs(m.ServiceIds)
}

// ValidateBasic runs the checks that need no state.
func (m *MsgAddApplicationStake) ValidateBasic() error {
	if err := validateAddress("address", m.Address); err != nil {
		return err
	}
	return validateStakeCoin("amount", m.Amount)
}

// ValidateBasic runs the checks that need no state.
func (m *MsgUnstakeApplication) ValidateBasic() error {
	return validateAddress("address", m.Address)
}

// ValidateBasic runs the checks that need no state.
func (m *MsgStakeSupplier) ValidateBasic() error {
	if err := validateAddress("operator_address", m.OperatorAddress); err != nil {
		return err
	}
	if err := validateStakeCoin("stake", m.Stake); err != nil {
		return err
	}
	ids := make([]string, len(m.Services))
	for i, s := range m.Services {
		if err := s.ValidateBasic(); err != nil {
			return err
		}
		ids[i] = s.ServiceId
	}
	return validateServiceIDs(ids)
}

// ValidateBasic runs the checks that need no state.
func (m *MsgAddSupplierStake) ValidateBasic() error {
	if err := validateAddress("operator_address", m.OperatorAddress); err != nil {
		return err
	}
	return validateStakeCoin("amount", m.Amount)
}

// ValidateBasic runs the checks that need no state.
func (m *MsgUnstakeSupplier) ValidateBasic() error {
	return validateAddress("operator_address", m.OperatorAddress)
}

// Sizes of what a claim or proof may carry.
const (
	RootHashLength = 32 + 8 + 8
	// MaxProofsPerClaim bounds num_proofs_per_claim, hence a proof's leaves.
	MaxProofsPerClaim = 16
	// MaxLeafLength bounds a proven leaf: a compact relay (payloads replaced
	// by their hashes) is a few hundred bytes.
	MaxLeafLength = 4096
	// MaxSideNodes is the trie's depth; a side node is empty or 48 bytes.
	MaxSideNodes  = 256
	sideNodeBytes = 48
)

// ValidateBasic runs the checks that need no state.
func (m *MsgCreateClaim) ValidateBasic() error {
	if err := validateAddress("supplier_operator_address", m.SupplierOperatorAddress); err != nil {
		return err
	}
	if err := m.SessionHeader.ValidateBasic(); err != nil {
		return err
	}
	if len(m.RootHash) != RootHashLength {
		return errorsmod.Wrapf(ErrInvalidRootHash, "root_hash must be %d bytes (digest ‖ sum ‖ count), got %d", RootHashLength, len(m.RootHash))
	}
	return nil
}

// ValidateBasic runs the checks that need no state.
func (m *MsgSubmitProof) ValidateBasic() error {
	if err := validateAddress("supplier_operator_address", m.SupplierOperatorAddress); err != nil {
		return err
	}
	if err := m.SessionHeader.ValidateBasic(); err != nil {
		return err
	}
	if len(m.Proofs) == 0 || len(m.Proofs) > MaxProofsPerClaim {
		return errorsmod.Wrapf(ErrWrongProofCount, "a proof opens 1 to %d leaves, got %d", MaxProofsPerClaim, len(m.Proofs))
	}
	for i, p := range m.Proofs {
		if len(p.Leaf) == 0 || len(p.Leaf) > MaxLeafLength {
			return errorsmod.Wrapf(ErrInvalidProof, "proofs[%d].leaf must be 1 to %d bytes, got %d", i, MaxLeafLength, len(p.Leaf))
		}
		if len(p.SideNodes) > MaxSideNodes {
			return errorsmod.Wrapf(ErrInvalidProof, "proofs[%d] has %d side nodes, at most %d", i, len(p.SideNodes), MaxSideNodes)
		}
		for j, n := range p.SideNodes {
			if len(n) != 0 && len(n) != sideNodeBytes {
				return errorsmod.Wrapf(ErrInvalidProof, "proofs[%d].side_nodes[%d] must be empty or %d bytes, got %d", i, j, sideNodeBytes, len(n))
			}
		}
	}
	return nil
}
