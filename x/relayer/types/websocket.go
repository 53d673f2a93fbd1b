package types

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// WebSocket message types (RFC 6455 opcodes), as WebSocketMessage.Type.
const (
	WebSocketText   = 1
	WebSocketBinary = 2
)

// WebSocketMessage is the payload of a relay on a WebSocket relay socket:
// one WebSocket message, of the application (in a RelayRequest) or of the
// backend (in a RelayResponse). Its encoding is the protobuf message
//
//	message WebSocketMessage { uint32 type = 1; bytes data = 2; }
//
// with type 1 (text) or 2 (binary), fields in order, each once, zero
// fields left out: one message has one encoding. Like an HTTP payload, it
// is opaque to the protocol, which hashes it (payload_hash).
type WebSocketMessage struct {
	Type uint32
	Data []byte
}

// Marshal encodes m.
func (m *WebSocketMessage) Marshal() ([]byte, error) {
	if m.Type != WebSocketText && m.Type != WebSocketBinary {
		return nil, fmt.Errorf("websocket message type %d: want 1 (text) or 2 (binary)", m.Type)
	}
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(m.Type))
	if len(m.Data) > 0 {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, m.Data)
	}
	return b, nil
}

// Unmarshal decodes b into m, refusing any other encoding than Marshal's.
func (m *WebSocketMessage) Unmarshal(b []byte) error {
	*m = WebSocketMessage{}
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num != 1 || typ != protowire.VarintType {
		return errors.New("websocket message: want its type first")
	}
	b = b[n:]
	v, n := protowire.ConsumeVarint(b)
	if n < 0 || (v != WebSocketText && v != WebSocketBinary) || len(protowire.AppendVarint(nil, v)) != n {
		return errors.New("websocket message: type is not 1 (text) or 2 (binary)")
	}
	m.Type, b = uint32(v), b[n:]
	if len(b) == 0 {
		return nil
	}
	num, typ, n = protowire.ConsumeTag(b)
	if n < 0 || num != 2 || typ != protowire.BytesType {
		return errors.New("websocket message: want only its data after its type")
	}
	b = b[n:]
	data, n := protowire.ConsumeBytes(b)
	if n < 0 || n != len(b) || len(data) == 0 {
		return errors.New("websocket message: malformed data")
	}
	m.Data = append([]byte(nil), data...)
	return nil
}
