// swift-tools-version: 6.1
// Helper package that only exists to build the protoc plugins used by scripts/generate.sh:
//   swift build -c release --package-path codegen --scratch-path .build-codegen --product protoc-gen-swift
//   swift build -c release --package-path codegen --scratch-path .build-codegen --product protoc-gen-grpc-swift-2
// The versions are pinned to the ones the main package uses at runtime, so the generated code
// matches the SwiftProtobuf / GRPCCore / GRPCProtobuf libraries it is compiled against.
import PackageDescription

let package = Package(
    name: "SluiceCodegen",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0", traits: []),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
        // Not used directly: pins GRPCCodeGen (which lives in grpc-swift-2) to the main package's version.
        .package(url: "https://github.com/grpc/grpc-swift-2.git", exact: "2.4.3"),
    ],
    targets: [
        // SwiftPM wants at least one target; this one is empty on purpose.
        .target(name: "CodegenTools", path: "Sources/CodegenTools"),
    ]
)
