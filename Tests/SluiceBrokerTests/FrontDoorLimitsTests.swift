import SluiceBroker
import Testing

@Suite("BrokerConfiguration: front-door limits")
struct FrontDoorLimitsTests {
    @Test("defaults: 1024 connections, 100 streams each, 4096 calls and 256 MiB of bodies in flight")
    func defaults() throws {
        let limits = try BrokerConfiguration.resolve(flags: [:], configPath: nil, environment: [:]).frontDoor
        #expect(limits.maxConnections == 1024)
        #expect(limits.maxConcurrentStreamsPerConnection == 100)
        #expect(limits.maxInflightRequests == 4096)
        #expect(limits.maxBufferedRequestBytes == 256 << 20)
    }

    @Test("each limit is read from its flag")
    func flags() throws {
        let limits = try BrokerConfiguration.resolve(
            flags: [
                .grpcMaxConnections: "8", .grpcMaxConcurrentStreams: "16", .grpcMaxInflightRequests: "32",
                .grpcMaxBufferedRequestBytes: "64MiB",
            ], configPath: nil, environment: [:]
        ).frontDoor
        #expect(limits.maxConnections == 8)
        #expect(limits.maxConcurrentStreamsPerConnection == 16)
        #expect(limits.maxInflightRequests == 32)
        #expect(limits.maxBufferedRequestBytes == 64 << 20)
    }

    @Test("out-of-range limits are refused, naming the flag", arguments: [
        (BrokerSetting.grpcMaxConnections, "0"), (.grpcMaxConcurrentStreams, "70000"), (.grpcMaxInflightRequests, "-1"),
        (.grpcMaxBufferedRequestBytes, "1MiB"), (.grpcMaxBufferedRequestBytes, "lots"), (.grpcMaxConnections, "1e9"),
    ])
    func refused(_ setting: BrokerSetting, _ value: String) {
        let error = #expect(throws: BrokerError.self) {
            try BrokerConfiguration.resolve(flags: [setting: value], configPath: nil, environment: [:])
        }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains(setting.flag) == true, "\(String(describing: error))")
    }
}
