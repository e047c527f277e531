// Intentionally empty: the codegen package exists only to build the protoc plugins
// (protoc-gen-swift, protoc-gen-grpc-swift-2) from its dependencies.
