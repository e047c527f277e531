import GRPCCore
import NIOCore
import SwiftProtobuf

/// Routes from the generated service signatures: each decodes its request, calls the service,
/// and writes what the service answered.
extension FrontRoute {
    static func unary<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ descriptor: MethodDescriptor,
        _ handler: @escaping @Sendable (ServerRequest<Request>, ServerContext) async throws -> ServerResponse<Response>
    ) -> FrontRoute {
        FrontRoute(descriptor: descriptor, kind: .unary) { call in
            guard let request = decode(Request.self, call) else { return }
            do {
                let response = try await handler(ServerRequest(metadata: call.metadata, message: request), call.context)
                switch response.accepted {
                case .success(let contents):
                    call.responder.respond(
                        message: try contents.message.grpcFrame(), metadata: contents.metadata,
                        trailing: contents.trailingMetadata)
                case .failure(let error):
                    call.responder.refuse(GRPCStatusCode(error.code), error.message, metadata: error.metadata)
                }
            } catch {
                refuse(call, error)
            }
        }
    }

    static func serverStreaming<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ descriptor: MethodDescriptor,
        _ handler: @escaping @Sendable (ServerRequest<Request>, ServerContext) async throws -> StreamingServerResponse<Response>
    ) -> FrontRoute {
        FrontRoute(descriptor: descriptor, kind: .serverStreaming) { call in
            guard let request = decode(Request.self, call) else { return }
            await stream(call, Response.self) {
                try await handler(ServerRequest(metadata: call.metadata, message: request), call.context)
            }
        }
    }

    static func bidirectional<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ descriptor: MethodDescriptor,
        _ handler: @escaping @Sendable (StreamingServerRequest<Request>, ServerContext) async throws
            -> StreamingServerResponse<Response>
    ) -> FrontRoute {
        FrontRoute(descriptor: descriptor, kind: .bidirectional) { call in
            guard let requests = call.requests else { return }
            let consumed = call.consumed
            let messages = requests.map { buffer in
                consumed.subtract(buffer.readableBytes)
                do {
                    return try Request(grpcPayload: buffer)
                } catch {
                    throw RPCError(code: .invalidArgument, message: "cannot decode a \(Request.protoMessageName): \(error)")
                }
            }
            await stream(call, Response.self) {
                try await handler(
                    StreamingServerRequest(metadata: call.metadata, messages: RPCAsyncSequence(wrapping: messages)),
                    call.context)
            }
        }
    }

    private static func decode<Request: SwiftProtobuf.Message>(_: Request.Type, _ call: FrontCall) -> Request? {
        guard let buffer = call.request else {
            call.responder.refuse(.internalError, "the call carried no request message")
            return nil
        }
        do {
            return try Request(grpcPayload: buffer)
        } catch {
            call.responder.refuse(.invalidArgument, "cannot decode the request as \(Request.protoMessageName): \(error)")
            return nil
        }
    }

    private static func stream<Response: SwiftProtobuf.Message>(
        _ call: FrontCall, _: Response.Type,
        _ start: () async throws -> StreamingServerResponse<Response>
    ) async {
        let contents: StreamingServerResponse<Response>.Contents
        do {
            switch try await start().accepted {
            case .success(let accepted): contents = accepted
            case .failure(let error):
                call.responder.refuse(GRPCStatusCode(error.code), error.message, metadata: error.metadata)
                return
            }
        } catch {
            refuse(call, error)
            return
        }
        do {
            call.responder.startStream(metadata: contents.metadata)
            let trailing = try await contents.producer(RPCWriter(wrapping: FrontMessageWriter<Response>(responder: call.responder)))
            call.responder.finishStream(.ok, "", trailing: trailing)
        } catch let error as RPCError {
            call.responder.finishStream(GRPCStatusCode(error.code), error.message, trailing: error.metadata)
        } catch {
            call.responder.finishStream(.unknown, "\(error)")
        }
    }

    private static func refuse(_ call: FrontCall, _ error: any Error) {
        if let error = error as? RPCError {
            call.responder.refuse(GRPCStatusCode(error.code), error.message, metadata: error.metadata)
        } else if error is CancellationError {
            call.responder.refuse(.cancelled, "the call was cancelled")
        } else {
            call.responder.refuse(.unknown, "\(error)")
        }
    }
}
