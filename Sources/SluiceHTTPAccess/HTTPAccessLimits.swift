/// What the HTTP front accepts, each limit with its reason. Client numbers are parsed as text
/// and range-checked here before any arithmetic sees them.
public struct HTTPAccessLimits: Sendable, Hashable {
    /// numOfMessages: the protocol's batch limit.
    public static let batchRange = 1...16
    /// waitseconds: the protocol's long-polling limit.
    public static let waitSecondsRange = 0...30
    /// How long a consumed message stays invisible before it is delivered again (the protocol's
    /// fixed "NextConsumeTime"; the SDK has no way to ask for another).
    public static let invisibleSeconds: Int64 = 300
    /// An ack or transaction end body: 16 handles of up to 1 KiB, escaped, plus markup.
    public static let maxHandlesBodyBytes = 64 * 1024
    /// The `ns` (instance id) query value; accepted and ignored.
    public static let maxInstanceIdBytes = 255

    /// The largest message body (the gRPC front's `maxBodyBytes`).
    public var maxBodyBytes: Int
    /// The largest publish request: the body may grow when escaped (`&quot;` is 6 bytes for 1),
    /// so twice the body limit plus room for markup; a body escaped beyond that is refused as
    /// EntityTooLarge.
    public var maxPublishRequestBytes: Int { maxBodyBytes.multipliedReportingOverflow(by: 2).partialValue + 64 * 1024 }

    public init(maxBodyBytes: Int = 4 << 20) {
        self.maxBodyBytes = max(1, min(maxBodyBytes, 64 << 20))
    }

    /// A whole number within `range`, or an error naming the parameter and the range.
    static func number(_ text: Substring?, _ name: String, in range: ClosedRange<Int>, default: Int)
        throws(HTTPAccessError) -> Int
    {
        guard let text else { return `default` }
        guard text.utf8.count <= 10, let value = Int(text), range.contains(value) else {
            throw HTTPAccessError.invalid(
                "\(name) is '\(text.prefix(16))'; it must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }
}
