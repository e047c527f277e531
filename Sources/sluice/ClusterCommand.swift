import ArgumentParser
import Foundation

/// `sluice cluster ...`: the broker groups an etcd-coordinated cluster has, through `/v1/cluster`.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Show the cluster this broker belongs to.",
        subcommands: [ClusterStatusCommand.self]
    )
}

/// `sluice cluster status`
struct ClusterStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Broker groups, their leaders, followers, epochs and routed queues (GET /v1/cluster).",
        discussion: """
            Asks the broker at --admin; it reads the cluster from etcd. A broker started without --etcd \
            reports that it runs single. QUEUES counts the queues, over every topic, that the route table gives \
            each group. With --replicas, a line shows this broker's replica: its log \
            end, the high-water mark and each follower's lag in bytes. Exit status: 0 when the answer came, 1 when the broker \
            could not read etcd, 2 when the admin API cannot be reached.
            """
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let (_, object) = try await TopicOutput.object(global) { client throws(CLIError) in
            try await client.get("v1/cluster")
        }
        if global.json {
            print(TopicOutput.render(object))
        } else {
            print(Self.text(object))
        }
        if let error = object["etcdError"] as? String {
            throw CLIError(.failed, "the broker cannot read etcd: \(error)").exit()
        }
    }

    static func text(_ object: [String: Any]) -> String {
        guard object["mode"] as? String == "etcd" else { return "single broker (started without --etcd)" }
        var lines: [String] = []
        if let node = object["node"] as? [String: Any] {
            lines.append(
                "this broker: \(node["nodeId"] as? String ?? "?") in group \(node["brokerGroup"] as? String ?? "?"), "
                    + "\(node["role"] as? String ?? "?") at epoch \((node["epoch"] as? NSNumber)?.int64Value ?? 0); "
                    + "etcd \(object["etcd"] as? String ?? "?")")
        }
        if let replication = (object["node"] as? [String: Any])?["replication"] as? [String: Any] {
            lines.append(replicationLine(replication))
        }
        let groups = object["groups"] as? [[String: Any]] ?? []
        let rows = groups.map { group -> [String] in
            let members = group["members"] as? [[String: Any]] ?? []
            let followers = members.filter { $0["role"] as? String == "follower" }.compactMap { $0["nodeId"] as? String }
            let leader = group["leader"] as? String
            let leaderAddress = members.first { $0["nodeId"] as? String == leader }?["grpcAddress"] as? String
            return [
                group["name"] as? String ?? "?",
                leader.map { name in leaderAddress.map { "\(name) (\($0))" } ?? name } ?? "-",
                (group["epoch"] as? NSNumber).map { "\($0.int64Value)" } ?? "0",
                (group["queues"] as? NSNumber).map { "\($0.intValue)" } ?? "0",
                followers.isEmpty ? "-" : followers.joined(separator: ","),
            ]
        }
        lines.append(rows.isEmpty ? "no broker groups registered" : TxnOutput.table(header: ["GROUP", "LEADER", "EPOCH", "QUEUES", "FOLLOWERS"], rows: rows))
        return lines.joined(separator: "\n")
    }

    /// `replication: leader, end 1234, high-water mark 1200; lag b 34 bytes, c 0 bytes` (a leader)
    /// or `replication: follower, end 1200, high-water mark 1200; lag 34 bytes behind a`.
    static func replicationLine(_ replication: [String: Any]) -> String {
        func number(_ key: String) -> UInt64 { (replication[key] as? NSNumber)?.uint64Value ?? 0 }
        let role = replication["role"] as? String ?? "?"
        let end = number("endOffset")
        var line = "replication: \(role), end \(end), high-water mark \(number("highWatermark"))"
        if role == "leader" {
            let followers = (replication["followers"] as? [String: Any] ?? [:]).compactMapValues { ($0 as? NSNumber)?.uint64Value }
            if !followers.isEmpty {
                line += "; lag " + followers.sorted { $0.key < $1.key }
                    .map { "\($0.key) \(end > $0.value ? end - $0.value : 0) bytes" }.joined(separator: ", ")
            }
        } else {
            line += "; lag \(number("lagBytes")) bytes"
        }
        if let error = replication["lastError"] as? String { line += "; last error: \(error)" }
        return line
    }
}
