/// Which producer client instances are connected now. Protocol-neutral: the gRPC layer answers
/// from its open Telemetry streams.
///
/// Both calls are synchronous and are made for every due transaction, so they must be cheap
/// (an in-memory lookup, no I/O).
public protocol ProducerDirectory: Sendable {
    /// Whether the client instance `clientId` is connected and can be sent a check.
    func isLive(clientId: String) -> Bool

    /// Other connected instances that can answer for a transaction of `producerGroup` on `topic`,
    /// in order of preference. RocketMQ 5's wire carries no producer group on sends, so an
    /// implementation may answer with the clients that publish `topic`; the checker does not
    /// care which. `producerGroup` is '' when the producer sent none.
    func liveClients(producerGroup: String, topic: String) -> [String]
}
