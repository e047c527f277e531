import Foundation
import Histogram
import Logging
import SluiceClient

/// The same send and transaction cases driven through the Swift SDK (`SluiceClient`) instead of
/// raw generated stubs: one client (one connection, as the official clients keep) with `producers`
/// concurrent tasks. The client CPU column is then the SDK's cost per send, beside the broker's.
extension NetworkBenchmark {
    func runSDKCase(port: Int, producers: Int, transactional: Bool, pid: Int32) async throws -> Result {
        var configuration = ClientConfiguration(host: "127.0.0.1", port: port, requestTimeout: .seconds(30))
        configuration.logger.logLevel = .error
        let topic = transactional ? "bench-txn" : "bench-normal"
        let body = [UInt8](repeating: 0x61, count: 1024)
        // Connection set-up, Telemetry and route lookup happen before the clock starts.
        let run: @Sendable (_ send: @escaping @Sendable () async throws -> Void) async throws -> Result = { send in
            let brokerBefore = Self.processCPUSeconds(pid)
            let clientBefore = Self.selfCPUSeconds()
            let started = ContinuousClock.now
            let deadline = started + .milliseconds(Int(seconds * 1000))
            let histograms = try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
                for _ in 0..<producers {
                    group.addTask {
                        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
                        while ContinuousClock.now < deadline {
                            let begin = ContinuousClock.now
                            try await send()
                            histogram.record(UInt64((ContinuousClock.now - begin) / .microseconds(1)))
                        }
                        return histogram
                    }
                }
                var all: [Histogram<UInt64>] = []
                for try await histogram in group { all.append(histogram) }
                return all
            }
            let elapsed = ContinuousClock.now - started
            var merged = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
            for histogram in histograms { merged.add(histogram) }
            let count = Double(merged.totalCount)
            let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return Result(
                rate: count / wall, p50: Int(merged.valueAtPercentile(50)), p99: Int(merged.valueAtPercentile(99)),
                brokerCPU: (Self.processCPUSeconds(pid) - brokerBefore) / max(count, 1) * 1e6,
                clientCPU: (Self.selfCPUSeconds() - clientBefore) / max(count, 1) * 1e6)
        }
        if transactional {
            return try await TransactionProducer.withTransactionProducer(
                configuration: configuration, topics: [topic], checker: { _ in .commit }
            ) { producer in
                try await run {
                    let receipt = try await producer.sendTransactional(Message(topic: topic, body: body)) { _ in .commit }
                    if let error = receipt.endTransactionError { throw error }
                }
            }
        }
        return try await Producer.withProducer(configuration: configuration, topics: [topic]) { producer in
            try await run { _ = try await producer.send(Message(topic: topic, body: body)) }
        }
    }
}
