import Metrics
import Synchronization

/// Keeps counter totals by label and dimensions; the other metric kinds are ignored.
final class RecordingMetricsFactory: MetricsFactory {
    final class RecordingCounter: CounterHandler {
        private let total = Mutex<Int64>(0)

        func increment(by amount: Int64) {
            total.withLock { $0 += amount }
        }

        func reset() {
            total.withLock { $0 = 0 }
        }

        var value: Int64 {
            total.withLock { $0 }
        }
    }

    final class IgnoredRecorder: RecorderHandler, TimerHandler {
        func record(_ value: Int64) {}
        func record(_ value: Double) {}
        func recordNanoseconds(_ duration: Int64) {}
    }

    private let counters = Mutex<[String: RecordingCounter]>([:])

    /// The total of the counter `label` with exactly `dimensions`; 0 when it was never created.
    func counterValue(_ label: String, _ dimensions: [(String, String)]) -> Int64 {
        counters.withLock { $0[Self.key(label, dimensions)]?.value ?? 0 }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        counters.withLock { counters in
            let key = Self.key(label, dimensions)
            if let counter = counters[key] { return counter }
            let counter = RecordingCounter()
            counters[key] = counter
            return counter
        }
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        IgnoredRecorder()
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        IgnoredRecorder()
    }

    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}

    private static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
    }
}
