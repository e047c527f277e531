import Foundation
import SluiceBroker
import SluiceTesting
import Testing

/// `sluice-broker --print-config` against the real binary: every setting can be given as a flag, an
/// environment variable and a config-file key, and all three print the same configuration.
@Suite("sluice-broker --print-config")
struct PrintConfigTests {
    static let token = "print-config-token-0123456789"

    /// A non-default value for every setting, as typed, and how `--print-config` shows it.
    static let samples: [String: (typed: String, printed: ConfigFileValue)] = [
        "data-dir": ("/var/lib/sluice-test", .string("/var/lib/sluice-test")),
        "grpc-host": ("0.0.0.0", .string("0.0.0.0")),
        "grpc-port": ("9101", .number(9101)),
        "admin-host": ("::1", .string("::1")),
        "admin-port": ("9102", .number(9102)),
        "flush": ("async", .string("async")),
        "flush-interval": ("200ms", .string("200ms")),
        "transaction-timeout": ("120s", .string("2m")),
        "transaction-check-interval": ("1h", .string("1h")),
        "transaction-check-max": ("7", .number(7)),
        "segment-size": ("67108864", .string("64MiB")),
        "retention-hours": ("12", .number(12)),
        "log-level": ("debug", .string("debug")),
        "admin-token": (token, .string(BrokerConfiguration.redactedToken)),
        "trace": ("off", .string("off")),
        "transaction-check-exhausted": ("rollback", .string("rollback")),
        "transaction-hold": ("0", .string("0s")),
        "transaction-end-flush": ("sync", .string("sync")),
        "auto-create-groups": ("off", .string("off")),
        "grpc-server": ("grpc-swift", .string("grpc-swift")),
        "grpc-max-connections": ("16", .number(16)),
        "grpc-max-concurrent-streams": ("64", .number(64)),
        "grpc-max-inflight-requests": ("128", .number(128)),
        "grpc-max-buffered-request-bytes": ("33554432", .string("32MiB")),
        "max-groups": ("500", .number(500)),
        "max-long-polls": ("300", .number(300)),
        "max-clients": ("200", .number(200)),
        "auth": ("on", .string("on")),
        "auth-max-clock-skew": ("10m", .string("10m")),
        "bootstrap-user-file": ("/etc/sluice/users.txt", .string("/etc/sluice/users.txt")),
        // The TLS paths must name readable files; their contents are read only when serving.
        "tls-cert": ("/etc/passwd", .string("/etc/passwd")),
        "tls-key": ("/etc/group", .string("/etc/group")),
        "tls-client-ca": ("/etc/passwd", .string("/etc/passwd")),
        "admin-tls-cert": ("/etc/passwd", .string("/etc/passwd")),
        "admin-tls-key": ("/etc/group", .string("/etc/group")),
        "etcd": ("http://127.0.0.1:2379,http://127.0.0.2:2379", .string("http://127.0.0.1:2379,http://127.0.0.2:2379")),
        "broker-group": ("orders-1", .string("orders-1")),
        "node-id": ("node_7.a", .string("node_7.a")),
        "advertise-host": ("broker-7.example.net", .string("broker-7.example.net")),
        "etcd-lease-ttl": ("1m", .string("60s")),
        "http-port": ("9103", .number(9103)),
        "replicas": ("3", .number(3)),
        "replication": ("async", .string("async")),
        "replication-timeout": ("2500ms", .string("2500ms")),
        "replication-port": ("9191", .number(9191)),
        "replication-secret-file": ("/etc/passwd", .string("/etc/passwd")),
        "replication-tls-cert": ("/etc/passwd", .string("/etc/passwd")),
        "replication-tls-key": ("/etc/group", .string("/etc/group")),
        "replication-tls-ca": ("/etc/passwd", .string("/etc/passwd")),
        "mqtt-port": ("1884", .number(1884)),
        "mqtt-max-packet-size": ("1MiB", .number(1 << 20)),
        "mqtt-max-inflight": ("64", .number(64)),
        "mqtt-max-queued": ("1000", .number(1000)),
    ]

    struct Printed {
        var status: Int32
        var object: [String: Any]
        var text: String
        var stderr: String
    }

