import SluiceBroker
import SluiceTransactions
import SluiceWire

extension MessagingService {
    /// COMMIT or ROLLBACK from the producer or its answer to a check-back. An UNSPECIFIED answer
    /// to a check means "don't know yet": nothing changes and the checker asks again later.
    func endTransaction(_ request: Apache_Rocketmq_V2_EndTransactionRequest, clientId: String)
        async throws(ProtocolRefusal) -> Status
    {
        if request.transactionID.isEmpty {
            throw ProtocolRefusal(.invalidTransactionID, "transaction_id is empty")
        }
        try WireCheck.length(
            request.transactionID, atMost: WireLimits.transactionIdBytes, field: "transaction_id",
            code: .invalidTransactionID)
        try WireCheck.clientId(clientId)
        try WireCheck.messageId(request.messageID)
        if !request.topic.name.isEmpty { try WireCheck.topicName(request.topic.name) }
        let source: ResolutionSource = request.source == .sourceServerCheck ? .check : .producer
        let resolution: TransactionResolution
        switch request.resolution {
        case .commit: resolution = .commit
        case .rollback: resolution = .rollback
        default:
            if source == .check {
                return Status(.ok, "noted: the producer does not know yet; it will be asked again")
            }
            throw ProtocolRefusal(.badRequest, "resolution must be COMMIT or ROLLBACK; got \(request.resolution)")
        }
        guard let coordinator = handle.coordinator else {
            throw ProtocolRefusal(.internalError, "the broker is still starting (recovering its store); retry shortly")
        }
        do throws(BrokerError) {
            let outcome = try await coordinator.end(
                transactionId: request.transactionID, resolution: resolution, source: source,
                actor: clientId.isEmpty ? nil : clientId)
            return outcome == .applied ? .ok : Status(.ok, "already \(resolution == .commit ? "committed" : "rolled back")")
        } catch {
            throw ProtocolRefusal(error)
        }
    }
}
