import Metrics
import NIOConcurrencyHelpers
import SluiceWire

/// `sluice_requests_refused_total{rpc,code}`: requests answered with a refusal, by RPC and
/// RocketMQ code (MESSAGE_NOT_FOUND, an empty receive, is an answer, not a refusal). Both labels
/// come from fixed sets (the service's RPCs, the protocol's codes), so the series stay bounded
/// whatever clients send.
final class RefusalMetric: Sendable {
    static let shared = RefusalMetric()

    private let counters = NIOLockedValueBox<[String: Counter]>([:])

    func count(_ status: Apache_Rocketmq_V2_Status, rpc: String) {
        guard status.code != .ok, status.code != .messageNotFound else { return }
        let name = Self.rpcName(rpc)
        let code = Self.name(of: status.code)
        let key = name + "/" + code
        let counter = counters.withLockedValue { counters in
            if let existing = counters[key] { return existing }
            let created = Counter(label: "sluice_requests_refused_total", dimensions: [("rpc", name), ("code", code)])
            counters[key] = created
            return created
        }
        counter.increment()
    }

    /// The RPC's name as the proto spells it: `#function` gives "ackMessage(request:context:)".
    static func rpcName(_ rpc: String) -> String {
        let method = rpc.prefix(while: { $0 != "(" })
        return (method.first?.uppercased() ?? "") + method.dropFirst()
    }

    /// The code's name as the proto spells it (`ILLEGAL_TOPIC`); an unknown number stays a number.
    static func name(of code: Apache_Rocketmq_V2_Code) -> String {
        if case .UNRECOGNIZED(let value) = code { return String(value) }
        // camelCase to UPPER_SNAKE, keeping acronyms together: clientIDRequired → CLIENT_ID_REQUIRED.
        let characters = Array("\(code)")
        var result = ""
        for (index, character) in characters.enumerated() {
            if character.isUppercase, index > 0 {
                let previous = characters[index - 1]
                let next = index + 1 < characters.count ? characters[index + 1] : nil
                if previous.isLowercase || (previous.isUppercase && next?.isLowercase == true) { result += "_" }
            }
            result += character.uppercased()
        }
        return result
    }
}
