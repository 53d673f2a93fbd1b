#!/usr/bin/env bash
# Regenerates the committed protobuf code from proto/ without any network
# access beyond the Go module proxy (for the pinned generators in tools/):
#   x/relayer/types/*.pb.go      gogoproto types (plugin protoc-gen-gocosmos)
#   api/poktroll/relayer/...     protov2 "pulsar" types and gRPC stubs
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export GOBIN="$root/bin"
export PATH="$GOBIN:$PATH"
(cd tools && go install github.com/bufbuild/buf/cmd/buf \
	github.com/cosmos/cosmos-proto/cmd/protoc-gen-go-pulsar \
	github.com/cosmos/gogoproto/protoc-gen-gocosmos \
	google.golang.org/grpc/cmd/protoc-gen-go-grpc)

rm -rf .gen
buf generate --template buf.gen.gogo.yaml --path proto/poktroll/relayer \
	--exclude-path proto/poktroll/relayer/module
buf generate --template buf.gen.pulsar.yaml --path proto/poktroll

rm -f x/relayer/types/*.pb.go
mkdir -p x/relayer/types
cp .gen/gogo/github.com/pokt-network/poktroll/x/relayer/types/*.pb.go x/relayer/types/
rm -rf api
mkdir -p api
cp -r .gen/pulsar/poktroll api/
rm -rf .gen
echo "generated x/relayer/types and api/"
