package appgate_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAppGateLinksNoRelayMinerInternals keeps the dependency rule of the
// off-chain client layer: the AppGate (and every package below it) links no
// RelayMiner package and no SMT, and none of our packages imports leveldb.
// leveldb itself is still linked: the Cosmos SDK's types import its store
// types, which import cosmos-db and so goleveldb; the test checks that only
// third-party packages are the ones importing it.
func TestAppGateLinksNoRelayMinerInternals(t *testing.T) {
	const module = "github.com/pokt-network/poktroll"
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}:{{range .Imports}} {{.}}{{end}}",
		module+"/x/relayer/appgate/...").CombinedOutput()
	require.NoError(t, err, "go list: %s", out)

	imports := map[string][]string{} // package -> what it imports
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ":")
		imports[pkg] = strings.Fields(deps)
	}
	require.Contains(t, imports, module+"/x/relayer/appgate", "go list did not list the AppGate")

	for pkg, deps := range imports {
		require.False(t, strings.HasPrefix(pkg, module+"/x/relayer/relayminer"), "the AppGate links %s", pkg)
		require.False(t, strings.HasPrefix(pkg, "github.com/pokt-network/smt"), "the AppGate links %s", pkg)
		if !strings.HasPrefix(pkg, module+"/") {
			continue
		}
		for _, d := range deps {
			require.False(t, strings.HasPrefix(d, "github.com/syndtr/goleveldb"), "%s imports %s", pkg, d)
		}
	}
}
