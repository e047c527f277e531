import Foundation
import SluiceBroker
import SluiceStorage
import SluiceTesting
import Testing

@Suite("BrokerConfiguration")
struct BrokerConfigurationTests {
    @Test("defaults match the documented interface")
    func defaults() throws {
        let configuration = try BrokerConfiguration.resolve(flags: [:], configPath: nil, environment: [:])
        #expect(configuration.dataDirectory == "./data")
        #expect(configuration.grpcHost == "127.0.0.1" && configuration.grpcPort == 8081)
        #expect(configuration.adminHost == "127.0.0.1" && configuration.adminPort == 8082)
        #expect(configuration.flushPolicy == .sync)
        #expect(configuration.transactionTimeout == .seconds(6))
        #expect(configuration.transactionCheckInterval == .seconds(30))
        #expect(configuration.transactionCheckMax == 15)
        #expect(configuration.segmentSizeBytes == 1 << 30)
    }

    @Test("async flush uses the flush interval")
    func asyncFlush() throws {
        let configuration = try BrokerConfiguration.resolve(
            flags: [.flush: "async", .flushInterval: "20ms"], configPath: nil, environment: [:])
        #expect(configuration.flushPolicy == .async(interval: .milliseconds(20)))
        #expect(configuration.commitLogConfiguration.flush == .async(interval: .milliseconds(20)))
    }

    @Test("flags beat the environment, which beats the config file")
    func precedence() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/broker.json"
            let json = #"{"grpc-port": 1001, "admin-port": 1002, "data-dir": "/from/file", "segment-size": "64MiB"}"#
            try Data(json.utf8).write(to: URL(fileURLWithPath: path))
            let configuration = try BrokerConfiguration.resolve(
                flags: [.adminPort: "3002"], configPath: path,
                environment: ["SLUICE_GRPC_PORT": "2001", "SLUICE_ADMIN_PORT": "2002"])
            #expect(configuration.dataDirectory == "/from/file")
            #expect(configuration.segmentSizeBytes == 64 << 20)
            #expect(configuration.grpcPort == 2001)
            #expect(configuration.adminPort == 3002)
        }
    }

    @Test("SLUICE_CONFIG names the file when --config is absent")
    func configFromEnvironment() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/broker.json"
            try Data(#"{"transaction-check-max": 3}"#.utf8).write(to: URL(fileURLWithPath: path))
            let configuration = try BrokerConfiguration.resolve(
                flags: [:], configPath: nil, environment: ["SLUICE_CONFIG": path])
            #expect(configuration.transactionCheckMax == 3)
        }
    }

    @Test("an error names the setting as the operator wrote it", arguments: [
        (BrokerSetting.flush, "sometimes", SettingSource.flag, "--flush"),
        (.transactionTimeout, "5 parsecs", .environment, "SLUICE_TRANSACTION_TIMEOUT"),
        (.segmentSize, "1KiB", .configFile(path: "/etc/sluice.json"), "segment-size in config file /etc/sluice.json"),
        (.grpcHost, "localhost", .flag, "--grpc-host"),
        (.transactionCheckMax, "0", .flag, "--transaction-check-max"),
        (.logLevel, "loud", .flag, "--log-level"),
        (.transactionHold, "6s", .flag, "--transaction-hold"),
        (.transactionEndFlush, "later", .environment, "SLUICE_TRANSACTION_END_FLUSH"),
    ])
    func invalidValue(_ setting: BrokerSetting, _ value: String, _ source: SettingSource, _ named: String) {
        var configuration = BrokerConfiguration()
        let error = #expect(throws: BrokerError.self) { try configuration.apply(setting, value, from: source) }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.hasPrefix(named + ": ") == true, "\(String(describing: error))")
    }

    @Test("the same address for gRPC and admin is refused")
    func samePorts() {
        #expect(throws: BrokerError.self) {
            try BrokerConfiguration.resolve(
                flags: [.grpcPort: "9000", .adminPort: "9000"], configPath: nil, environment: [:])
        }
    }

    @Test("every setting has a flag, a config key and an environment variable", arguments: BrokerSetting.allCases)
    func namesAreConsistent(_ setting: BrokerSetting) {
        #expect(setting.flag == "--" + setting.key)
        #expect(setting.environmentVariable.hasPrefix("SLUICE_"))
        #expect(!setting.environmentVariable.contains("-"))
        #expect(!setting.help.isEmpty)
    }
}

