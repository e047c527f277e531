import Metrics

/// swift-metrics instruments of the SDK, created once, with bounded labels. They report to
/// whatever backend the application bootstrapped (none by default).
enum ClientMetrics {
    static let sendsOK = Counter(label: "sluice_client_sends_total", dimensions: [("result", "ok")])
    static let sendsFailed = Counter(label: "sluice_client_sends_total", dimensions: [("result", "error")])
    static let sendRetries = Counter(label: "sluice_client_send_retries_total")
    static let sendDuration = Timer(label: "sluice_client_send_seconds")
    static let messagesReceived = Counter(label: "sluice_client_messages_received_total")
    static let acks = Counter(label: "sluice_client_acks_total")
    static let nacks = Counter(label: "sluice_client_nacks_total")
    static let checkCommit = Counter(label: "sluice_client_transaction_checks_total", dimensions: [("answer", "commit")])
    static let checkRollback = Counter(label: "sluice_client_transaction_checks_total", dimensions: [("answer", "rollback")])
    static let checkUnknown = Counter(label: "sluice_client_transaction_checks_total", dimensions: [("answer", "unknown")])
    static let telemetryReconnects = Counter(label: "sluice_client_telemetry_reconnects_total")
}
