import ArgumentParser
import Foundation

/// `sluice txn ...`: find stuck transactions, inspect one, resolve it by hand.
struct TxnCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "txn",
        abstract: "Find, inspect and resolve transactions (half messages).",
        discussion: """
            A transactional message stays invisible (prepared) until its producer commits or rolls it \
            back, or answers a check-back. One that is never decided gets parked after the maximum \
            number of checks. 'sluice txn list --older-than 5m' finds the stuck ones; 'sluice txn show' \
            tells why (check history); 'sluice txn resolve' decides for the producer, audited with your \
            name and reason. Exit status: 0 on success, 1 when the broker refused the request, 2 when \
            the admin API cannot be reached.
            """,
        subcommands: [TxnListCommand.self, TxnShowCommand.self, TxnResolveCommand.self]
    )
}

/// The states `--state` accepts, as the admin API spells them.
enum TxnStateArgument: String, CaseIterable, ExpressibleByArgument {
    case prepared, parked, committed
    case rolledBack = "rolled-back"

    init?(argument: String) {
        self.init(rawValue: argument.lowercased().replacingOccurrences(of: "_", with: "-"))
    }
}

/// `sluice txn list [--state S] [--older-than D] [--group G] [--topic T] [--limit N] [--all]`
struct TxnListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List transactions, oldest first (GET /v1/transactions).",
        discussion: """
            Shows ID, STATE, AGE, TOPIC, CLIENT (the producer instance that sent it and gets the \
            check-backs), CHECKS (check-backs sent) and NEXT CHECK. Filters combine with AND. \
            For stuck transactions: sluice txn list --state prepared --older-than 5m. \
            One page of --limit rows is printed; --all follows the pages to the end.
            """
    )

    @Option(help: ArgumentHelp("Only transactions in this state.", valueName: "prepared|parked|committed|rolled-back"))
    var state: TxnStateArgument?

    @Option(help: ArgumentHelp(
        "Only transactions created more than this long ago: a whole number and a unit (500ms, 60s, 5m, 1h).",
        valueName: "duration"))
    var olderThan: String?

    @Option(help: ArgumentHelp("Only transactions of this producer group.", valueName: "group"))
    var group: String?

    @Option(help: ArgumentHelp("Only transactions whose message targets this topic.", valueName: "topic"))
    var topic: String?

    @Option(help: ArgumentHelp("Rows per page, 1 to 1000 (the broker's default is 50).", valueName: "n"))
    var limit: Int?

    @Flag(help: "Follow the pages until every matching transaction is printed.")
    var all = false

    @Option(help: ArgumentHelp("Start after this cursor (the nextCursor of a previous --json page).", valueName: "cursor"))
    var cursor: String?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let olderThan, !TxnOutput.isDuration(olderThan) {
            throw ValidationError(
                "--older-than: expected a whole number and a unit (ms, s, m, h) such as 500ms, 60s, 5m or 1h; got '\(olderThan)'")
        }
        if let limit, !(1...1000).contains(limit) {
            throw ValidationError("--limit: expected 1 to 1000; got \(limit)")
        }
    }

    func run() async throws {
        var transactions: [[String: Any]] = []
        var next = cursor
        var lastObject: [String: Any] = [:]
        repeat {
            let path = listPath(cursor: next)
            let reply = try await TopicOutput.request(global) { client throws(CLIError) in try await client.get(path) }
            guard reply.status == 200, let object = reply.object, let page = object["transactions"] as? [[String: Any]]
            else {
                throw TopicOutput.failure(reply, global: global)
            }
            transactions += page
            lastObject = object
            next = object["nextCursor"] as? String
        } while all && next != nil

        if global.json {
            var object = lastObject
            object["transactions"] = transactions
            object["nextCursor"] = next ?? NSNull()
            print(TopicOutput.render(object))
            return
        }
        if transactions.isEmpty {
            print("no transactions match\(describeFilters())")
            return
        }
        print(TxnOutput.listTable(transactions, now: Date()))
        let count = transactions.count == 1 ? "1 transaction" : "\(transactions.count) transactions"
        if let next {
            print("\(count) shown, oldest first; more match: add --all, or --cursor \(next)")
        } else {
            print("\(count), oldest first")
        }
    }

    /// `v1/transactions?...` with the filters, the page size and the cursor, percent-encoded.
    func listPath(cursor: String?) -> String {
        var components = URLComponents()
        var items: [URLQueryItem] = []
        if let state { items.append(URLQueryItem(name: "state", value: state.rawValue)) }
        if let olderThan { items.append(URLQueryItem(name: "olderThan", value: olderThan)) }
        if let group { items.append(URLQueryItem(name: "group", value: group)) }
        if let topic { items.append(URLQueryItem(name: "topic", value: topic)) }
        if let limit { items.append(URLQueryItem(name: "limit", value: "\(limit)")) }
        if let cursor { items.append(URLQueryItem(name: "cursor", value: cursor)) }
        components.queryItems = items
        var query = components.percentEncodedQuery ?? ""
        // '+' would read as a space in some servers; encode it.
        query = query.replacingOccurrences(of: "+", with: "%2B")
        return "v1/transactions" + (query.isEmpty ? "" : "?" + query)
    }

    private func describeFilters() -> String {
        var parts: [String] = []
        if let state { parts.append("state \(state.rawValue)") }
        if let olderThan { parts.append("older than \(olderThan)") }
        if let group { parts.append("group \(group)") }
        if let topic { parts.append("topic \(topic)") }
        return parts.isEmpty ? "" : " (" + parts.joined(separator: ", ") + ")"
    }
}

