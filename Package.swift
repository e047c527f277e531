// swift-tools-version: 6.1
// Sluice: a transactional message broker that speaks the Apache RocketMQ 5 gRPC protocol.
// Layering (a lower layer never imports a higher one):
//   CSluiceShims, CSQLite -> SluiceStorage, SluiceTransactions -> SluiceBroker -> SluiceProtocol/SluiceAdmin -> executables
//   EtcdWire -> SluiceCluster (etcd coordination) -> sluice-broker; nothing else imports it.
//   SluiceHTTPWire -> SluiceHTTPAccess (on SluiceProtocol's MessagingService) -> sluice-broker.
//   SluiceMQTTWire -> SluiceMQTTAccess (on SluiceProtocol's MessagingService) -> sluice-broker.
//   SluiceStorage -> SluiceReplication (log copying between a group's brokers) -> sluice-broker.
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Sluice",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sluice-broker", targets: ["sluice-broker"]),
        .executable(name: "sluice", targets: ["sluice"]),
        .executable(name: "sluice-bench", targets: ["sluice-bench"]),
        .executable(name: "sluice-client-example", targets: ["sluice-client-example"]),
        .executable(name: "sluice-fuzz-storage", targets: ["sluice-fuzz-storage"]),
        // Test-only: preloaded into child processes to record what a power loss would leave.
        .library(name: "SluicePowerLoss", type: .dynamic, targets: ["CSluicePowerLoss"]),
        // Benchmark-only: preloaded to count heap allocations per message.
        .library(name: "SluiceMallocCount", type: .dynamic, targets: ["CSluiceMallocCount"]),
        // The Swift client SDK (RocketMQ 5 gRPC): producers, transaction producer, consumers.
        .library(name: "SluiceClient", targets: ["SluiceClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-http-types.git", exact: "1.8.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", exact: "0.2.0"),
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0", traits: []),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", exact: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", exact: "2.9.2"),
        .package(url: "https://github.com/apple/swift-collections.git", exact: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
        // TLS (gRPC and admin ports, the CLI's HTTPS); already pinned transitively in Package.resolved.
        // Sluice's own gRPC server (SluiceFront); already pinned transitively in Package.resolved.
        .package(url: "https://github.com/apple/swift-nio-http2.git", exact: "1.46.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", exact: "1.35.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", exact: "1.37.0"),
    ],
    targets: [
        // MARK: system and C layers
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(name: "CSluiceShims"),
        // Test-only LD_PRELOAD library: records files and folders as of their last sync.
        .target(name: "CSluicePowerLoss"),
        // Benchmark-only LD_PRELOAD library: counts malloc/calloc/realloc calls.
        .target(name: "CSluiceMallocCount"),

        // MARK: storage: the commit log, its segments, indexes and the group-committing writer
        .target(
            name: "SluiceStorage",
            dependencies: [
                "CSluiceShims",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: transactions: the SQLite half-message table, state machine, checker
        .target(
            name: "SluiceTransactions",
            dependencies: [
                "CSQLite",
                "CSluiceShims",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: the broker: composes storage and transactions
        .target(
            name: "SluiceBroker",
            dependencies: [
                "SluiceStorage",
                "SluiceTransactions",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: generated apache.rocketmq.v2 code (committed; `make generate` redoes it)
        .target(
            name: "SluiceWire",
            dependencies: [
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            ],
            exclude: ["README.md"]
        ),

        // MARK: generated etcd v3 API subset, etcdserverpb and mvccpb (committed; `make generate` redoes it)
        .target(
            name: "EtcdWire",
            dependencies: [
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            ],
            exclude: ["README.md"]
        ),

        // MARK: cluster coordination over etcd: registration, elections with epochs, routes, check ownership.
        // Off the message path: only the broker executable and the tests import it.
        .target(
            name: "SluiceCluster",
            dependencies: [
                "EtcdWire",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: log replication within a broker group (issue 15): leader/follower over a TCP port of
        // its own, epochs, divergence truncation, sync acknowledgements. Below the broker: it sees
        // only the commit log; the executable wires it to the election in SluiceCluster.
        .target(
            name: "SluiceReplication",
            dependencies: [
                "SluiceStorage",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: the RocketMQ 5 gRPC front: MessagingService, client sessions, check-backs over Telemetry
        .target(
            name: "SluiceProtocol",
            dependencies: [
                "SluiceBroker",
                "SluiceStorage",
                "SluiceTransactions",
                "SluiceWire",
                "CSluiceShims",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: Sluice's own gRPC server: HTTP/2 from swift-nio-http2, gRPC framing and dispatch onto MessagingService
        .target(
            name: "SluiceFront",
            dependencies: [
                "SluiceProtocol",
                "SluiceBroker",
                "SluiceWire",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: the RocketMQ HTTP protocol's documents: a bounded XML reader/writer, bodies, the request signature
        .target(
            name: "SluiceHTTPWire",
            swiftSettings: strictSettings
        ),

        // MARK: the RocketMQ HTTP access front (`--http-port`, mq-http-sdk): Hummingbird onto MessagingService
        .target(
            name: "SluiceHTTPAccess",
            dependencies: [
                "SluiceHTTPWire",
                "SluiceProtocol",
                "SluiceBroker",
                "SluiceStorage",
                "SluiceTransactions",
                "SluiceWire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: MQTT 3.1.1 packets: a pure, bounded codec (no NIO, no broker)
        .target(
            name: "SluiceMQTTWire",
            swiftSettings: strictSettings
        ),

        // MARK: the MQTT access front (`--mqtt-port`): swift-nio framing onto MessagingService
        .target(
            name: "SluiceMQTTAccess",
            dependencies: [
                "SluiceMQTTWire",
                "SluiceProtocol",
                "SluiceBroker",
                "SluiceStorage",
                "SluiceWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: the Swift client SDK; speaks only the wire protocol, never imports the broker
        .target(
            name: "SluiceClient",
            dependencies: [
                "SluiceWire",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: admin HTTP API (health, readiness, metrics)
        .target(
            name: "SluiceAdmin",
            dependencies: [
                "SluiceBroker",
                "SluiceStorage",
                "SluiceTransactions",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: test support: temp dirs, child broker processes, file damagers
        .target(
            name: "SluiceTesting",
            dependencies: [
                "CSluiceShims",
                "SluiceStorage",
                "SluiceTransactions",
                "SluiceBroker",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: the structured protocol fuzzer (issue 11): `swift test` runs it bounded, `make fuzz` long
        .target(
            name: "SluiceFuzz",
            dependencies: [
                "SluiceTesting",
                "SluiceWire",
                "SluiceReplication",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: executables
        .executableTarget(
            name: "sluice-broker",
            dependencies: [
                "SluiceBroker",
                "SluiceAdmin",
                "SluiceProtocol",
                "SluiceTransactions",
                "SluiceFront",
                "SluiceCluster",
                "SluiceHTTPAccess",
                "SluiceMQTTAccess",
                "SluiceReplication",
                "SluiceStorage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCertificateReloading", package: "swift-nio-extras"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "sluice",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // Only for https:// admin URLs (FoundationNetworking on Linux cannot trust a CA file).
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // libFuzzer harness for the record decoder, the recovery scanner and the MQTT packet decoder.
        // A plain build replays its committed corpus; `make fuzz-libfuzzer` builds it with
        // -sanitize=fuzzer in .build-fuzz.
        .executableTarget(
            name: "sluice-fuzz-storage",
            dependencies: ["SluiceStorage", "SluiceMQTTWire", "SluiceHTTPWire"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "sluice-bench",
            dependencies: [
                "SluiceClient",
                "SluiceFuzz",
                "SluiceStorage",
                "SluiceTransactions",
                "SluiceBroker",
                "SluiceTesting",
                "SluiceWire",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),

        .executableTarget(
            name: "sluice-client-example",
            dependencies: [
                "SluiceClient",
                "CSQLite",  // the order-service example keeps its own state in SQLite
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: tests
        .testTarget(
            name: "SluiceHTTPAccessTests",
            dependencies: [
                "SluiceHTTPWire", "SluiceHTTPAccess", "SluiceBroker", "SluiceTransactions",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SluiceMQTTWireTests",
            dependencies: ["SluiceMQTTWire"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SluiceMQTTAccessTests",
            dependencies: [
                "SluiceMQTTAccess", "SluiceMQTTWire", "SluiceWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SluiceReplicationTests",
            dependencies: ["SluiceReplication", "SluiceStorage", "SluiceTesting"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SluiceStorageTests",
            dependencies: ["SluiceStorage", "SluiceTesting"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SluiceTransactionsTests",
            dependencies: ["SluiceTransactions", "SluiceTesting"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SluiceBrokerTests",
            dependencies: [
                "SluiceBroker",
                "SluiceStorage",
                "SluiceTransactions",
                "SluiceTesting",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SluiceFrontTests",
            dependencies: [
                "SluiceFront", "SluiceWire",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SluiceProtocolTests",
            dependencies: [
                "SluiceProtocol", "SluiceBroker", "SluiceStorage", "SluiceTransactions", "SluiceWire", "SluiceTesting",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SluiceAdminTests",
            dependencies: [
                "SluiceAdmin", "SluiceBroker", "SluiceStorage", "SluiceTransactions", "SluiceTesting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SluiceClusterTests",
            dependencies: [
                "SluiceCluster", "SluiceTesting", "SluiceClient", "SluiceWire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "SluiceFuzz", "SluiceTesting", "SluiceStorage", "SluiceTransactions", "SluiceBroker", "SluiceWire", "SluiceClient",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
    ]
)
