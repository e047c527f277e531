import ArgumentParser
import Foundation

/// `sluice group ...`: consumer groups and their backlog through `/v1/groups`.
struct GroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group",
        abstract: "Create, list and inspect consumer groups.",
        discussion: """
            A consumer group shares one position per topic queue among its consumers; every group gets \
            every message. Groups also appear on first use with the defaults (not FIFO, 17 delivery \
            attempts, RocketMQ's retry ladder 1s 5s 10s 30s 1m ... 2h, starting at the newest message of \
            a topic they subscribe to). Messages out of attempts go to the topic %DLQ%<group>. Exit status: 0 on success, 1 when the broker refused the request, 2 when \
            the admin API cannot be reached.
            """,
        subcommands: [
            GroupCreateCommand.self, GroupListCommand.self, GroupShowCommand.self, GroupRedriveCommand.self,
            GroupResetOffsetCommand.self,
        ]
    )

    static func totalsTable(_ groups: [[String: Any]]) -> String {
        TxnOutput.table(
            header: [
                "GROUP", "FIFO", "MAX-ATTEMPTS", "CONSUME-FROM", "WAITING", "IN-FLIGHT", "RETRYING", "SCHEDULED",
                "DEAD-LETTERED",
            ],
            rows: groups.map { group in
                [
                    group["name"] as? String ?? "?", (group["fifo"] as? Bool ?? false) ? "yes" : "no",
                    number(group["maxDeliveryAttempts"]), group["consumeFrom"] as? String ?? "?",
                    number(group["waiting"]), number(group["inFlight"]),
                    number(group["retrying"]), number(group["scheduled"]), number(group["deadLettered"]),
                ]
            })
    }

    static func number(_ value: Any?) -> String { (value as? NSNumber).map { "\($0.int64Value)" } ?? "?" }
}

/// `sluice group create NAME [--fifo] [--max-attempts N] [--retry-delays 1s,5s] [--consume-from latest|earliest|TIME]`
struct GroupCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a consumer group, or change an existing group's settings (POST /v1/groups).")

    @Argument(help: ArgumentHelp("The group name: 1 to 255 of letters, digits, '_' and '-'.", valueName: "name"))
    var name: String

    @Flag(help: "On FIFO topics, hand out one message of a message group at a time, in send order (push consumers also consume in order).")
    var fifo = false

    @Option(name: .customLong("max-attempts"), help: ArgumentHelp(
        "Deliveries of a message before it goes to %DLQ%<group>, 1 to 1000 (default 17: 16 retries).", valueName: "n"))
    var maxAttempts: Int?

    @Option(name: .customLong("retry-delays"), help: ArgumentHelp(
        "Least time before each retry, comma separated; the last repeats (default 1s,5s,10s,30s,1m,...,2h).",
        valueName: "durations"))
    var retryDelays: String?

    @Option(name: .customLong("consume-from"), help: ArgumentHelp(
        "Where the group starts in a topic it subscribes to for the first time: latest (default: only messages "
            + "sent from then on), earliest (the oldest message kept) or an RFC 3339 time (the first message "
            + "stored at or after it).",
        valueName: "latest|earliest|time"))
    var consumeFrom: String?

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        var body: [String: Any] = ["name": name, "fifo": fifo]
        if let consumeFrom { body["consumeFrom"] = consumeFrom }
        if let maxAttempts { body["maxDeliveryAttempts"] = maxAttempts }
        if let retryDelays { body["retryDelays"] = retryDelays.split(separator: ",").map(String.init) }
        let (status, group) = try await TopicOutput.object(global, expecting: [200, 201]) { client throws(CLIError) in
            try await client.send("POST", "v1/groups", json: body)
        }
        if global.json {
            print(TopicOutput.render(group))
        } else {
            print(GroupCommand.totalsTable([group]))
            print(status == 201 ? "created group \(name)" : "updated group \(name)")
        }
    }
}

/// `sluice group list`
struct GroupListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List consumer groups with their backlog totals (GET /v1/groups).")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let (_, object) = try await TopicOutput.object(global) { client throws(CLIError) in try await client.get("v1/groups") }
        let groups = object["groups"] as? [[String: Any]] ?? []
        if global.json {
            print(TopicOutput.render(object))
        } else {
            print(groups.isEmpty ? "no consumer groups" : GroupCommand.totalsTable(groups))
        }
    }
}

