//go:build tools

// Package tools pins the code generators `make proto-gen` runs, so that a
// clean checkout installs exactly these versions from the Go module proxy.
package tools

import (
	_ "github.com/bufbuild/buf/cmd/buf"
	_ "github.com/cosmos/cosmos-proto/cmd/protoc-gen-go-pulsar"
	_ "github.com/cosmos/gogoproto/protoc-gen-gocosmos"
	_ "google.golang.org/grpc/cmd/protoc-gen-go-grpc"
)
