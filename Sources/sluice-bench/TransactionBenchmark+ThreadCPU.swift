import Foundation

/// CPU time of each thread of this process (`/proc/self/task/*/stat`, user + system), to show
/// where a case's CPU went. Linux only; elsewhere the snapshot is empty. Resolution is one clock
/// tick (usually 10 ms) per thread, so it means something over runs of a second or more.
struct ThreadCPUSnapshot {
    /// Thread id -> (name, CPU seconds so far).
    var threads: [Int: (name: String, seconds: Double)] = [:]

    static func take() -> ThreadCPUSnapshot {
        var snapshot = ThreadCPUSnapshot()
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        guard ticksPerSecond > 0,
            let tids = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")
        else { return snapshot }
        for tid in tids {
            guard let id = Int(tid),
                let stat = try? String(contentsOfFile: "/proc/self/task/\(tid)/stat", encoding: .utf8),
                let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
            else { continue }
            let name = String(stat[stat.index(after: open)..<close])
            // After the name: state is field 3; utime and stime are fields 14 and 15.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            snapshot.threads[id] = (name, (user + system) / ticksPerSecond)
        }
        return snapshot
    }

    /// Runs `start` (which opens something that starts threads) and labels the threads that
    /// appeared meanwhile `role`: thread names cannot be relied on (see `role(of:)`).
    static func labelling<T>(
        _ role: String, into roles: inout [Int: String], _ start: () async throws -> T
    ) async throws -> T {
        let before = take()
        let result = try await start()
        for id in take().threads.keys where before.threads[id] == nil {
            roles[id] = role
        }
        return result
    }

    /// CPU seconds spent since `earlier`, by thread role; `roles` names threads whose own name
    /// says nothing. Threads that ended in between are missing.
    func spent(since earlier: ThreadCPUSnapshot, roles: [Int: String] = [:]) -> [String: Double] {
        var byRole: [String: Double] = [:]
        for (id, thread) in threads {
            let delta = thread.seconds - (earlier.threads[id]?.seconds ?? 0)
            guard delta > 0 else { continue }
            byRole[roles[id] ?? Self.role(of: thread.name), default: 0] += delta
        }
        return byRole
    }

    /// Groups thread names: Swift's cooperative pool threads (which also run the load generator),
    /// the SQLite executor threads, the rest by name. A thread named before it starts keeps the
    /// name it inherits from its creator on Linux (swift-corelibs-foundation applies `Thread.name`
    /// only to a running thread), so the commit log's writer looks like a pool thread: callers
    /// label such threads with `labelling(_:into:_:)`.
    static func role(of name: String) -> String {
        if name.hasSuffix("default-qos") || name.hasSuffix("qos.overcommit") { return "swift-pool" }
        if name.hasSuffix("-sqlite") { return "sqlite" }
        return name
    }

    /// "role µs, role µs, …" per transaction, largest first.
    static func describe(_ spent: [String: Double], per transactions: Int) -> String {
        spent.sorted { $0.value > $1.value }
            .map { "\($0.key) \(Int(($0.value * 1e6 / Double(max(1, transactions))).rounded()))" }
            .joined(separator: ", ")
    }
}
