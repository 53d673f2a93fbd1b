package appgate

import (
	"slices"
	"sync"
	"time"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

// DefaultFailureMemory is how long a failed supplier is tried only after
// the others.
const DefaultFailureMemory = 30 * time.Second

// picker spreads a service's requests over a session's suppliers in turn
// and puts the suppliers that failed recently last.
type picker struct {
	memory time.Duration
	now    func() time.Time

	mu     sync.Mutex
	turn   map[string]int                // by service: whose turn it is
	failed map[supplierService]time.Time // when each last failed
}

type supplierService struct{ supplier, service string }

func newPicker(memory time.Duration) *picker {
	return &picker{memory: memory, now: time.Now, turn: map[string]int{}, failed: map[supplierService]time.Time{}}
}

// nextTurn takes a request's turn for service.
func (p *picker) nextTurn(service string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.turn[service]
	p.turn[service] = (t + 1) & (1<<30 - 1)
	return t
}

// order returns the suppliers in the order to try them for the request
// whose turn it is: round-robin from the turn, the ones that failed within
// the failure memory last (least recently failed first). Every supplier is
// in the result, so one that failed is still tried when all the others did.
func (p *picker) order(service string, suppliers []types.Supplier, turn int) []types.Supplier {
	n := len(suppliers)
	if n == 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	start := turn % n

	now := p.now()
	var healthy, recent []types.Supplier
	for i := range n {
		s := suppliers[(start+i)%n]
		key := supplierService{s.OperatorAddress, service}
		if at, ok := p.failed[key]; ok {
			if now.Sub(at) < p.memory {
				recent = append(recent, s)
				continue
			}
			delete(p.failed, key)
		}
		healthy = append(healthy, s)
	}
	slices.SortStableFunc(recent, func(a, b types.Supplier) int {
		return p.failed[supplierService{a.OperatorAddress, service}].Compare(p.failed[supplierService{b.OperatorAddress, service}])
	})
	return append(healthy, recent...)
}

// fail remembers that supplier failed a relay of service.
func (p *picker) fail(service, supplier string) {
	p.mu.Lock()
	p.failed[supplierService{supplier, service}] = p.now()
	p.mu.Unlock()
}

// succeed forgets a supplier's failure.
func (p *picker) succeed(service, supplier string) {
	p.mu.Lock()
	delete(p.failed, supplierService{supplier, service})
	p.mu.Unlock()
}
