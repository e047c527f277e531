import CSluiceShims
import Foundation
import Logging
import NIOConcurrencyHelpers

/// Verifies, on a background thread after open, the log data that recovery trusted because it
/// lies behind the checkpoint. Damage it finds is logged with its byte range and added to the
/// log's damaged ranges; reads of those records fail their own checksum check either way.
final class Scrubber: Sendable {
    private let shared: LogShared
    private let until: UInt64
    private let logger: Logger
    private struct State {
        var done = false
        var stopRequested = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = NIOLockedValueBox(State())

    init(shared: LogShared, until: UInt64, logger: Logger) {
        self.shared = shared
        self.until = until
        self.logger = logger
    }

    func start() {
        let thread = Thread { [self] in
            _ = sluice_set_current_thread_name("sluice-scrubber")
            run()
            let waiters = state.withLockedValue { state in
                state.done = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
        thread.start()
    }

    private func run() {
        let started = ContinuousClock.now
        var records = 0
        for segment in shared.segments where segment.baseOffset < until {
            if state.withLockedValue({ $0.stopRequested }) { return }
            let outcome = LogScan.scan([segment], from: segment.baseOffset, until: until, stopAtDamageInLastSegment: false) { _ in }
            records += outcome.records
            for range in outcome.damaged {
                logger.error("damaged log range", metadata: ["range": "\(range)"])
            }
            shared.addDamage(outcome.damaged)
        }
        logger.debug(
            "scrub finished",
            metadata: ["records": "\(records)", "duration": "\(ContinuousClock.now - started)", "until": "\(until)"])
    }

    func stop() { state.withLockedValue { $0.stopRequested = true } }

    func waitUntilDone() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let alreadyDone = state.withLockedValue { state -> Bool in
                if state.done { return true }
                state.waiters.append(continuation)
                return false
            }
            if alreadyDone { continuation.resume() }
        }
    }
}
