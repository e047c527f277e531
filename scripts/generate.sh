#!/usr/bin/env bash
# Regenerates the Swift code for the apache.rocketmq.v2 protocol (Sources/SluiceWire) from
# proto/apache/rocketmq/v2/*.proto, and for the subset of etcd's v3 API that cluster coordination
# speaks (Sources/EtcdWire) from proto/etcd/{mvccpb,etcdserverpb}/*.proto. Run from the repository root. The output is committed;
# run this only when the .proto files or the plugin versions (codegen/Package.swift) change.
#
# Only protobuf/gRPC code is generated here (SQL migrations are not touched).
set -euo pipefail

if [[ ! -f Package.swift || ! -d proto/apache/rocketmq/v2 ]]; then
    echo "generate.sh: run me from the repository root" >&2
    exit 1
fi

PROTO_DIR=proto/apache/rocketmq/v2
PROTO_FILES=(definition.proto service.proto admin.proto)
OUT_DIR=Sources/SluiceWire
SCRATCH=.build-codegen
# Where libprotobuf-dev puts google/protobuf/{timestamp,duration}.proto.
PROTOBUF_INCLUDE=${PROTOBUF_INCLUDE:-/usr/include}

# 1. protoc and the well-known-type .proto files (Debian: protobuf-compiler + libprotobuf-dev).
if ! command -v protoc >/dev/null 2>&1 || [[ ! -f "$PROTOBUF_INCLUDE/google/protobuf/timestamp.proto" ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "generate.sh: protoc or $PROTOBUF_INCLUDE/google/protobuf/*.proto missing;" \
             "run as root or: apt-get install -y protobuf-compiler libprotobuf-dev" >&2
        exit 1
    fi
    apt-get update
    apt-get install -y protobuf-compiler libprotobuf-dev
fi
echo "using $(protoc --version)"

# 2. The plugins, built in release mode from the pinned helper package codegen/.
for product in protoc-gen-swift protoc-gen-grpc-swift-2; do
    swift build -c release --package-path codegen --scratch-path "$SCRATCH" --product "$product"
done
BIN=$(swift build -c release --package-path codegen --scratch-path "$SCRATCH" --show-bin-path)

# 3. Generate. The protos are compiled with their own folder as include root so that their
# descriptor file names (definition.proto, service.proto, admin.proto) and the import
# "definition.proto" are exactly those of the wire facts; the generated files land flat in
# Sources/SluiceWire (definition.pb.swift, service.pb.swift, service.grpc.swift, ...).
rm -f "$OUT_DIR"/*.pb.swift "$OUT_DIR"/*.grpc.swift
set -x
protoc \
    --plugin=protoc-gen-swift="$BIN/protoc-gen-swift" \
    --plugin=protoc-gen-grpc-swift-2="$BIN/protoc-gen-grpc-swift-2" \
    -I "$PROTO_DIR" \
    -I "$PROTOBUF_INCLUDE" \
    --swift_out="$OUT_DIR" \
    --swift_opt=Visibility=Public \
    --grpc-swift-2_out="$OUT_DIR" \
    --grpc-swift-2_opt=Visibility=Public \
    "${PROTO_FILES[@]}"
{ set +x; } 2>/dev/null

ls -l "$OUT_DIR"

# 4. etcd's v3 API (KV, Lease, Watch) for SluiceCluster. The include root is proto/etcd, so the
# import "mvccpb/kv.proto" resolves; DropPath puts the generated files flat in Sources/EtcdWire.
ETCD_PROTO_DIR=proto/etcd
ETCD_OUT_DIR=Sources/EtcdWire
mkdir -p "$ETCD_OUT_DIR"
rm -f "$ETCD_OUT_DIR"/*.pb.swift "$ETCD_OUT_DIR"/*.grpc.swift
set -x
protoc \
    --plugin=protoc-gen-swift="$BIN/protoc-gen-swift" \
    --plugin=protoc-gen-grpc-swift-2="$BIN/protoc-gen-grpc-swift-2" \
    -I "$ETCD_PROTO_DIR" \
    --swift_out="$ETCD_OUT_DIR" \
    --swift_opt=Visibility=Public,FileNaming=DropPath \
    --grpc-swift-2_out="$ETCD_OUT_DIR" \
    --grpc-swift-2_opt=Visibility=Public,FileNaming=DropPath,Server=false \
    mvccpb/kv.proto etcdserverpb/rpc.proto
{ set +x; } 2>/dev/null

ls -l "$ETCD_OUT_DIR"
