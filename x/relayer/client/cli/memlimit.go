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

const flagMemoryLimit = "memory-limit"

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
