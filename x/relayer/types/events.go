package types

import (
	"strings"

	abci "github.com/cometbft/cometbft/abci/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/gogoproto/proto"
)

// eventTypePrefix starts the type of every event this module emits (the
// full name of its proto message).
const eventTypePrefix = "poktroll.relayer."

// IsEvent reports whether e, as found in block or tx results, is one of
// this module's typed events.
func IsEvent(e abci.Event) bool { return strings.HasPrefix(e.Type, eventTypePrefix) }

// ParseEvent decodes one of this module's typed events as found in block
// or tx results. Events of block hooks also carry baseapp's plain-text
// "mode" attribute, which is not a field of the event; it is dropped.
func ParseEvent(e abci.Event) (proto.Message, error) {
	attrs := make([]abci.EventAttribute, 0, len(e.Attributes))
	for _, a := range e.Attributes {
		if a.Key != "mode" {
			attrs = append(attrs, a)
		}
	}
	e.Attributes = attrs
	return sdk.ParseTypedEvent(e)
}
