import ArgumentParser
import Foundation

/// `sluice user ...`: the users that sign gRPC requests when the broker runs with `--auth on`.
struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Create, list, update and delete users (access key and secret key).",
        discussion: """
            A user is what a RocketMQ 5 client's Credentials(accessKey, secretKey) name. A new user may do \
            nothing until `sluice acl grant` allows it. The secret key is read from a file or stdin, never \
            from the command line (which other users see in ps), and the broker never shows it again.
            """,
        subcommands: [UserCreateCommand.self, UserListCommand.self, UserUpdateCommand.self, UserDeleteCommand.self]
    )
}

/// Reads the secret key: the first line of `--secret-file` (`-` is stdin), trailing newline dropped.
struct SecretSource: ParsableArguments {
    @Option(help: ArgumentHelp(
        "File holding the secret key (8 to 256 visible ASCII characters); '-' reads stdin.", valueName: "path"))
    var secretFile: String

    func read() throws -> String {
        let data: Data
        if secretFile == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let contents = FileManager.default.contents(atPath: secretFile) else {
                throw CLIError(.failed, "--secret-file \(secretFile): cannot read it").exit()
            }
            data = contents
        }
        let text = String(decoding: data, as: UTF8.self)
        let secret = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first
            .map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        guard !secret.isEmpty else { throw CLIError(.failed, "--secret-file \(secretFile): no secret in it").exit() }
        return secret
    }
}

/// `sluice user create ACCESS_KEY --secret-file PATH`
struct UserCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a user (POST /v1/users); it has no permission until granted.")

    @Argument(help: ArgumentHelp("The access key: 1 to 128 of letters, digits and _ - . @", valueName: "access-key"))
    var accessKey: String
    @OptionGroup var secret: SecretSource
    @Option(help: ArgumentHelp("Your name for the audit trail (default: $USER).", valueName: "name"))
    var actor: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let body: [String: Any] = ["accessKey": accessKey, "secretKey": try secret.read()]
        let headers = ["X-Sluice-Actor": OperatorName.resolve(actor)]
        let (_, user) = try await TopicOutput.object(global, expecting: [201]) { client throws(CLIError) in
            try await client.send("POST", "v1/users", json: body, headers: headers)
        }
        print(global.json ? TopicOutput.render(user) : "created user \(accessKey); grant it permissions with `sluice acl grant`")
    }
}

/// `sluice user update ACCESS_KEY --secret-file PATH`: rotate the secret.
struct UserUpdateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Replace a user's secret key (PUT /v1/users/ACCESS_KEY); its permissions stay.",
        discussion: "Clients signing with the old secret are refused from the next request on.")

    @Argument(help: ArgumentHelp("The access key.", valueName: "access-key"))
    var accessKey: String
    @OptionGroup var secret: SecretSource
    @Option(help: ArgumentHelp("Your name for the audit trail (default: $USER).", valueName: "name"))
    var actor: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let body: [String: Any] = ["secretKey": try secret.read()]
        let headers = ["X-Sluice-Actor": OperatorName.resolve(actor)]
        let (_, user) = try await TopicOutput.object(global) { [accessKey] client throws(CLIError) in
            try await client.send("PUT", "v1/users/" + AdminClient.pathSegment(accessKey), json: body, headers: headers)
        }
        print(global.json ? TopicOutput.render(user) : "replaced the secret key of user \(accessKey)")
    }
}

/// `sluice user list`
struct UserListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List users (GET /v1/users); never secrets.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let (_, object) = try await TopicOutput.object(global) { client throws(CLIError) in try await client.get("v1/users") }
        let users = object["users"] as? [[String: Any]] ?? []
        if global.json {
            print(TopicOutput.render(object))
        } else if users.isEmpty {
            print("no users")
        } else {
            print(TxnOutput.table(
                header: ["ACCESS KEY", "CREATED", "UPDATED"],
                rows: users.map { [$0["accessKey"] as? String ?? "?", $0["createdAt"] as? String ?? "?", $0["updatedAt"] as? String ?? "?"] }))
        }
    }
}

/// `sluice user delete ACCESS_KEY`
struct UserDeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete a user and its permissions (DELETE /v1/users/ACCESS_KEY).")

    @Argument(help: ArgumentHelp("The access key.", valueName: "access-key"))
    var accessKey: String
    @Option(help: ArgumentHelp("Your name for the audit trail (default: $USER).", valueName: "name"))
    var actor: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let headers = ["X-Sluice-Actor": OperatorName.resolve(actor)]
        let reply = try await TopicOutput.request(global) { [accessKey] client throws(CLIError) in
            try await client.send("DELETE", "v1/users/" + AdminClient.pathSegment(accessKey), headers: headers)
        }
        guard reply.status == 204 else { throw TopicOutput.failure(reply, global: global) }
        print(global.json ? TopicOutput.render(["accessKey": accessKey, "deleted": true]) : "deleted user \(accessKey)")
    }
}