@Suite("BrokerConfiguration: admin token, trace and printing")
struct BrokerConfigurationAccessTests {
    static let token = "0123456789abcdef0123"

    @Test("loopback addresses are told apart from every-interface and remote ones", arguments: [
        ("127.0.0.1", true), ("127.9.8.7", true), ("::1", true), ("::ffff:127.0.0.1", true),
        ("0.0.0.0", false), ("::", false), ("10.0.0.1", false), ("192.168.1.20", false), ("::2", false),
        ("fe80::1", false),
    ])
    func loopback(_ address: String, _ isLoopback: Bool) {
        #expect(BrokerConfiguration.isLoopbackAddress(address) == isLoopback)
    }

    @Test("a non-loopback admin address without a token is refused, naming how to set one")
    func tokenRequiredOffLoopback() {
        let error = #expect(throws: BrokerError.self) {
            try BrokerConfiguration.resolve(flags: [.adminHost: "0.0.0.0"], configPath: nil, environment: [:])
        }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains("SLUICE_ADMIN_TOKEN") == true, "\(String(describing: error))")
        let configured = try? BrokerConfiguration.resolve(
            flags: [.adminHost: "0.0.0.0"], configPath: nil, environment: ["SLUICE_ADMIN_TOKEN": Self.token])
        #expect(configured?.adminToken == Self.token)
    }

    @Test("a short or spaced token is refused without echoing it", arguments: ["short", "0123456789 abcdef0123"])
    func badToken(_ token: String) {
        var configuration = BrokerConfiguration()
        let error = #expect(throws: BrokerError.self) { try configuration.apply(.adminToken, token, from: .flag) }
        #expect(error?.message.hasPrefix("--admin-token: ") == true)
        #expect(error?.message.contains(token) == false)
    }

    @Test("trace is on by default and takes on or off")
    func trace() throws {
        #expect(try BrokerConfiguration.resolve(flags: [:], configPath: nil, environment: [:]).traceEnabled)
        #expect(try !BrokerConfiguration.resolve(flags: [.trace: "off"], configPath: nil, environment: [:]).traceEnabled)
        var configuration = BrokerConfiguration()
        #expect(throws: BrokerError.self) { try configuration.apply(.trace, "yes", from: .flag) }
    }

    @Test("a config file may use booleans for trace and null for an unset value")
    func booleansAndNull() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/broker.json"
            try Data(#"{"trace": false, "admin-token": null, "transaction-check-max": 1}"#.utf8)
                .write(to: URL(fileURLWithPath: path))
            let configuration = try BrokerConfiguration.resolve(flags: [:], configPath: path, environment: [:])
            #expect(!configuration.traceEnabled)
            #expect(configuration.adminToken == nil)
            #expect(configuration.transactionCheckMax == 1)
        }
    }

    @Test("the printed configuration read back as a config file is the same configuration")
    func printRoundTrips() async throws {
        try await withTemporaryDirectory { directory in
            var original = BrokerConfiguration()
            for (setting, value) in [
                (BrokerSetting.flush, "async"), (.flushInterval, "250ms"), (.segmentSize, "64MiB"),
                (.transactionTimeout, "2m"), (.retentionHours, "5"), (.trace, "off"), (.logLevel, "debug"),
            ] {
                try original.apply(setting, value, from: .flag)
            }
            let path = directory + "/printed.json"
            try Data(original.printableJSON.utf8).write(to: URL(fileURLWithPath: path))
            let reread = try BrokerConfiguration.resolve(flags: [:], configPath: path, environment: [:])
            #expect(reread == original)
        }
    }

    @Test("the token is never printed")
    func tokenRedacted() throws {
        var configuration = BrokerConfiguration()
        try configuration.apply(.adminToken, Self.token, from: .environment)
        #expect(!configuration.printableJSON.contains(Self.token))
        #expect(configuration.printableJSON.contains(BrokerConfiguration.redactedToken))
        #expect(configuration.settingValues.count == BrokerSetting.allCases.count)
    }
}
