import EtcdWire
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging

/// One key as etcd holds it.
public struct EtcdKeyValue: Sendable, Hashable {
    public var key: String
    public var value: [UInt8]
    /// The revision that created the key; stays the same over later puts until it is deleted.
    public var createRevision: Int64
    public var modRevision: Int64
    public var version: Int64
    /// The lease the key is attached to (0: none).
    public var lease: Int64

    init(_ kv: Mvccpb_KeyValue) {
        key = String(decoding: kv.key, as: UTF8.self)
        value = Array(kv.value)
        createRevision = kv.createRevision
        modRevision = kv.modRevision
        version = kv.version
        lease = kv.lease
    }
}

/// A lease etcd granted: keys attached to it vanish when it is not renewed within `ttlSeconds`.
public struct EtcdLease: Sendable, Hashable {
    public var id: Int64
    public var ttlSeconds: Int64
}

/// A client for etcd's v3 gRPC API (KV, Lease, Watch) on grpc-swift 2 with the NIO transport; the
/// code under it is generated from `proto/etcd` (`make generate`).
///
/// Every unary call has a deadline (`requestTimeout`), so a dead etcd is an `.unavailable` error,
/// not a hang. Nothing on the message path calls this: it is for registration, elections, routes
/// and ownership only.
public final class EtcdClient: Sendable {
    typealias Transport = HTTP2ClientTransport.Posix

    public let endpoints: EtcdEndpoints
    public let requestTimeout: Duration
    let kv: Etcdserverpb_KV.Client<Transport>
    let leases: Etcdserverpb_Lease.Client<Transport>
    let watcher: Etcdserverpb_Watch.Client<Transport>
    let logger: Logger

    private init(endpoints: EtcdEndpoints, requestTimeout: Duration, grpc: GRPCClient<Transport>, logger: Logger) {
        self.endpoints = endpoints
        self.requestTimeout = requestTimeout
        self.kv = .init(wrapping: grpc)
        self.leases = .init(wrapping: grpc)
        self.watcher = .init(wrapping: grpc)
        self.logger = logger
    }

