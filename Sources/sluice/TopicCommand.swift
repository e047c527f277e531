import ArgumentParser
import Foundation

/// `sluice topic ...`: create, list and delete topics through `/v1/topics`.
struct TopicCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topic",
        abstract: "Create, list and delete topics.",
        discussion: """
            A topic carries one type of message (normal, fifo, delay, transaction, priority or lite) over a number of \
            queues; the broker refuses a message of another type. Exit status: 0 on success, 1 when the \
            broker refused the request, 2 when the admin API cannot be reached.
            """,
        subcommands: [TopicCreateCommand.self, TopicListCommand.self, TopicDeleteCommand.self]
    )
}

/// The message types a topic can carry, as the admin API spells them.
enum TopicTypeArgument: String, CaseIterable, ExpressibleByArgument {
    case normal, fifo, delay, transaction, priority, lite
}

/// `sluice topic create NAME --type T [--queues N]`
struct TopicCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a topic (harmless when an identical topic exists).",
        discussion: """
            Calls POST /v1/topics. Creating a topic that already exists with the same type and queue \
            count succeeds and changes nothing; with another type or queue count it fails (TOPIC_EXISTS) \
            and names the difference.
            """
    )

    @Argument(help: ArgumentHelp(
        "The topic name: 1 to 127 of letters, digits, '%', '_' and '-'; RMQ_SYS_ and % prefixes are reserved.",
        valueName: "name"))
    var name: String

    @Option(help: ArgumentHelp("The message type the topic carries.", valueName: "normal|fifo|delay|transaction|priority|lite"))
    var type: TopicTypeArgument

    @Option(help: ArgumentHelp("Message queues of the topic, 1 to 256 (the broker's default is 8).", valueName: "n"))
    var queues: Int?

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        var body: [String: Any] = ["name": name, "type": type.rawValue]
        if let queues { body["queues"] = queues }
        let (status, topic) = try await TopicOutput.object(global, expecting: [200, 201]) { client throws(CLIError) in
            try await client.send("POST", "v1/topics", json: body)
        }
        if global.json {
            print(TopicOutput.render(topic))
        } else {
            print(TopicOutput.table([topic]))
            print(status == 201 ? "created topic \(name)" : "topic \(name) already exists; nothing changed")
        }
    }
}

/// `sluice topic list`
struct TopicListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List every topic, ordered by name (GET /v1/topics).")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let (_, object) = try await TopicOutput.object(global) { client throws(CLIError) in
            try await client.get("v1/topics")
        }
        let topics = object["topics"] as? [[String: Any]] ?? []
        if global.json {
            print(TopicOutput.render(object))
        } else if topics.isEmpty {
            print("no topics")
        } else {
            print(TopicOutput.table(topics))
        }
    }
}

/// `sluice topic delete NAME`
struct TopicDeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a topic (DELETE /v1/topics/NAME).",
        discussion: "Audited with --actor. Fails (TOPIC_NOT_FOUND, exit 1) when there is no such topic.")

    @Argument(help: ArgumentHelp("The topic to delete.", valueName: "name"))
    var name: String

    @Option(help: ArgumentHelp("Your name for the audit trail (default: $USER, else your login name).", valueName: "name"))
    var actor: String?

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let headers = ["X-Sluice-Actor": OperatorName.resolve(actor)]
        let reply = try await TopicOutput.request(global) { [name] client throws(CLIError) in
            try await client.send("DELETE", "v1/topics/" + AdminClient.pathSegment(name), headers: headers)
        }
        guard reply.status == 204 || reply.status == 200 else {
            throw TopicOutput.failure(reply, global: global)
        }
        print(global.json ? TopicOutput.render(["name": name, "deleted": true]) : "deleted topic \(name)")
    }
}
