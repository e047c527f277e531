import Foundation
import SluiceTesting
import Testing

@Suite("Configuration errors")
struct ConfigurationErrorTests {
    struct BadSetting: Sendable, CustomTestStringConvertible {
        var arguments: [String]
        var environment: [String: String] = [:]
        /// Text the error must contain: the flag or variable to fix.
        var names: String
        var testDescription: String { "\(arguments) \(environment)" }
    }

    static let badSettings: [BadSetting] = [
        BadSetting(arguments: ["--flush", "sometimes"], names: "--flush"),
        BadSetting(arguments: ["--transaction-timeout", "5 parsecs"], names: "--transaction-timeout"),
        BadSetting(arguments: ["--transaction-timeout", "5", "parsecs"], names: "--transaction-timeout"),
        BadSetting(arguments: ["--transaction-timeout", "5"], names: "--transaction-timeout"),
        BadSetting(arguments: ["--transaction-check-interval", "0s"], names: "--transaction-check-interval"),
        BadSetting(arguments: ["--transaction-check-max", "many"], names: "--transaction-check-max"),
        BadSetting(arguments: ["--segment-size", "64MB"], names: "--segment-size"),
        BadSetting(arguments: ["--admin-host", "not-an-address"], names: "--admin-host"),
        BadSetting(arguments: ["--grpc-port", "70000"], names: "--grpc-port"),
        BadSetting(arguments: [], environment: ["SLUICE_FLUSH": "sometimes"], names: "SLUICE_FLUSH"),
        BadSetting(arguments: ["--etcd", "https://127.0.0.1:2379"], names: "--etcd"),
        BadSetting(arguments: ["--etcd", "http://127.0.0.1"], names: "--etcd"),
        BadSetting(arguments: ["--etcd", "http://a:1,,http://b:2"], names: "--etcd"),
        BadSetting(arguments: ["--broker-group", "a/b"], names: "--broker-group"),
        BadSetting(arguments: ["--node-id", String(repeating: "n", count: 65)], names: "--node-id"),
        BadSetting(arguments: ["--advertise-host", "two words"], names: "--advertise-host"),
        BadSetting(arguments: ["--etcd-lease-ttl", "1s"], names: "--etcd-lease-ttl"),
        BadSetting(arguments: ["--etcd-lease-ttl", "2500ms"], names: "--etcd-lease-ttl"),
        BadSetting(arguments: ["--replicas", "0"], names: "--replicas"),
        BadSetting(arguments: ["--replicas", "8"], names: "--replicas"),
        BadSetting(arguments: ["--replicas", "3"], names: "--replicas"),  // without --etcd
        BadSetting(arguments: ["--replication", "quorum"], names: "--replication"),
        BadSetting(arguments: ["--replication-timeout", "50ms"], names: "--replication-timeout"),
        BadSetting(arguments: ["--replication-port", "70000"], names: "--replication-port"),
        BadSetting(arguments: ["--mqtt-port", "70000"], names: "--mqtt-port"),
        BadSetting(arguments: ["--mqtt-port", "9100", "--grpc-port", "9100"], names: "--mqtt-port"),
        BadSetting(arguments: [], environment: ["SLUICE_MQTT_PORT": "one"], names: "SLUICE_MQTT_PORT"),
    ]

    @Test("a bad value exits non-zero with a message naming the setting", arguments: badSettings)
    func badValueIsRejected(_ bad: BadSetting) async throws {
        try await withTemporaryDirectory { directory in
            let broker = ChildProcess(
                executable: try BuildProducts.executable("sluice-broker"),
                arguments: ["--data-dir", directory + "/data"] + bad.arguments, environment: bad.environment)
            try broker.start()
            let status = await broker.waitForExit(timeout: RunningBroker.exitTimeout)

            #expect(status != 0)
            #expect(broker.standardErrorText.contains(bad.names), "stderr: \(broker.standardErrorText)")
            #expect(broker.outputLines.allSatisfy { !$0.contains("listening") })
            // Refused before touching storage.
            #expect(!FileManager.default.fileExists(atPath: directory + "/data"))
        }
    }

    @Test("a config file with an unknown key is refused, naming the file and the key")
    func unknownConfigKey() async throws {
        try await withTemporaryDirectory { directory in
            let file = directory + "/broker.json"
            try Data(#"{"grpc-prot": 9000}"#.utf8).write(to: URL(fileURLWithPath: file))
            let broker = ChildProcess(
                executable: try BuildProducts.executable("sluice-broker"),
                arguments: ["--data-dir", directory + "/data", "--config", file])
            try broker.start()

            #expect(await broker.waitForExit(timeout: RunningBroker.exitTimeout) != 0)
            #expect(broker.standardErrorText.contains("unknown key 'grpc-prot'"), "stderr: \(broker.standardErrorText)")
            #expect(broker.standardErrorText.contains(file))
        }
    }

    @Test("flags override the environment, which overrides the config file")
    func precedence() async throws {
        try await withTemporaryDirectory { directory in
            let (fileGRPC, envGRPC, fileAdmin, flagAdmin) =
                (try FreePort.next(), try FreePort.next(), try FreePort.next(), try FreePort.next())
            let file = directory + "/broker.json"
            let json = #"{"grpc-port": \#(fileGRPC), "admin-port": "\#(fileAdmin)", "segment-size": "1MiB"}"#
            try Data(json.utf8).write(to: URL(fileURLWithPath: file))
            let broker = ChildProcess(
                executable: try BuildProducts.executable("sluice-broker"),
                arguments: ["--data-dir", directory + "/data", "--config", file, "--admin-port", "\(flagAdmin)"],
                environment: ["SLUICE_GRPC_PORT": "\(envGRPC)", "SLUICE_ADMIN_PORT": "\(fileAdmin)"])
            try broker.start()
            let expected = RunningBroker.endpointLines(grpcPort: envGRPC, adminPort: flagAdmin)
            let started = await broker.waitForOutput(timeout: RunningBroker.startupTimeout) { lines in
                expected.allSatisfy(lines.contains)
            }
            await broker.killHard()
            #expect(started, "stdout: \(broker.outputLines); stderr: \(broker.standardErrorText)")
        }
    }
}
