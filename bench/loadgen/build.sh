#!/usr/bin/env bash
# Builds bench/loadgen/bin/sluiceload from Debian's Go packages only (no module proxy is reachable):
# GO111MODULE=off with a GOPATH of this folder plus /usr/share/gocode, where golang-google-grpc-dev,
# golang-goprotobuf-dev, golang-github-rabbitmq-amqp091-go-dev, golang-github-lib-pq-dev and
# golang-github-nats-io-go-nats-dev put their sources.
#
# The Go code for apache.rocketmq.v2 is generated at build time from the project's own proto/
# files into src/rmqpb (gitignored). Debian's protoc-gen-go is golang/protobuf 1.3.5, the runtime
# Debian's grpc-go 1.33 is built against; it predates proto3 `optional`, so each
# `optional T name = N;` is rewritten as `oneof _name { T name = N; }` first — exactly what protoc
# does for proto3 optional internally (a synthetic one-field oneof), so the wire format and field
# presence are unchanged. The well-known types map to golang/protobuf 1.3.5's own ptypes (Debian's
# plugin would otherwise name google.golang.org/protobuf's, which the 1.3.5 runtime cannot decode).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/src/rmqpb"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rm -rf "$out" && mkdir -p "$out" "$work/proto" "$here/bin"
for f in definition service; do
  sed -E 's/^([[:space:]]*)optional[[:space:]]+([A-Za-z0-9_.]+)[[:space:]]+([A-Za-z0-9_]+)[[:space:]]*=[[:space:]]*([0-9]+)[[:space:]]*;/\1oneof _\3 { \2 \3 = \4; }/' \
    "$root/proto/apache/rocketmq/v2/$f.proto" > "$work/proto/$f.proto"
done
protoc -I "$work/proto" -I /usr/include \
  --go_out=plugins=grpc,Mdefinition.proto=rmqpb,Mservice.proto=rmqpb,Mgoogle/protobuf/duration.proto=github.com/golang/protobuf/ptypes/duration,Mgoogle/protobuf/timestamp.proto=github.com/golang/protobuf/ptypes/timestamp:"$out" definition.proto service.proto
cd "$here/src/sluiceload"
GO111MODULE=off GOPATH="$here:/usr/share/gocode" GOFLAGS= go build -o "$here/bin/sluiceload" .
echo "built $here/bin/sluiceload"
if [ "${1:-}" = test ]; then
  GO111MODULE=off GOPATH="$here:/usr/share/gocode" GOFLAGS= go test -count=1 .
fi
