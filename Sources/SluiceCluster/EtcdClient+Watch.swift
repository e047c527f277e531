import EtcdWire
import Foundation
import GRPCCore

/// One change etcd reports on a watched key or prefix.
public struct EtcdEvent: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case put
        /// Deleted, or expired with its lease (etcd reports both as a delete).
        case delete
    }

    public var kind: Kind
    /// For a delete, the key with its value empty and `modRevision` the revision of the deletion.
    public var keyValue: EtcdKeyValue
}

extension EtcdClient {
    /// The changes to `key` (or to every key under it when `prefix`) from `startRevision` on, as
    /// etcd reports them over its Watch stream, one batch per revision.
    ///
    /// Pass the revision a read saw plus one, and nothing between the read and the watch is
    /// missed. The stream ends with `.watchCanceled` when etcd cancels the watch (a compacted start
    /// revision), with `.unavailable` when the connection fails, and quietly when the consumer
    /// stops iterating.
    public func watch(_ key: String, prefix: Bool = false, startRevision: Int64)
        -> AsyncThrowingStream<[EtcdEvent], any Error>
    {
        var create = Etcdserverpb_WatchCreateRequest()
        create.key = Data(key.utf8)
        if prefix { create.rangeEnd = Data(ClusterKeys.rangeEnd(ofPrefix: key)) }
        create.startRevision = startRevision
        var message = Etcdserverpb_WatchRequest()
        message.createRequest = create
        let request = message

        let (stream, continuation) = AsyncThrowingStream.makeStream(of: [EtcdEvent].self)
        let task = Task { [watcher, endpoints] in
            do {
                try await watcher.watch(
                    requestProducer: { writer in
                        try await writer.write(request)
                        // The request side stays open for the life of the watch; cancelling the
                        // task (the consumer went away) closes it.
                        while true { try await Task.sleep(for: .seconds(3600)) }
                    },
                    onResponse: { response in
                        for try await message in response.messages {
                            if message.canceled {
                                throw EtcdError(
                                    .watchCanceled,
                                    "etcd cancelled the watch on \(key): \(message.cancelReason) "
                                        + "(compacted at \(message.compactRevision))")
                            }
                            guard !message.events.isEmpty else { continue }
                            let events = message.events.map { event in
                                EtcdEvent(kind: event.type == .delete ? .delete : .put, keyValue: EtcdKeyValue(event.kv))
                            }
                            continuation.yield(events)
                        }
                        throw EtcdError(.unavailable, "etcd at \(endpoints) ended the watch on \(key)")
                    })
                continuation.finish()
            } catch let error as EtcdError {
                continuation.finish(throwing: error)
            } catch {
                if Task.isCancelled {
                    continuation.finish()
                } else {
                    continuation.finish(
                        throwing: EtcdError(.unavailable, "watch on \(key) failed at \(endpoints)", cause: error))
                }
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}
