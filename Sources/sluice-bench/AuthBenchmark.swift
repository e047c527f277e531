import ArgumentParser
import Foundation
import SluiceBroker
import SluiceStorage
import SluiceTransactions

/// What `--auth on` costs a gRPC call: the header check (cached and computed) and the rule
/// evaluation, measured on the broker's own `AccessControl` over a real user table.
struct AuthBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auth", abstract: "Cost per call of RocketMQ 5 signature checks and access rules (--auth on).")

    @Option(help: "Calls per case.") var calls: Int = 200_000
    @Option(help: "Rules the user has (prefix and exact, half of them for other topics).") var rules: Int = 20
    @Option(help: "Folder for the user table (removed afterwards).") var dir: String = "./bench-data-auth"

    func run() async throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/transactions.sqlite"
        let transactions = try await TransactionStateStore.open(path: path, now: WallClock.nowMs())
        let store = try await SecurityStore.open(path: path)
        _ = try await store.createUser(accessKey: "bench", secretKey: "bench-secret-0123", actor: "bench")
        for index in 0..<rules {
            let pattern = try ResourcePattern(index % 2 == 0 ? "other-\(index)*" : "orders-\(index)")
            _ = try await store.grant(
                accessKey: "bench", kind: .topic, pattern: pattern, decision: .allow, actions: [.pub], actor: "bench")
        }
        _ = try await store.grant(
            accessKey: "bench", kind: .topic, pattern: try ResourcePattern("orders*"), decision: .allow, actions: [.pub, .sub],
            actor: "bench")
        let control = AccessControl(configuration: .init(enabled: true, maxClockSkew: nil), store: { store })
        let dateTime = "20261204T174223Z"
        let header = "MQv2-HMAC-SHA1 Credential=bench, SignedHeaders=x-mq-date-time, Signature="
            + SignedRequest.sign(secret: "bench-secret-0123", dateTime: dateTime)
        // Distinct date-times defeat the cache: every call pays parse + HMAC-SHA1 + compare.
        let fresh = (0..<min(calls, 4000)).map { second -> (String, String) in
            let text = String(format: "20261204T%02d%02d%02dZ", second / 3600 % 24, second / 60 % 60, second % 60)
            return (
                "MQv2-HMAC-SHA1 Credential=bench, SignedHeaders=x-mq-date-time, Signature="
                    + SignedRequest.sign(secret: "bench-secret-0123", dateTime: text), text
            )
        }

        print("auth benchmark: \(calls) calls per case, user with \(rules + 1) rules")
        let cached = try measure { _ in _ = try control.authenticate(authorization: header, dateTime: dateTime) }
        let computed = try measure { index in
            let (value, text) = fresh[index % fresh.count]
            _ = try control.authenticate(authorization: value, dateTime: text)
        }
        let authorize = try measure { _ in try control.authorize(accessKey: "bench", [.publish(topic: "orders-eu")]) }
        let consume = try measure { _ in
            try control.authorize(accessKey: "bench", [.subscribe(topic: "orders-eu"), AccessNeed([.sub], .group, "g")])
        } onError: { _ in }
        print(String(format: "authenticate, cached header:       %7.2f µs/call", cached))
        print(String(format: "authenticate, new date-time (HMAC): %7.2f µs/call", computed))
        print(String(format: "authorize pub on one topic:         %7.2f µs/call", authorize))
        print(String(format: "authorize topic+group (refused):    %7.2f µs/call", consume))
        await store.close()
        try await transactions.close()
    }

    /// Microseconds per call of `body`, over `calls` calls.
    private func measure(_ body: (Int) throws -> Void, onError: ((any Error) -> Void)? = nil) throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        for index in 0..<calls {
            do {
                try body(index)
            } catch {
                guard let onError else { throw error }
                onError(error)
            }
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return seconds * 1e6 / Double(calls)
    }
}
