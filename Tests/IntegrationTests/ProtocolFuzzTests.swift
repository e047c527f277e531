import Foundation
import SluiceFuzz
import SluiceTesting
import Testing

/// Issue 11's bounded fuzz run, part of `swift test` (`make fuzz` runs the same fuzzer for a
/// million requests against a release broker): tens of thousands of hostile requests over every
/// RPC, Telemetry streams opened and abandoned, raw HTTP/2 garbage, over eight connections at
/// once, against a real broker started with small limits so the refusals are exercised too.
/// Then the broker must be alive, /healthz ok, a normal send+receive+ack must work, its memory
/// must not have run away, and every message acknowledged before and during the run must read
/// back with its body.
///
/// `SLUICE_FUZZ_SEED` replays a run (the seed is printed first); `SLUICE_FUZZ_REQUESTS` sets its
/// length (default 20,000).
@Suite("the gRPC front survives a structured fuzz of every RPC")
struct ProtocolFuzzTests {
    static var requests: Int { Int(ProcessInfo.processInfo.environment["SLUICE_FUZZ_REQUESTS"] ?? "") ?? 20_000 }

    /// Resident memory may grow by this much (the allocator keeps freed pages; a leak per request
    /// over 20,000 requests of up to a few MiB each would blow far past it).
    static let rssGrowthLimitKilobytes = 384 * 1024

    @Test("hostile requests on every RPC, then the broker is alive, bounded and its data intact")
    func fuzz() async throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["SLUICE_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max)
        print("protocol fuzz seed \(seed) (replay: SLUICE_FUZZ_SEED=\(seed)), \(Self.requests) requests")
        try await withBroker(extraArguments: ["--max-groups", "64", "--max-long-polls", "16", "--max-clients", "32"]) {
            broker in
            _ = try #require(await broker.waitUntilReady())
            var configuration = ProtocolFuzzer.Configuration(
                grpcPort: broker.grpcPort, adminURL: broker.adminURL, seed: seed, requests: Self.requests)
            configuration.brokerPid = broker.process.pid
            // Unbuffered, so a slow run shows where it is.
            configuration.progress = { FileHandle.standardError.write(Data("protocol fuzz: \($0)\n".utf8)) }
            let report = try await ProtocolFuzzer(configuration).run()
            print(report.summary)

            #expect(broker.process.isRunning, "the broker died under fuzzing (seed \(seed)): \(Self.crashReport(broker.process.standardErrorText))")
            #expect(report.healthz, "/healthz did not answer 200 after the fuzz (seed \(seed))")
            #expect(report.roundTrip, "a normal send, receive and ack failed after the fuzz (seed \(seed))")
            #expect(report.canaries >= 20)
            #expect(report.missingCanaries.isEmpty, "acknowledged messages missing or changed: \(report.missingCanaries)")
            // Most requests must get a RocketMQ answer; gRPC errors are for undecodable bytes,
            // oversized headers and deadlines of abandoned long polls.
            let answered = report.codes.values.reduce(0, +)
            #expect(answered > report.requests * 3 / 4, "only \(answered) of \(report.requests) got a RocketMQ status")
            // Refusals carry real codes, never UNSPECIFIED.
            #expect(report.codes["UNSPECIFIED"] == nil)
            if let before = report.rssBeforeKilobytes, let after = report.rssAfterKilobytes {
                #expect(after - before < Self.rssGrowthLimitKilobytes, "broker RSS grew from \(before) kB to \(after) kB")
            }
            #expect(try await HTTPProbe.get("\(broker.adminURL)/readyz").status == 200)
            let metrics = try await HTTPProbe.get("\(broker.adminURL)/metrics")
            #expect(metrics.text.contains("sluice_requests_refused_total"))
        }
    }

    /// The part of a dead broker's standard error that names the cause: from the fatal error or the
    /// crashed thread onwards (the backtrace's other threads come later and matter less); the tail
    /// when neither is there.
    static func crashReport(_ standardError: String) -> String {
        for marker in ["Fatal error", "crashed:", "Crash at"] {
            if let start = standardError.range(of: marker) {
                return String(standardError[start.lowerBound...].prefix(4000))
            }
        }
        return String(standardError.suffix(2000))
    }
}
