package session

import "github.com/pokt-network/poktroll/x/relayer/types"

// LoggedRelays counts the relays in the relay log of supplier's session
// hdr: 0 when no tree holds the session, or its log was deleted (once
// proven). It reads the whole log, so it is for a RelayMiner restarted
// mid-session (the relay meter's count of a session it did not see start),
// once per session, never per relay.
func (m *Manager) LoggedRelays(hdr types.SessionHeader, supplier string) (uint64, error) {
	m.mu.Lock()
	t := m.trees[string(treeKey(supplier, hdr.SessionId))]
	m.mu.Unlock()
	if t == nil {
		return 0, nil
	}
	it := t.db.NewIterator(logKey(t.key))
	defer it.Release()
	var n uint64
	for it.Next() {
		n++
	}
	return n, it.Err()
}
