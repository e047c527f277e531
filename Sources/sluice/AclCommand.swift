import ArgumentParser
import Foundation

/// `sluice acl ...`: what each user may do on topics and consumer groups.
struct AclCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acl",
        abstract: "Grant, list and revoke users' permissions on topics and groups.",
        discussion: """
            A rule allows or denies actions (pub: send; sub: receive, ack, offsets; admin: every action) \
            on a topic or group named exactly or by a prefix ending in '*' ('orders.*'; '*' alone is \
            everything). A matching deny always wins; with no matching allow, the request is refused.
            """,
        subcommands: [AclGrantCommand.self, AclListCommand.self, AclRevokeCommand.self]
    )
}

/// `--topic NAME|PREFIX*` or `--group NAME|PREFIX*`, exactly one.
struct AclResource: ParsableArguments {
    @Option(help: ArgumentHelp("A topic name, or a prefix ending in '*'.", valueName: "name|prefix*"))
    var topic: String?
    @Option(help: ArgumentHelp("A consumer group name, or a prefix ending in '*'.", valueName: "name|prefix*"))
    var group: String?
    @Flag(help: "A deny rule instead of an allow rule.")
    var deny = false

    func validate() throws {
        guard (topic == nil) != (group == nil) else { throw ValidationError("give exactly one of --topic and --group") }
    }

    var fields: [String: Any] {
        [
            "resourceType": topic != nil ? "topic" : "group", "resource": topic ?? group ?? "",
            "decision": deny ? "deny" : "allow",
        ]
    }
}

/// `sluice acl grant ACCESS_KEY (--topic X | --group X) --actions pub,sub,admin [--deny]`
struct AclGrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grant", abstract: "Allow (or with --deny, deny) actions to a user (POST /v1/acls).")

    @Argument(help: ArgumentHelp("The user's access key.", valueName: "access-key"))
    var accessKey: String
    @OptionGroup var resource: AclResource
    @Option(help: ArgumentHelp("Comma-separated: pub, sub, admin.", valueName: "actions"))
    var actions: String
    @Option(help: ArgumentHelp("Your name for the audit trail (default: $USER).", valueName: "name"))
    var actor: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        var body = resource.fields
        body["accessKey"] = accessKey
        body["actions"] = actions.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let headers = ["X-Sluice-Actor": OperatorName.resolve(actor)]
        let (_, object) = try await TopicOutput.object(global) { client throws(CLIError) in
            try await client.send("POST", "v1/acls", json: body, headers: headers)
        }
        if global.json {
            print(TopicOutput.render(object))
        } else if let acl = object["acl"] as? [String: Any] {
            print(AclOutput.table([acl]))
        }
    }
}

/// `sluice acl revoke ACCESS_KEY (--topic X | --group X) [--actions …] [--deny]`
struct AclRevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Remove actions (all without --actions) from a user's rule (POST /v1/acls/revoke).")

    @Argument(help: ArgumentHelp("The user's access key.", valueName: "access-key"))
    var accessKey: String
    @OptionGroup var resource: AclResource
    @Option(help: ArgumentHelp("Comma-separated: pub, sub, admin (default: the whole rule).", valueName: "actions"))
    var actions: String?
    @Option(help: ArgumentHelp("Your name for the audit trail (default: $USER).", valueName: "name"))
    var actor: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        var body = resource.fields
        body["accessKey"] = accessKey
        if let actions { body["actions"] = actions.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        let headers = ["X-Sluice-Actor": OperatorName.resolve(actor)]
        let (_, object) = try await TopicOutput.object(global) { client throws(CLIError) in
            try await client.send("POST", "v1/acls/revoke", json: body, headers: headers)
        }
        if global.json {
            print(TopicOutput.render(object))
        } else if let acl = object["acl"] as? [String: Any] {
            print(AclOutput.table([acl]))
        } else {
            print("rule removed")
        }
    }
}

/// `sluice acl list [ACCESS_KEY]`
struct AclListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List rules (GET /v1/acls).")

    @Argument(help: ArgumentHelp("Only this user's rules.", valueName: "access-key"))
    var accessKey: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let path = accessKey.map { "v1/acls?accessKey=" + AdminClient.pathSegment($0) } ?? "v1/acls"
        let (_, object) = try await TopicOutput.object(global) { client throws(CLIError) in try await client.get(path) }
        let acls = object["acls"] as? [[String: Any]] ?? []
        if global.json {
            print(TopicOutput.render(object))
        } else if acls.isEmpty {
            print("no rules")
        } else {
            print(AclOutput.table(acls))
        }
    }
}

enum AclOutput {
    static func table(_ acls: [[String: Any]]) -> String {
        TxnOutput.table(
            header: ["ACCESS KEY", "DECISION", "ACTIONS", "TYPE", "RESOURCE"],
            rows: acls.map { acl in
                [
                    acl["accessKey"] as? String ?? "?", acl["decision"] as? String ?? "?",
                    (acl["actions"] as? [String])?.joined(separator: ",") ?? "?", acl["resourceType"] as? String ?? "?",
                    acl["resource"] as? String ?? "?",
                ]
            })
    }
}
