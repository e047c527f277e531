import Hummingbird
import Logging
import SluiceStorage
import SwiftProtobuf
import SluiceBroker
import SluiceHTTPWire
import SluiceProtocol

/// `DELETE /topics/{topic}/messages?consumer=[&trans=commit|rollback]` with a `<ReceiptHandles>`
/// body: acknowledges consumed messages, or (with `trans`) ends transactions. A partial failure
/// answers the protocol's `<Errors>` list naming each failed handle; the rest took effect.
extension HTTPAccessFront {
    func ack(_ request: Request, _ call: Call) async throws(HTTPAccessError) -> Response {
        let trans = call.query["trans"] ?? ""
        guard trans.isEmpty || trans == "commit" || trans == "rollback" else {
            throw .invalid("trans is '\(trans.prefix(16))'; an ack takes none, 'commit' or 'rollback'")
        }
        let group = try consumer(call)
        let needs: [AccessNeed] =
            trans.isEmpty ? [.subscribe(topic: call.topic), .subscribe(group: group)] : [.publish(topic: call.topic)]
        try await authorize(request, call: call, operation: trans.isEmpty ? "ack" : "end_transaction", needs)
        let bytes = try await body(request, limit: HTTPAccessLimits.maxHandlesBodyBytes)
        let handles: [String]
        do throws(HTTPWireError) {
            handles = try ReceiptHandlesBody.parse(bytes.readableBytesView)
        } catch {
            throw HTTPAccessError(error)
        }
        let results: [HTTPAccessError?]
        if trans.isEmpty {
            do throws(FrontRefusal) {
                results = try await service.ackChecked(
                    group: group, topic: call.topic, receiptHandles: handles, clientId: Self.consumerClientId
                ).map { $0.map(HTTPAccessError.init) }
            } catch {
                throw HTTPAccessError(error)
            }
        } else {
            var ended: [HTTPAccessError?] = []
            for handle in handles {
                ended.append(await end(handle, commit: trans == "commit", topic: call.topic))
            }
            results = ended
        }
        let failures = zip(handles, results).compactMap { handle, error in
            error.map { ResponseBodies.HandleError(code: $0.code, message: $0.message, receiptHandle: handle) }
        }
        guard failures.isEmpty else {
            // The SDK reads the `<Errors>` list for any 4xx status; 400 says "some handles failed".
            return xmlResponse(.badRequest, ResponseBodies.handleErrors(failures))
        }
        return Response(status: .noContent)
    }
}
