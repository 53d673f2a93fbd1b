// Package hostile makes the input a hostile client sends, for the tests
// that check the RelayMiner and the AppGate refuse it cleanly.
package hostile

import (
	"fmt"
	mrand "math/rand/v2"
	"strings"

	"github.com/pokt-network/poktroll/x/relayer/types"
)

// ServiceID is one kind of forged service id: Gen makes the i-th one.
type ServiceID struct {
	Name string
	Gen  func(r *mrand.Rand, i int) string
}

// ServiceIDs are the kinds of forged service id a client could send to a
// daemon that serves the service served: random bytes, well-formed ids it
// does not serve, the served id with a stray byte, malformed UTF-8, and ids
// longer than any service id may be.
func ServiceIDs(served string) []ServiceID {
	return []ServiceID{
		{"random bytes", func(r *mrand.Rand, i int) string {
			b := make([]byte, 1+r.IntN(80))
			for j := range b {
				b[j] = byte(r.Uint32())
			}
			return string(b)
		}},
		{"well-formed, not served", func(r *mrand.Rand, i int) string {
			const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
			b := make([]byte, 1+r.IntN(types.MaxServiceIDLength))
			for j := range b {
				b[j] = alphabet[r.IntN(len(alphabet))]
			}
			if string(b) == served {
				return string(b) + "x"
			}
			return string(b)
		}},
		{"served id with a stray byte", func(r *mrand.Rand, i int) string {
			return served + string([]byte{0x80 + byte(r.IntN(0x80))})
		}},
		{"malformed UTF-8", func(r *mrand.Rand, i int) string {
			bad := []string{"\xc3\x28", "\xe2\x82", "\xf0\x28\x8c\xbc", "\xc0\xaf", "\xed\xa0\x80", "\xff\xfe"}
			return bad[r.IntN(len(bad))] + fmt.Sprint(i)
		}},
		{"too long", func(r *mrand.Rand, i int) string {
			return strings.Repeat("s", types.MaxServiceIDLength+1+r.IntN(2000))
		}},
	}
}
