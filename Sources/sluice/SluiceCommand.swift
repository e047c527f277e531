import ArgumentParser

/// `sluice`: the operator's CLI. It only talks to a broker's admin HTTP API, never to its files.
struct SluiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "Operate a Sluice broker through its admin HTTP API.",
        discussion: """
            Output is a human-readable table by default and JSON with --json. The exit status is 0 on \
            success, 1 when the broker answered but the check or request failed, and 2 when the admin \
            API could not be reached. A broker with an admin token wants it in --token or \
            SLUICE_ADMIN_TOKEN.
            """,
        subcommands: [
            HealthCommand.self, TopicCommand.self, GroupCommand.self, TxnCommand.self, MessageCommand.self, BenchCommand.self,
            UserCommand.self, AclCommand.self, ClusterCommand.self,
        ]
    )
}
