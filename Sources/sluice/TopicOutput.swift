import ArgumentParser
import Foundation

/// Shared plumbing of the `sluice topic` commands: sending, rendering and failing.
enum TopicOutput {
    /// Runs `call`; an unreachable broker prints (JSON too, with --json) and exits 2.
    static func request(
        _ global: GlobalOptions, _ call: (AdminClient) async throws -> AdminClient.Reply
    ) async throws -> AdminClient.Reply {
        do {
            return try await call(global.client)
        } catch let error as CLIError {
            if global.json {
                print(render(["error": ["code": "UNREACHABLE", "message": error.message]]))
            }
            throw error.exit()
        }
    }

    /// Runs `call` and returns the reply's status and JSON object when the status is one of
    /// `expected`; any other reply is a failure (printed, exit 1).
    static func object(
        _ global: GlobalOptions, expecting expected: Set<Int> = [200],
        _ call: (AdminClient) async throws -> AdminClient.Reply
    ) async throws -> (status: Int, object: [String: Any]) {
        let reply = try await request(global, call)
        guard expected.contains(reply.status), let object = reply.object else { throw failure(reply, global: global) }
        return (reply.status, object)
    }

    /// The exit for a reply the broker refused: its error body on stdout with --json, one line on
    /// stderr either way, exit status 1.
    static func failure(_ reply: AdminClient.Reply, global: GlobalOptions) -> ExitCode {
        if global.json {
            let fallback: [String: Any] = [
                "error": ["code": "HTTP_\(reply.status)", "message": reply.errorDescription]
            ]
            print(render(reply.object ?? fallback))
        }
        return CLIError(.failed, reply.errorDescription).exit()
    }

    /// Topic objects of the admin API as an aligned table.
    static func table(_ topics: [[String: Any]]) -> String {
        let header = ["NAME", "TYPE", "QUEUES", "CREATED"]
        let rows = topics.map { topic in
            [
                topic["name"] as? String ?? "?",
                topic["type"] as? String ?? "?",
                (topic["queues"] as? Int).map(String.init) ?? "?",
                (topic["createdAtMs"] as? NSNumber).map { timestamp($0.int64Value) } ?? "?",
            ]
        }
        return TxnOutput.table(header: header, rows: rows)
    }

    static func render(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    private static func timestamp(_ milliseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }
}
