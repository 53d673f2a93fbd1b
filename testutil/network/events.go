package network

import (
	"context"
	"fmt"
	"testing"
	"time"

	coretypes "github.com/cometbft/cometbft/rpc/core/types"
)

// eventBuffer is the capacity of a subscription channel; the CometBFT
// client drops events that do not fit.
const eventBuffer = 256

// SubscribeEvents subscribes to CometBFT events matching query, e.g.
// "tm.event='Tx' AND message.sender='pokt1...'" or "tm.event='NewBlock'";
// the subscription ends with t. Subscribe before causing the event: events
// published earlier are not delivered.
func (n *Network) SubscribeEvents(t testing.TB, query string) <-chan coretypes.ResultEvent {
	t.Helper()
	ch, unsubscribe, err := n.subscribe(query)
	if err != nil {
		t.Fatalf("testutil/network: subscribe %q: %v", query, err)
	}
	t.Cleanup(unsubscribe)
	return ch
}

// WaitForEvent subscribes to query and returns the first matching event
// published afterwards; it fails t after timeout.
func (n *Network) WaitForEvent(t testing.TB, query string, timeout time.Duration) coretypes.ResultEvent {
	t.Helper()
	ch, unsubscribe, err := n.subscribe(query)
	if err != nil {
		t.Fatalf("testutil/network: subscribe %q: %v", query, err)
	}
	defer unsubscribe()
	ev, err := NextEvent(ch, timeout)
	if err != nil {
		t.Fatalf("testutil/network: event %q: %v", query, err)
	}
	return ev
}

// NextEvent returns the next event of a subscription, or an error after
// timeout.
func NextEvent(ch <-chan coretypes.ResultEvent, timeout time.Duration) (coretypes.ResultEvent, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case ev, ok := <-ch:
		if !ok {
			return coretypes.ResultEvent{}, fmt.Errorf("subscription closed")
		}
		return ev, nil
	case <-timer.C:
		return coretypes.ResultEvent{}, fmt.Errorf("no event within %s", timeout)
	}
}

func (n *Network) subscribe(query string) (<-chan coretypes.ResultEvent, func(), error) {
	n.subSeq.Lock()
	n.subNext++
	subscriber := fmt.Sprintf("testutil-network-%d", n.subNext)
	n.subSeq.Unlock()
	rpc := n.Validator.RPCClient
	ch, err := rpc.Subscribe(context.Background(), subscriber, query, eventBuffer)
	if err != nil {
		return nil, nil, err
	}
	return ch, func() { _ = rpc.Unsubscribe(context.Background(), subscriber, query) }, nil
}
