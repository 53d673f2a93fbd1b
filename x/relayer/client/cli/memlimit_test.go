package cli

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"200MiB", 200 << 20, true},
		{"1GiB", 1 << 30, true},
		{"512KiB", 512 << 10, true},
		{"1048576", 1 << 20, true},
		{"4096B", 4096, true},
		{"2TiB", 2 << 40, true},
		{"off", math.MaxInt64, true},
		{"0", math.MaxInt64, true},
		{"", 0, false},
		{"200MB", 0, false},
		{"-1MiB", 0, false},
		{"0MiB", 0, false},
		{"1.5GiB", 0, false},
		{"9999999999TiB", 0, false},
	} {
		got, err := parseMemoryLimit(tc.in)
		if !tc.ok {
			require.Error(t, err, tc.in)
			require.Contains(t, err.Error(), "--memory-limit", "the error names the flag")
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
}