    /// Connects to `endpoints`, runs `body`, then closes the connection.
    /// - Throws: `.invalidArgument` when the transport cannot be built, or what `body` throws.
    public static func withClient<T: Sendable>(
        endpoints: EtcdEndpoints, requestTimeout: Duration = .seconds(5),
        logger: Logger = Logger(label: "sluice.etcd"),
        _ body: (EtcdClient) async throws -> T
    ) async throws -> T {
        let transport: Transport
        do {
            transport = try HTTP2ClientTransport.Posix(target: endpoints.target, transportSecurity: .plaintext)
        } catch {
            throw EtcdError(.invalidArgument, "cannot dial \(endpoints)", cause: error)
        }
        let grpc = GRPCClient(transport: transport)
        let client = EtcdClient(endpoints: endpoints, requestTimeout: requestTimeout, grpc: grpc, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await grpc.runConnections() }
            let outcome: Result<T, any Error>
            do {
                outcome = .success(try await body(client))
            } catch {
                outcome = .failure(error)
            }
            grpc.beginGracefulShutdown()
            group.cancelAll()
            while let _ = try? await group.next() {}
            return try outcome.get()
        }
    }

    var unaryOptions: CallOptions {
        var options = CallOptions.defaults
        options.timeout = requestTimeout
        return options
    }

    /// Runs one call and turns whatever it throws into an `EtcdError` saying what was being done.
    func call<R: Sendable>(_ what: String, _ body: () async throws -> R) async throws(EtcdError) -> R {
        do {
            return try await body()
        } catch let error as EtcdError {
            throw error
        } catch let error as RPCError {
            switch error.code {
            case .unavailable, .deadlineExceeded, .cancelled:
                if Task.isCancelled { throw EtcdError(.cancelled, "\(what): cancelled", cause: error) }
                throw EtcdError(.unavailable, "\(what): etcd at \(endpoints) did not answer", cause: error)
            case .notFound where error.message.contains("lease not found"):
                throw EtcdError(.leaseLost, "\(what): \(error.message)", cause: error)
            default:
                throw EtcdError(.rejected, "\(what): \(error.message)", cause: error)
            }
        } catch is CancellationError {
            throw EtcdError(.cancelled, "\(what): cancelled")
        } catch {
            throw EtcdError(.unavailable, "\(what) failed", cause: error)
        }
    }

    // MARK: KV

    /// The key, or nil when it does not exist, with the store revision the read saw.
    public func get(_ key: String) async throws(EtcdError) -> (value: EtcdKeyValue?, revision: Int64) {
        var request = Etcdserverpb_RangeRequest()
        request.key = Data(key.utf8)
        let response = try await call("get \(key)") { try await kv.range(request, options: unaryOptions) }
        return (response.kvs.first.map(EtcdKeyValue.init), response.header.revision)
    }

    /// Every key under `prefix`, sorted by key, with the store revision the read saw (watch from
    /// `revision + 1` to miss nothing after it).
    ///
    /// Read in pages of `pageSize` keys, every page at the first page's revision, so the result is
    /// one consistent snapshot however large the prefix grows: one range answer for everything
    /// would pass grpc-swift's 4 MiB message limit at a few thousand topics' routes.
    public func list(prefix: String, pageSize: Int = 500) async throws(EtcdError) -> (values: [EtcdKeyValue], revision: Int64) {
        let rangeEnd = Data(ClusterKeys.rangeEnd(ofPrefix: prefix))
        var start = Data(prefix.utf8)
        var values: [EtcdKeyValue] = []
        var revision: Int64 = 0
        while true {
            var request = Etcdserverpb_RangeRequest()
            request.key = start
            request.rangeEnd = rangeEnd
            request.sortOrder = .ascend
            request.sortTarget = .key
            request.limit = Int64(max(1, pageSize))
            request.revision = revision  // 0 on the first page: the newest
            let response = try await call("list \(prefix)") { try await kv.range(request, options: unaryOptions) }
            if revision == 0 { revision = response.header.revision }
            values.append(contentsOf: response.kvs.map(EtcdKeyValue.init))
            guard response.more, let last = response.kvs.last else { break }
            start = last.key + Data([0])  // the smallest key after the last one read
        }
        return (values, revision)
    }

    /// Stores `value` under `key` (attached to `lease` unless 0); returns the new store revision.
    @discardableResult
    public func put(_ key: String, _ value: [UInt8], lease: Int64 = 0) async throws(EtcdError) -> Int64 {
        var request = Etcdserverpb_PutRequest()
        request.key = Data(key.utf8)
        request.value = Data(value)
        request.lease = lease
        let response = try await call("put \(key)") { try await kv.put(request, options: unaryOptions) }
        return response.header.revision
    }

    /// Deletes `key`; returns how many keys went (0 or 1).
    @discardableResult
    public func delete(_ key: String) async throws(EtcdError) -> Int64 {
        var request = Etcdserverpb_DeleteRangeRequest()
        request.key = Data(key.utf8)
        let response = try await call("delete \(key)") { try await kv.deleteRange(request, options: unaryOptions) }
        return response.deleted
    }

    /// One atomic compare-and-act (etcd's Txn).
    public func transaction(_ request: Etcdserverpb_TxnRequest, _ what: String) async throws(EtcdError)
        -> Etcdserverpb_TxnResponse
    {
        try await call(what) { try await kv.txn(request, options: unaryOptions) }
    }

    // MARK: leases

    /// Asks etcd for a lease of `ttlSeconds` (etcd may raise it to its minimum).
    public func grantLease(ttlSeconds: Int64) async throws(EtcdError) -> EtcdLease {
        var request = Etcdserverpb_LeaseGrantRequest()
        request.ttl = ttlSeconds
        let response = try await call("grant a \(ttlSeconds)s lease") {
            try await leases.leaseGrant(request, options: unaryOptions)
        }
        guard response.error.isEmpty else { throw EtcdError(.rejected, "grant lease: \(response.error)") }
        return EtcdLease(id: response.id, ttlSeconds: response.ttl)
    }

    /// Ends `lease` now: every key attached to it is deleted at once (a clean hand-over instead of
    /// waiting out the TTL).
    public func revokeLease(_ id: Int64) async throws(EtcdError) {
        var request = Etcdserverpb_LeaseRevokeRequest()
        request.id = id
        _ = try await call("revoke lease \(id)") { try await leases.leaseRevoke(request, options: unaryOptions) }
    }
}

extension Etcdserverpb_Compare {
    /// `key` does not exist (its create revision is 0).
    static func absent(_ key: String) -> Self {
        var compare = Self()
        compare.key = Data(key.utf8)
        compare.target = .create
        compare.result = .equal
        compare.createRevision = 0
        return compare
    }

    /// `key`'s last modification was at `revision` (0: the key does not exist).
    static func modified(_ key: String, at revision: Int64) -> Self {
        var compare = Self()
        compare.key = Data(key.utf8)
        compare.target = .mod
        compare.result = .equal
        compare.modRevision = revision
        return compare
    }

    /// `key` was created at `revision`: the same incarnation of the key, not a later one.
    static func created(_ key: String, at revision: Int64) -> Self {
        var compare = Self()
        compare.key = Data(key.utf8)
        compare.target = .create
        compare.result = .equal
        compare.createRevision = revision
        return compare
    }
}

extension Etcdserverpb_RequestOp {
    static func put(_ key: String, _ value: [UInt8], lease: Int64 = 0) -> Self {
        var put = Etcdserverpb_PutRequest()
        put.key = Data(key.utf8)
        put.value = Data(value)
        put.lease = lease
        var op = Self()
        op.requestPut = put
        return op
    }

    static func get(_ key: String) -> Self {
        var range = Etcdserverpb_RangeRequest()
        range.key = Data(key.utf8)
        var op = Self()
        op.requestRange = range
        return op
    }

    static func delete(_ key: String) -> Self {
        var delete = Etcdserverpb_DeleteRangeRequest()
        delete.key = Data(key.utf8)
        var op = Self()
        op.requestDeleteRange = delete
        return op
    }
}