/// `sluice group show NAME`
struct GroupShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "One group's settings and its backlog per topic queue (GET /v1/groups/NAME).",
        discussion: """
            WAITING: not received yet (unread, or ready); IN-FLIGHT: received, invisible, not acknowledged; \
            RETRYING: invisibility over, waiting for the next delivery; SCHEDULED: DELAY messages before \
            their time; DEAD-LETTERED: messages in %DLQ%<group>.
            """)

    @Argument(help: ArgumentHelp("The group.", valueName: "name"))
    var name: String

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let (_, group) = try await TopicOutput.object(global) { [name] client throws(CLIError) in
            try await client.get("v1/groups/" + AdminClient.pathSegment(name))
        }
        if global.json {
            print(TopicOutput.render(group))
            return
        }
        print(GroupCommand.totalsTable([group]))
        let queues = group["queues"] as? [[String: Any]] ?? []
        guard !queues.isEmpty else {
            print("\nthe group has not read any topic yet")
            return
        }
        print("")
        print(TxnOutput.table(
            header: ["TOPIC", "QUEUE", "CURSOR", "END", "WAITING", "IN-FLIGHT", "RETRYING", "SCHEDULED"],
            rows: queues.map { queue in
                [
                    queue["topic"] as? String ?? "?", GroupCommand.number(queue["queueId"]),
                    GroupCommand.number(queue["nextOffset"]), GroupCommand.number(queue["endOffset"]),
                    GroupCommand.number(queue["waiting"]), GroupCommand.number(queue["inFlight"]),
                    GroupCommand.number(queue["retrying"]), GroupCommand.number(queue["scheduled"]),
                ]
            }))
    }
}

/// `sluice group redrive NAME`
struct GroupRedriveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redrive",
        abstract: "Deliver a group's dead letters to it again (POST /v1/groups/NAME/dead-letters/redrive).",
        discussion: """
            Every message in %DLQ%<group> not re-driven before becomes unfinished for the group again and is \
            delivered anew with its attempts counted from zero; other groups are not affected. Audited with \
            --actor. Prints how many messages were re-driven.
            """)

    @Argument(help: ArgumentHelp("The group.", valueName: "name"))
    var name: String

    @Option(help: ArgumentHelp("Your name for the audit trail (default: $USER, else your login name).", valueName: "name"))
    var actor: String?

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let headers = ["X-Sluice-Actor": OperatorName.resolve(actor)]
        let (_, result) = try await TopicOutput.object(global) { [name] client throws(CLIError) in
            try await client.send(
                "POST", "v1/groups/" + AdminClient.pathSegment(name) + "/dead-letters/redrive", headers: headers)
        }
        if global.json {
            print(TopicOutput.render(result))
        } else {
            print("re-drove \(GroupCommand.number(result["redriven"])) dead letters of group \(name)")
        }
    }
}

/// `sluice group reset-offset NAME --topic T (--earliest | --latest | --to-time TIME) [--reason TEXT]`
struct GroupResetOffsetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reset-offset",
        abstract: "Move a group's position in a topic (POST /v1/groups/NAME/reset-offset).",
        discussion: """
            Every queue of the topic moves to the oldest message kept (--earliest: everything is delivered \
            again), to its end (--latest: everything not received yet is skipped) or to the first message \
            stored at or after an RFC 3339 time (--to-time). Messages the group's consumers hold right now \
            stay theirs to acknowledge; retries and scheduled messages of the group there are dropped. \
            Audited with --actor and --reason, each queue's old and new offset included. Prints the moves.
            """)

    @Argument(help: ArgumentHelp("The group.", valueName: "name"))
    var name: String

    @Option(help: ArgumentHelp("The topic whose position moves.", valueName: "topic"))
    var topic: String

    @Flag(help: "To the oldest message each queue keeps.")
    var earliest = false

    @Flag(help: "To the end of each queue.")
    var latest = false

    @Option(name: .customLong("to-time"), help: ArgumentHelp(
        "To the first message stored at or after this time, e.g. 2026-12-05T07:00:00Z.", valueName: "rfc3339"))
    var toTime: String?

    @Option(help: ArgumentHelp("Why (kept in the audit log).", valueName: "text"))
    var reason: String?

    @Option(help: ArgumentHelp("Your name for the audit trail (default: $USER, else your login name).", valueName: "name"))
    var actor: String?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        let chosen = [earliest, latest, toTime != nil].filter { $0 }.count
        guard chosen == 1 else { throw ValidationError("give exactly one of --earliest, --latest, --to-time TIME") }
    }

    func run() async throws {
        let target = earliest ? "earliest" : latest ? "latest" : toTime ?? ""
        var body: [String: Any] = ["topic": topic, "to": target]
        if let reason { body["reason"] = reason }
        let headers = ["X-Sluice-Actor": OperatorName.resolve(actor)]
        let (_, result) = try await TopicOutput.object(global) { [name, body] client throws(CLIError) in
            try await client.send(
                "POST", "v1/groups/" + AdminClient.pathSegment(name) + "/reset-offset", json: body, headers: headers)
        }
        if global.json {
            print(TopicOutput.render(result))
            return
        }
        let queues = result["queues"] as? [[String: Any]] ?? []
        print(TxnOutput.table(
            header: ["QUEUE", "FROM", "TO"],
            rows: queues.map { [GroupCommand.number($0["queueId"]), GroupCommand.number($0["from"]), GroupCommand.number($0["to"])] }))
        print("reset group \(name) in topic \(topic) to \(result["to"] as? String ?? target)")
    }
}
