package chain

import cmttypes "github.com/cometbft/cometbft/types"

type block struct {
	height int64
	hash   []byte
}

func blockOf(data any) (block, bool) {
	ev, ok := data.(cmttypes.EventDataNewBlock)
	if !ok || ev.Block == nil {
		return block{}, false
	}
	return block{height: ev.Block.Height, hash: ev.BlockID.Hash}, true
}
