package proxy_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	errorsmod "cosmossdk.io/errors"
	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/relayminer/miner"
	"github.com/pokt-network/poktroll/x/relayer/types"
)

// refusingMiner's log refuses every relay with err (as a fleet's shared
// relay log does).
type refusingMiner struct {
	fakeMiner
	err error
}

func (m *refusingMiner) Mine(context.Context, *types.RelayRequest, *types.RelayResponse, []byte) error {
	return m.err
}

// TestRelayRefusedByTheRelayLogGetsItsTypedError: what the relay log says
// when it does not take a served relay reaches the application as the
// typed error and status, never as an answer.
func TestRelayRefusedByTheRelayLogGetsItsTypedError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		want   *errorsmod.Error
	}{
		{"already in the shared log (served by another replica)", fmt.Errorf("%w: stream sequence 7", miner.ErrRelayLogged), http.StatusConflict, types.ErrRelayDuplicate},
		{"the session was sealed", fmt.Errorf("%w: sealed in the fleet's relay log", miner.ErrSessionSealed), http.StatusGone, types.ErrRelaySessionOver},
		{"not stored in time", fmt.Errorf("%w: no quorum", miner.ErrStoreUnavailable), http.StatusServiceUnavailable, types.ErrRelayStoreUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, jsonRPCBackend(t), &refusingMiner{err: tc.err})
			status, res := f.send(t, http.MethodPost, marshal(t, f.request(t, f.header, []byte(`{}`))))
			require.Equal(t, tc.status, status)
			require.Equal(t, tc.want.ABCICode(), res.Error.Code)
			require.Empty(t, res.Payload, "no answer for a relay not in the log")
		})
	}
}