    static func printConfig(_ arguments: [String], environment: [String: String] = [:]) async throws -> Printed {
        let broker = ChildProcess(
            executable: try BuildProducts.executable("sluice-broker"), arguments: arguments + ["--print-config"],
            environment: environment)
        try broker.start()
        let status = await broker.waitForExit(timeout: RunningBroker.exitTimeout)
        let text = broker.outputLines.joined(separator: "\n")
        let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
        return Printed(status: status, object: object, text: text, stderr: broker.standardErrorText)
    }

    static func expectPrintedSamples(_ printed: Printed, _ how: String) {
        #expect(printed.status == 0, "\(how): stderr \(printed.stderr)")
        #expect(!printed.text.contains(token), "\(how): the token was printed")
        for (key, sample) in samples {
            let value = printed.object[key]
            let matches: Bool =
                switch sample.printed {
                case .number(let number): (value as? Int) == number
                case .string(let text): (value as? String) == text
                case .null: value is NSNull
                }
            #expect(matches, "\(how): \(key) printed as \(String(describing: value)); expected \(sample.printed)")
        }
    }

    @Test("the samples cover every setting, so a new flag without a variable or key fails here")
    func samplesCoverEverySetting() {
        #expect(Set(Self.samples.keys) == Set(BrokerSetting.allCases.map(\.key)))
    }

    @Test("defaults print as documented, exit 0, and touch no data folder")
    func defaults() async throws {
        try await withTemporaryDirectory { directory in
            let printed = try await Self.printConfig(["--data-dir", directory + "/data"])
            #expect(printed.status == 0, "stderr: \(printed.stderr)")
            #expect(printed.object["grpc-port"] as? Int == 8081)
            #expect(printed.object["admin-port"] as? Int == 8082)
            #expect(printed.object["flush"] as? String == "sync")
            #expect(printed.object["transaction-timeout"] as? String == "6s")
            #expect(printed.object["trace"] as? String == "on")
            #expect(printed.object["admin-token"] is NSNull)
            #expect(printed.object.count == BrokerSetting.allCases.count, "\(printed.text)")
            #expect(!FileManager.default.fileExists(atPath: directory + "/data"))
        }
    }

    @Test("every setting given as flags, as SLUICE_* variables and as a config file prints the same")
    func everySource() async throws {
        let flags = Self.samples.flatMap { ["--" + $0.key, $0.value.typed] }
        Self.expectPrintedSamples(try await Self.printConfig(flags), "flags")

        let environment = Dictionary(uniqueKeysWithValues: BrokerSetting.allCases.map {
            ($0.environmentVariable, Self.samples[$0.key]!.typed)
        })
        Self.expectPrintedSamples(try await Self.printConfig([], environment: environment), "environment")

        try await withTemporaryDirectory { directory in
            let file = directory + "/broker.json"
            let object = Self.samples.mapValues { $0.typed }
            try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: file))
            Self.expectPrintedSamples(try await Self.printConfig(["--config", file]), "config file")
            Self.expectPrintedSamples(
                try await Self.printConfig([], environment: ["SLUICE_CONFIG": file]), "SLUICE_CONFIG")
        }
    }

    @Test("flags beat the environment, which beats the file")
    func precedence() async throws {
        try await withTemporaryDirectory { directory in
            let file = directory + "/broker.json"
            try Data(#"{"grpc-port": 9001, "admin-port": 9002, "flush": "async"}"#.utf8)
                .write(to: URL(fileURLWithPath: file))
            let printed = try await Self.printConfig(
                ["--config", file, "--admin-port", "9202"], environment: ["SLUICE_GRPC_PORT": "9101", "SLUICE_ADMIN_PORT": "9102"])
            #expect(printed.status == 0, "stderr: \(printed.stderr)")
            #expect(printed.object["grpc-port"] as? Int == 9101)
            #expect(printed.object["admin-port"] as? Int == 9202)
            #expect(printed.object["flush"] as? String == "async")
        }
    }

    @Test("a bad setting still fails with status 64 instead of printing")
    func badSettingFails() async throws {
        let printed = try await Self.printConfig(["--admin-host", "0.0.0.0"])
        #expect(printed.status == 64)
        #expect(printed.stderr.contains("admin-token") || printed.stderr.contains("SLUICE_ADMIN_TOKEN"), "\(printed.stderr)")
        #expect(printed.object.isEmpty)
    }
}
