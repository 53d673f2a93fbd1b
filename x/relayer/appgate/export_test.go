package appgate

import (
	"maps"
	"slices"
)

// Codes are the refusal codes, each with its HTTP status.
func Codes() []string { return slices.Sorted(maps.Keys(statusOf)) }

// JSONRPCCodes are the refusals' JSON-RPC error codes by refusal code.
func JSONRPCCodes() map[string]int {
	out := map[string]int{}
	for c, e := range jsonRPCErrors {
		out[c] = e.code
	}
	return out
}
