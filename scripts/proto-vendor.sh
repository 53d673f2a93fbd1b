#!/usr/bin/env bash
# Copies the third-party .proto files our protos import from the Go module
# cache into third_party/proto, at the versions pinned in go.mod. The result is
# committed, so `make proto-gen` needs no Buf Schema Registry. Run this only
# when a pinned version changes (it downloads the modules if they are missing).
set -euo pipefail
cd "$(dirname "$0")/.."

dir() { go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'; }
ver() { go list -m -f '{{.Version}}' "$1"; }

sdk=$(dir "github.com/cosmos/cosmos-sdk@$(ver github.com/cosmos/cosmos-sdk)")
gogo=$(dir "github.com/cosmos/gogoproto@$(ver github.com/cosmos/gogoproto)")
cproto=$(dir "github.com/cosmos/cosmos-proto@$(ver github.com/cosmos/cosmos-proto)")

out=third_party/proto
rm -rf "$out"
copy() { mkdir -p "$out/$(dirname "$2")"; install -m 0644 "$1/$2" "$out/$2"; }

for f in amino/amino.proto \
	cosmos/app/v1alpha1/module.proto \
	cosmos/base/v1beta1/coin.proto \
	cosmos/base/query/v1beta1/pagination.proto \
	cosmos/msg/v1/msg.proto \
	cosmos/query/v1/query.proto; do
	copy "$sdk/proto" "$f"
done
copy "$gogo" gogoproto/gogo.proto
copy "$cproto/proto" cosmos_proto/cosmos.proto
echo "vendored into $out:"; find "$out" -name '*.proto' | sort
