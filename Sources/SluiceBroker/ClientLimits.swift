/// Limits an operator sets (`--max-groups`, `--max-long-polls`, `--max-clients`): how much of
/// the broker's memory clients together may claim.
public struct ClientLimits: Sendable, Hashable {
    /// Consumer groups the broker creates on first use; explicit `sluice group create` is not
    /// counted against it.
    public var maxGroups: Int
    /// Receives and pulls parked waiting for messages at one time.
    public var maxLongPolls: Int
    /// Clients with an open Telemetry stream at one time.
    public var maxClients: Int

    public init(maxGroups: Int = 10_000, maxLongPolls: Int = 10_000, maxClients: Int = 10_000) {
        self.maxGroups = maxGroups
        self.maxLongPolls = maxLongPolls
        self.maxClients = maxClients
    }
}

extension ClientLimits {
    /// What each flag accepts: at least one, and no more than a million (each entry costs memory).
    public static let range = 1...1_000_000
}
