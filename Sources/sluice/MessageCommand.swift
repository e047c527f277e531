import ArgumentParser
import Foundation

/// `sluice message ...`: find stored messages and follow their life.
struct MessageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "message",
        abstract: "Show stored messages by id or key, and their trace.",
        discussion: """
            'show' prints every record stored under a message id (a transactional message has its half \
            message and then its commit or rollback record) with its transaction's state; 'find' looks \
            messages up by key; 'trace' prints what happened to a message: received, half stored, \
            committed or rolled back, delivered, acknowledged, retried, dead-lettered. Exit status: 0 \
            on success, 1 when nothing is found (MESSAGE_NOT_FOUND) or the broker refused, 2 when the \
            admin API cannot be reached.
            """,
        subcommands: [MessageShowCommand.self, MessageFindCommand.self, MessageTraceCommand.self]
    )
}

/// `sluice message show MESSAGE_ID`
struct MessageShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show the records stored under a message id (GET /v1/messages/ID).",
        discussion: """
            For each record: its role (message, half, commit, rollback), topic, queue and offsets, \
            times, tags, keys, properties, body size and the start of the body (text, or base64 when \
            it is binary), and for a transactional message the transaction's state.
            """)

    @Argument(help: ArgumentHelp("The message id (RocketMQ's message_id, as the producer got it).", valueName: "message-id"))
    var messageId: String

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let path = "v1/messages/" + AdminClient.pathSegment(messageId)
        let reply = try await TopicOutput.request(global) { client throws(CLIError) in try await client.get(path) }
        guard reply.status == 200, let object = reply.object, let messages = object["messages"] as? [[String: Any]] else {
            throw TopicOutput.failure(reply, global: global)
        }
        print(global.json ? TopicOutput.render(object) : MessageOutput.detail(messageId: messageId, messages))
    }
}

/// `sluice message find --key K`
struct MessageFindCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "find",
        abstract: "Find the messages carrying a key (GET /v1/messages?key=K).",
        discussion: "Prints one row per stored record, oldest first: MESSAGE ID, ROLE, TOPIC, QUEUE, OFFSET, STORED, KEYS, BODY.")

    @Option(help: ArgumentHelp("The message key to look up (exact match).", valueName: "key"))
    var key: String

    @Option(help: ArgumentHelp("At most this many records, 1 to 1000 (the broker's default is 64).", valueName: "n"))
    var limit: Int?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if key.isEmpty { throw ValidationError("--key: must not be empty") }
        if let limit, !(1...1000).contains(limit) {
            throw ValidationError("--limit: expected 1 to 1000; got \(limit)")
        }
    }

    func run() async throws {
        var components = URLComponents()
        components.queryItems = [URLQueryItem(name: "key", value: key)] + (limit.map { [URLQueryItem(name: "limit", value: "\($0)")] } ?? [])
        let query = (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        let reply = try await TopicOutput.request(global) { client throws(CLIError) in
            try await client.get("v1/messages?" + query)
        }
        guard reply.status == 200, let object = reply.object, let messages = object["messages"] as? [[String: Any]] else {
            throw TopicOutput.failure(reply, global: global)
        }
        if global.json {
            print(TopicOutput.render(object))
            return
        }
        print(MessageOutput.findTable(messages))
        print(messages.count == 1 ? "1 record, oldest first" : "\(messages.count) records, oldest first")
    }
}

/// `sluice message trace MESSAGE_ID`
struct MessageTraceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Show what happened to a message, oldest first (GET /v1/messages/ID/trace).",
        discussion: """
            One row per event: AT, EVENT (received, half-stored, committed, rolled-back, delivered, \
            acked, invisibility-changed, dead-lettered) and its details (client, \
            group, attempt, who resolved a transaction and why). Events are kept in the commit log, so \
            retention deletes them with the log; a broker started with --trace off records none.
            """)

    @Argument(help: ArgumentHelp("The message id.", valueName: "message-id"))
    var messageId: String

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let path = "v1/messages/" + AdminClient.pathSegment(messageId) + "/trace"
        let reply = try await TopicOutput.request(global) { client throws(CLIError) in try await client.get(path) }
        guard reply.status == 200, let object = reply.object, let events = object["events"] as? [[String: Any]] else {
            throw TopicOutput.failure(reply, global: global)
        }
        if global.json {
            print(TopicOutput.render(object))
            return
        }
        if events.isEmpty {
            let tracing = object["tracing"] as? Bool ?? true
            print("no trace events for \(messageId)" + (tracing ? "" : " (the broker runs with --trace off)"))
            return
        }
        print(MessageOutput.traceTable(events))
    }
}
