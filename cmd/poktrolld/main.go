// Command poktrolld is the poktroll chain daemon and its RelayMiner.
package main

import (
	"fmt"
	"os"

	svrcmd "github.com/cosmos/cosmos-sdk/server/cmd"

	"github.com/pokt-network/poktroll/app"
	"github.com/pokt-network/poktroll/cmd/poktrolld/cmd"
)

func main() {
	if err := svrcmd.Execute(cmd.NewRootCmd(), "POKTROLLD", app.DefaultNodeHome); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