/// `sluice txn show TXN_ID`
struct TxnShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one transaction with its check history and audit trail (GET /v1/transactions/ID).",
        discussion: "Fails (TRANSACTION_NOT_FOUND, exit 1) when there is no such transaction.")

    @Argument(help: ArgumentHelp("The transaction id (the ID column of 'sluice txn list').", valueName: "txn-id"))
    var transactionId: String

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let path = "v1/transactions/" + AdminClient.pathSegment(transactionId)
        let reply = try await TopicOutput.request(global) { client throws(CLIError) in try await client.get(path) }
        guard reply.status == 200, let object = reply.object else {
            throw TopicOutput.failure(reply, global: global)
        }
        print(global.json ? TopicOutput.render(object) : TxnOutput.detail(object, now: Date()))
    }
}

/// Which way `resolve` decides.
enum TxnResolution: String, EnumerableFlag {
    case commit, rollback

    static func help(for value: TxnResolution) -> ArgumentHelp? {
        switch value {
        case .commit: return ArgumentHelp("Commit: the message becomes visible to consumers.")
        case .rollback: return ArgumentHelp("Roll back: the message is discarded.")
        }
    }
}

/// `sluice txn resolve TXN_ID --commit|--rollback --reason TEXT [--actor NAME]`
struct TxnResolveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve",
        abstract: "Commit or roll back a transaction by hand (POST /v1/transactions/ID/resolve).",
        discussion: """
            Decides for a producer that cannot: a commit makes the message visible, a rollback \
            discards it. The decision is final and audited with --actor and --reason. Repeating the \
            same decision changes nothing; the opposite of a decision that stands fails \
            (TRANSACTION_CONFLICT, exit 1), as does an unknown id (TRANSACTION_NOT_FOUND).
            """
    )

    @Argument(help: ArgumentHelp("The transaction id (the ID column of 'sluice txn list').", valueName: "txn-id"))
    var transactionId: String

    @Flag(help: "The decision; exactly one is required.")
    var resolution: TxnResolution

    @Option(help: ArgumentHelp("Why you decide; required, kept in the audit trail.", valueName: "text"))
    var reason: String

    @Option(help: ArgumentHelp("Your name for the audit trail (default: $USER, else your login name).", valueName: "name"))
    var actor: String?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw ValidationError("--reason: must not be blank; say why (it is audited)")
        }
    }

    func run() async throws {
        let name = OperatorName.resolve(actor)
        let path = "v1/transactions/" + AdminClient.pathSegment(transactionId) + "/resolve"
        let body: [String: Any] = ["resolution": resolution.rawValue, "reason": reason]
        let reply = try await TopicOutput.request(global) { client throws(CLIError) in
            try await client.send("POST", path, json: body, headers: ["X-Sluice-Actor": name])
        }
        guard reply.status == 200, let object = reply.object,
            let transaction = object["transaction"] as? [String: Any]
        else {
            throw TopicOutput.failure(reply, global: global)
        }
        if global.json {
            print(TopicOutput.render(object))
            return
        }
        print(TxnOutput.listTable([transaction], now: Date()))
        let state = transaction["state"] as? String ?? "?"
        if object["outcome"] as? String == "alreadyResolved" {
            print("transaction \(transactionId) was already \(state); nothing changed")
        } else {
            print("transaction \(transactionId) is now \(state) (by \(name): \(reason))")
        }
    }
}
