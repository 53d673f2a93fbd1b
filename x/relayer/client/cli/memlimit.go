package cli

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"cosmossdk.io/log"
)

const (
	flagMemoryLimit = "memory-limit"
	// defaultMemoryLimit is the RelayMiner's soft memory limit. What it holds
	// live is bounded by configuration (leveldb's memtables, block cache and
	// buffers, about 110 MiB, plus connections in flight); the rest of its
	// heap is garbage from the relay path (about 20 KiB a relay). With no
	// limit the Go runtime lets that garbage grow the heap to twice what is
	// live and more while a claim trie is built: `make soak` measured a
	// 1,000,000-relay session at 517 MiB RSS without a limit and 264 MiB
	// with this one, the GC's share of the CPU under 0.5% in both.
	defaultMemoryLimit = "200MiB"
)

// parseMemoryLimit reads a size as GOMEMLIMIT writes it: a number of bytes
// with an optional unit B, KiB, MiB, GiB or TiB. "0" and "off" mean no limit
// (math.MaxInt64, the runtime's own "no limit").
func parseMemoryLimit(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return math.MaxInt64, nil
	}
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	num, shift := s, uint(0)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num, shift = strings.TrimSuffix(s, u.suffix), u.shift
			break
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n == 0 || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("--%s %q: want a size such as 200MiB or 1GiB, or off", flagMemoryLimit, s)
	}
	return int64(n << shift), nil
}

// applyMemoryLimit sets the process's soft memory limit from the flag's
// value, unless GOMEMLIMIT is set in the environment: that one wins, as the
// operator set it for this process.
func applyMemoryLimit(value string, logger log.Logger) error {
	if env := os.Getenv("GOMEMLIMIT"); env != "" {
		logger.Info("memory limit from GOMEMLIMIT", "limit", env)
		return nil
	}
	limit, err := parseMemoryLimit(value)
	if err != nil {
		return err
	}
	debug.SetMemoryLimit(limit)
	if limit != math.MaxInt64 {
		logger.Info("soft memory limit set", "limit", value)
	}
	return nil
}
