/// What a fuzz run did and found.
public struct FuzzReport: Sendable {
    public var seed: UInt64
    public var requests = 0
    public var elapsed: Duration = .zero
    /// RocketMQ codes answered, by name (plus ABANDONED for Telemetry streams left unread).
    public var codes: [String: Int] = [:]
    /// Calls that ended in a gRPC error instead of a RocketMQ status (undecodable bytes, deadlines).
    public var transportErrors: [String: Int] = [:]
    /// Raw HTTP/2 attacks, by kind.
    public var rawAttacks: [String: Int] = [:]
    public var rssBeforeKilobytes: Int?
    public var rssAfterKilobytes: Int?
    public var healthz = false
    public var roundTrip = false
    public var canaries = 0
    public var missingCanaries: [String] = []

    init(seed: UInt64) { self.seed = seed }

    mutating func merge(_ result: ProtocolFuzzer.WorkerResult) {
        requests += result.requests
        codes.merge(result.codes, uniquingKeysWith: +)
        transportErrors.merge(result.transportErrors, uniquingKeysWith: +)
        rawAttacks.merge(result.raw, uniquingKeysWith: +)
    }

    public var requestsPerSecond: Double {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return seconds > 0 ? Double(requests) / seconds : 0
    }

    /// Refusals: every answered code except OK and MESSAGE_NOT_FOUND (an empty receive).
    public var refusals: [String: Int] { codes.filter { !["OK", "MESSAGE_NOT_FOUND", "ABANDONED"].contains($0.key) } }

    public var summary: String {
        func table(_ counts: [String: Int]) -> String {
            counts.sorted { $0.value > $1.value }.map { "    \($0.key): \($0.value)" }.joined(separator: "\n")
        }
        return """
            seed \(seed): \(requests) requests in \(elapsed) (\(Int(requestsPerSecond)) requests/s)
              answers by code:
            \(table(codes))
              gRPC errors (no RocketMQ status):
            \(table(transportErrors))
              raw HTTP/2 attacks: \(rawAttacks.values.reduce(0, +))
            \(table(rawAttacks))
              broker RSS: \(rssBeforeKilobytes.map { "\($0) kB" } ?? "?") before, \(rssAfterKilobytes.map { "\($0) kB" } ?? "?") after
              /healthz ok: \(healthz); send+receive+ack: \(roundTrip)
              canaries acknowledged: \(canaries); missing or changed: \(missingCanaries.count)\(missingCanaries.isEmpty ? "" : " \(missingCanaries.prefix(5))")
            """
    }
}
