import EtcdWire
import GRPCCore
import Logging
import Synchronization

extension EtcdClient {
    /// Keeps `lease` alive over etcd's LeaseKeepAlive stream, renewing every third of its TTL, until
    /// the calling task is cancelled (then it throws `.cancelled`) or the lease is lost.
    ///
    /// The lease counts as lost, and this throws `.leaseLost`, when etcd answers a renewal with
    /// TTL ≤ 0 (it expired or was revoked), or when no renewal succeeded for a whole TTL (etcd
    /// unreachable that long has expired it by now, so whatever hung on it must be assumed gone).
    /// A broken stream within the TTL is simply reopened.
    public func keepAlive(_ lease: EtcdLease) async throws(EtcdError) {
        let ttl = Duration.seconds(max(1, lease.ttlSeconds))
        let interval = ttl / 3
        let lastRenewal = Mutex(ContinuousClock.now)
        func expiredByTime() -> Bool { ContinuousClock.now - lastRenewal.withLock { $0 } >= ttl }

        while true {
            if Task.isCancelled { throw EtcdError(.cancelled, "keep-alive of lease \(lease.id) cancelled") }
            do {
                try await leases.leaseKeepAlive(
                    requestProducer: { writer in
                        var request = Etcdserverpb_LeaseKeepAliveRequest()
                        request.id = lease.id
                        while true {
                            guard ContinuousClock.now - lastRenewal.withLock({ $0 }) < ttl else {
                                throw EtcdError(.leaseLost, "lease \(lease.id) not renewed for \(ttl)")
                            }
                            try await writer.write(request)
                            try await Task.sleep(for: interval)
                        }
                    },
                    onResponse: { response in
                        for try await message in response.messages {
                            guard message.ttl > 0 else {
                                throw EtcdError(.leaseLost, "etcd says lease \(lease.id) has expired or was revoked")
                            }
                            lastRenewal.withLock { $0 = ContinuousClock.now }
                        }
                    })
            } catch let error as EtcdError where error.code == .leaseLost {
                throw error
            } catch {
                if Task.isCancelled { throw EtcdError(.cancelled, "keep-alive of lease \(lease.id) cancelled") }
                logger.debug("lease keep-alive stream ended; reopening", metadata: ["error": "\(error)"])
            }
            if expiredByTime() {
                throw EtcdError(.leaseLost, "lease \(lease.id) not renewed for \(ttl): etcd unreachable")
            }
            do {
                try await Task.sleep(for: .milliseconds(200))
            } catch {
                throw EtcdError(.cancelled, "keep-alive of lease \(lease.id) cancelled")
            }
        }
    }
}
