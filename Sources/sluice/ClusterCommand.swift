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
        abstract: "Broker groups, their leaders, followers and epochs (GET /v1/cluster).",
        discussion: """
            Asks the broker at --admin; it reads the cluster from etcd. A broker started without --etcd \
            reports that it runs single. Replication lag is not shown yet: log replication between the \
            brokers of a group is not built. Exit status: 0 when the answer came, 1 when the broker \
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
                followers.isEmpty ? "-" : followers.joined(separator: ","),
            ]
        }
        lines.append(rows.isEmpty ? "no broker groups registered" : TxnOutput.table(header: ["GROUP", "LEADER", "EPOCH", "FOLLOWERS"], rows: rows))
        return lines.joined(separator: "\n")
    }
}
