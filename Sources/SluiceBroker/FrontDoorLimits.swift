/// Bounds on the work the gRPC endpoint takes on, so that overload turns into throttling codes and
/// queueing in clients instead of dropped connections or unbounded memory (issue 11 part 1,
/// issue 12 part 2).
///
/// - `maxConcurrentStreamsPerConnection` is advertised as HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`:
///   a client queues calls beyond it. Without it swift-nio-http2 still enforced an unadvertised
///   100 and answered stream 101 with a connection-level PROTOCOL_ERROR GOAWAY, which dropped
///   every call on the connection (see docs/protocol.md, "Overload").
/// - `maxInflightRequests` and `maxBufferedRequestBytes` are per broker: a unary call over either is
///   answered at once with TOO_MANY_REQUESTS and the connection stays up.
/// - `maxConnections` is per broker: a connection over it is closed as soon as it is accepted.
public struct FrontDoorLimits: Sendable, Hashable {
    public var maxConnections = 1024
    public var maxConcurrentStreamsPerConnection = 100
    public var maxInflightRequests = 4096
    public var maxBufferedRequestBytes = 256 << 20

    public init() {}

    /// What each limit may be set to.
    enum Range {
        static let connections = 1...1_000_000
        /// HTTP/2 allows up to 2^31-1; past a few thousand one connection only hides a backlog.
        static let concurrentStreams = 1...65_535
        static let inflightRequests = 1...1_000_000
        /// At least one 4 MiB body must fit.
        static let bufferedRequestBytes = (4 << 20)...(64 << 30)
    }
}

extension BrokerConfiguration {
    /// Reads one of the front-door limits; `invalid` builds the error naming where it came from.
    mutating func applyFrontDoor(
        _ setting: BrokerSetting, _ value: String, invalid: (String) -> BrokerError
    ) throws(BrokerError) {
        func integer(in range: ClosedRange<Int>) throws(BrokerError) -> Int {
            guard let number = Int(value), range.contains(number) else {
                throw invalid("expected a whole number from \(range.lowerBound) to \(range.upperBound); got '\(value)'")
            }
            return number
        }
        switch setting {
        case .grpcMaxConnections: frontDoor.maxConnections = try integer(in: FrontDoorLimits.Range.connections)
        case .grpcMaxConcurrentStreams:
            frontDoor.maxConcurrentStreamsPerConnection = try integer(in: FrontDoorLimits.Range.concurrentStreams)
        case .grpcMaxInflightRequests: frontDoor.maxInflightRequests = try integer(in: FrontDoorLimits.Range.inflightRequests)
        case .grpcMaxBufferedRequestBytes:
            let bytes: Int
            switch ByteSizeParser.parse(value) {
            case .success(let parsed): bytes = parsed
            case .failure(let failure): throw invalid(failure.reason)
            }
            let range = FrontDoorLimits.Range.bufferedRequestBytes
            guard range.contains(bytes) else {
                throw invalid(
                    "\(value) is out of range; expected \(ByteSizeParser.format(range.lowerBound)) to "
                        + "\(ByteSizeParser.format(range.upperBound))")
            }
            frontDoor.maxBufferedRequestBytes = bytes
        default:
            preconditionFailure("\(setting) is not a front-door limit")
        }
    }

    /// The value `--print-config` shows for a front-door limit, or nil for any other setting.
    func frontDoorValue(of setting: BrokerSetting) -> ConfigFileValue? {
        switch setting {
        case .grpcMaxConnections: .number(frontDoor.maxConnections)
        case .grpcMaxConcurrentStreams: .number(frontDoor.maxConcurrentStreamsPerConnection)
        case .grpcMaxInflightRequests: .number(frontDoor.maxInflightRequests)
        case .grpcMaxBufferedRequestBytes: .string(ByteSizeParser.format(frontDoor.maxBufferedRequestBytes))
        default: nil
        }
    }
}
