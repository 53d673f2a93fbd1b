package types_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

func TestWebSocketMessageHasOneEncoding(t *testing.T) {
	for _, m := range []types.WebSocketMessage{
		{Type: types.WebSocketText, Data: []byte(`{"jsonrpc":"2.0","id":1}`)},
		{Type: types.WebSocketBinary, Data: []byte{0, 1, 2}},
		{Type: types.WebSocketText},
	} {
		b, err := m.Marshal()
		require.NoError(t, err)
		var got types.WebSocketMessage
		require.NoError(t, got.Unmarshal(b))
		require.Equal(t, m.Type, got.Type)
		require.Equal(t, string(m.Data), string(got.Data))
	}
	_, err := (&types.WebSocketMessage{Type: 9}).Marshal()
	require.Error(t, err)
	for name, b := range map[string][]byte{
		"empty":            nil,
		"bad type":         {0x08, 0x03},
		"non-minimal type": {0x08, 0x81, 0x00},
		"data first":       {0x12, 0x01, 'x', 0x08, 0x01},
		"empty data field": {0x08, 0x01, 0x12, 0x00},
		"trailing bytes":   {0x08, 0x01, 0x12, 0x01, 'x', 0x00},
		"unknown field":    {0x08, 0x01, 0x1a, 0x01, 'x'},
	} {
		require.Error(t, new(types.WebSocketMessage).Unmarshal(b), name)
	}
}
