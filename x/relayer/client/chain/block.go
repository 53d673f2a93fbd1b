package chain

import (
	"encoding/json"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	cmttypes "github.com/cometbft/cometbft/types"
)

type block struct {
	height int64
	hash   []byte
}

// blockOfEvent decodes the data of a new block event. A NewBlockHeader
// event does not carry the block's hash: it is the header's hash, computed
// here as a light client does from the same JSON. Other events are not
// blocks (ok false).
func blockOfEvent(data json.RawMessage) (b block, ok bool, err error) {
	var ev cmttypes.TMEventData
	if err := cmtjson.Unmarshal(data, &ev); err != nil {
		return block{}, false, err
	}
	switch ev := ev.(type) {
	case cmttypes.EventDataNewBlockHeader:
		hash := ev.Header.Hash()
		if hash == nil {
			return block{}, false, nil
		}
		return block{height: ev.Header.Height, hash: hash}, true, nil
	case cmttypes.EventDataNewBlock:
		if ev.Block == nil {
			return block{}, false, nil
		}
		return block{height: ev.Block.Height, hash: ev.BlockID.Hash}, true, nil
	}
	return block{}, false, nil
}
