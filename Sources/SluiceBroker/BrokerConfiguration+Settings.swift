import Logging
import SluiceTransactions

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension BrokerConfiguration {
    /// Limits on what the broker accepts, with the reason each one exists.
    enum Limits {
        /// The storage engine's minimum segment size.
        static let segmentSizeBytes = 4096...(2 << 30)
        static let port = 0...65535
        static let transactionCheckMax = 1...10_000
        /// Ten years: a larger number is a typo, not a policy.
        static let retentionHours = 1...(24 * 365 * 10)
        /// A guessable token is no protection; 16 characters is 96 bits of base64.
        static let adminTokenBytes = 16...4096
        /// etcd refuses TTLs below its minimum (about 2 s with default timing); above a minute a
        /// dead leader blocks its group too long.
        static let etcdLeaseTTLSeconds = 2...60
        /// A group of more than 7 copies every byte 6 times over the network for no gain in safety
        /// a broker operator asks for; 1 is a single broker.
        static let replicas = 1...7
        /// Below 100 ms a fsync on a busy follower fails sends; above a minute a client gives up first.
        static let replicationTimeout: ClosedRange<Duration> = .milliseconds(100) ... .seconds(60)
        /// Held halves are invisible to listings and checks; seconds are already a long blind spot.
        static let transactionHold: ClosedRange<Duration> = .zero ... .seconds(5)
        /// An MQTT fixed header's remaining length stops at 268,435,455 bytes (§2.2.3); below
        /// 128 bytes not even a CONNECT with credentials fits.
        static let mqttPacketBytes = 128...268_435_460
        /// Every in-flight delivery is a claimed message and a packet id held in memory.
        static let mqttInflight = 1...1024
        static let mqttQueued = 0...10_000_000
    }

    /// Reads `value` as `setting` and stores it.
    /// - Throws: `.invalidConfiguration` naming the flag, variable or file key, and what was expected.
    public mutating func apply(
        _ setting: BrokerSetting, _ value: String, from source: SettingSource
    ) throws(BrokerError) {
        func invalid(_ reason: String) -> BrokerError {
            BrokerError(.invalidConfiguration, "\(source.name(of: setting)): \(reason)")
        }
        func parsed<T>(_ result: Result<T, ParseFailure>) throws(BrokerError) -> T {
            switch result {
            case .success(let value): return value
            case .failure(let failure): throw invalid(failure.reason)
            }
        }
        func integer(in range: ClosedRange<Int>) throws(BrokerError) -> Int {
            guard let number = Int(value), range.contains(number) else {
                throw invalid("expected a whole number from \(range.lowerBound) to \(range.upperBound); got '\(value)'")
            }
            return number
        }
        func positiveDuration() throws(BrokerError) -> Duration {
            let duration = try parsed(DurationParser.parse(value))
            guard duration > .zero else { throw invalid("must be longer than zero; got '\(value)'") }
            return duration
        }
        /// A broker group or node id: one segment of an etcd key, readable in logs and tables.
        func clusterName() throws(BrokerError) -> String {
            guard (1...64).contains(value.utf8.count),
                value.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || $0 == 0x2D || $0 == 0x2E || $0 == 0x5F })
            else {
                throw invalid("expected 1 to 64 letters, digits, '.', '-' or '_'; got '\(value)'")
            }
            return value
        }
        func ipAddress() throws(BrokerError) -> String {
            guard Self.isIPAddress(value) else {
                throw invalid("expected an IPv4 or IPv6 address such as 127.0.0.1, 0.0.0.0 or ::1; got '\(value)'")
            }
            return value
        }

        switch setting {
        case .dataDir:
            guard !value.isEmpty else { throw invalid("must not be empty") }
            dataDirectory = value
        case .grpcHost: grpcHost = try ipAddress()
        case .grpcPort: grpcPort = try integer(in: Limits.port)
        case .adminHost: adminHost = try ipAddress()
        case .adminPort: adminPort = try integer(in: Limits.port)
        case .httpPort: httpPort = try integer(in: Limits.port)
        case .mqttPort: mqttPort = try integer(in: Limits.port)
        case .mqttMaxPacketSize:
            let bytes = try parsed(ByteSizeParser.parse(value))
            guard Limits.mqttPacketBytes.contains(bytes) else {
                throw invalid("\(value) is out of range; an MQTT packet is 128 bytes to 256MiB (§2.2.3)")
            }
            mqttMaxPacketBytes = bytes
        case .mqttMaxInflight: mqttMaxInflight = try integer(in: Limits.mqttInflight)
        case .mqttMaxQueued: mqttMaxQueued = try integer(in: Limits.mqttQueued)
        case .flush:
            guard let mode = FlushMode(rawValue: value) else {
                throw invalid("expected sync or async; got '\(value)'")
            }
            flushMode = mode
        case .flushInterval: asyncFlushInterval = try positiveDuration()
        case .transactionTimeout: transactionTimeout = try positiveDuration()
        case .transactionCheckInterval: transactionCheckInterval = try positiveDuration()
        case .transactionCheckMax: transactionCheckMax = try integer(in: Limits.transactionCheckMax)
        case .transactionHold:
            let hold = value == "0" ? .zero : try parsed(DurationParser.parse(value))
            guard Limits.transactionHold.contains(hold) else {
                throw invalid("expected 0 (off) to 5s; got '\(value)'")
            }
            transactionHold = hold
        case .transactionEndFlush:
            guard let mode = TransactionEndFlush(rawValue: value) else {
                throw invalid("expected deferred or sync; got '\(value)'")
            }
            transactionEndFlush = mode
        case .segmentSize:
            let bytes = try parsed(ByteSizeParser.parse(value))
            guard Limits.segmentSizeBytes.contains(bytes) else {
                throw invalid(
                    "\(value) is out of range; a segment is 4KiB to 2GiB (the storage engine keeps sizes in 32 bits)")
            }
            segmentSizeBytes = bytes
        case .retentionHours: retentionHours = try integer(in: Limits.retentionHours)
        case .logLevel:
            guard let level = Logger.Level(rawValue: value) else {
                let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
                throw invalid("expected one of \(levels); got '\(value)'")
            }
            logLevel = level
        case .adminToken:
            // It travels in an HTTP header: visible ASCII only, no spaces.
            guard value.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                throw invalid("expected visible ASCII characters without spaces")
            }
            guard Limits.adminTokenBytes.contains(value.utf8.count) else {
                throw invalid(
                    "a token is \(Limits.adminTokenBytes.lowerBound) to \(Limits.adminTokenBytes.upperBound) characters; "
                        + "got \(value.utf8.count) (try: openssl rand -hex 24)")
            }
            adminToken = value
        case .trace:
            switch value {
            case "on": traceEnabled = true
            case "off": traceEnabled = false
            default: throw invalid("expected on or off; got '\(value)'")
            }
        case .transactionCheckExhausted:
            switch value {
            case "park": checkBudgetPolicy = .park
            case "rollback": checkBudgetPolicy = .rollback
            default: throw invalid("expected park or rollback; got '\(value)'")
            }
        case .autoCreateGroups:
            switch value {
            case "on": autoCreateGroups = true
            case "off": autoCreateGroups = false
            default: throw invalid("expected on or off; got '\(value)'")
            }
        case .grpcServer:
            guard let server = GRPCServerKind(rawValue: value) else {
                throw invalid("expected direct or grpc-swift; got '\(value)'")
            }
            grpcServer = server
        case .grpcMaxConnections, .grpcMaxConcurrentStreams, .grpcMaxInflightRequests, .grpcMaxBufferedRequestBytes:
            try applyFrontDoor(setting, value, invalid: invalid)
        case .maxGroups: clientLimits.maxGroups = try integer(in: ClientLimits.range)
        case .maxLongPolls: clientLimits.maxLongPolls = try integer(in: ClientLimits.range)
        case .maxClients: clientLimits.maxClients = try integer(in: ClientLimits.range)
        case .auth:
            switch value {
            case "on": authEnabled = true
            case "off": authEnabled = false
            default: throw invalid("expected on or off; got '\(value)'")
            }
        case .authMaxClockSkew:
            let skew = try parsed(DurationParser.parse(value))
            authMaxClockSkew = skew > .zero ? skew : nil
        case .bootstrapUserFile:
            guard !value.isEmpty else { throw invalid("must not be empty") }
            bootstrapUserFile = value
        case .replicationSecretFile:
            guard !value.isEmpty else { throw invalid("must not be empty") }
            guard access(value, R_OK) == 0 else { throw invalid("cannot read \(value)") }
            replicationSecretFile = value
        case .tlsCert, .tlsKey, .tlsClientCa, .adminTlsCert, .adminTlsKey, .replicationTlsCert, .replicationTlsKey, .replicationTlsCa:
            guard !value.isEmpty else { throw invalid("must not be empty") }
            guard access(value, R_OK) == 0 else { throw invalid("cannot read \(value)") }
            tlsPaths[setting] = value
            applyTLSPaths()
        case .etcd:
            let entries = value.split(separator: ",", omittingEmptySubsequences: false)
            guard !value.isEmpty, entries.allSatisfy({ !$0.isEmpty && !$0.contains(" ") }) else {
                throw invalid("expected http://HOST:PORT[,http://HOST:PORT...]; got '\(value)'")
            }
            cluster = ClusterSettings(etcdEndpoints: value)
        case .brokerGroup: brokerGroup = try clusterName()
        case .nodeId: nodeID = try clusterName()
        case .advertiseHost:
            guard !value.isEmpty, value.utf8.count <= 253,
                value.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-:_".unicodeScalars.contains($0) })
            else {
                throw invalid("expected a host name or IP address; got '\(value)'")
            }
            advertiseHost = value
        case .etcdLeaseTtl:
            let duration = try parsed(DurationParser.parse(value))
            let (seconds, attoseconds) = duration.components
            guard attoseconds == 0, Limits.etcdLeaseTTLSeconds.contains(Int(seconds)) else {
                throw invalid("expected whole seconds from 2s to 60s (etcd's minimum TTL is about 2s); got '\(value)'")
            }
            etcdLeaseTTLSeconds = Int(seconds)
        case .replicas: replicas = try integer(in: Limits.replicas)
        case .replication:
            guard let mode = ReplicationModeSetting(rawValue: value) else { throw invalid("expected sync or async; got '\(value)'") }
            replicationMode = mode
        case .replicationTimeout:
            let duration = try parsed(DurationParser.parse(value))
            guard Limits.replicationTimeout.contains(duration) else {
                throw invalid("expected 100ms to 60s; got '\(value)'")
            }
            replicationTimeout = duration
        case .replicationPort: replicationPort = try integer(in: Limits.port)
        }
    }

    /// Checks that settings agree with each other (each one alone was checked by `apply`).
    /// - Throws: `.invalidConfiguration`.
    public func validate() throws(BrokerError) {
        try validateTLS()
        if grpcPort != 0, grpcPort == adminPort, grpcHost == adminHost {
            throw BrokerError(
                .invalidConfiguration,
                "--grpc-port and --admin-port are both \(grpcPort) on \(grpcHost); they need different ports")
        }
        if let httpPort, httpPort != 0, grpcHost == adminHost ? httpPort == adminPort || httpPort == grpcPort : httpPort == grpcPort {
            throw BrokerError(
                .invalidConfiguration, "--http-port \(httpPort) is already taken by --grpc-port or --admin-port; it needs its own port")
        }
        if let mqttPort, mqttPort != 0,
            mqttPort == grpcPort || mqttPort == httpPort || (grpcHost == adminHost && mqttPort == adminPort)
        {
            throw BrokerError(
                .invalidConfiguration,
                "--mqtt-port \(mqttPort) is already taken by --grpc-port, --http-port or --admin-port; it needs its own port")
        }
        if adminToken == nil, !Self.isLoopbackAddress(adminHost) {
            throw BrokerError(
                .invalidConfiguration,
                "--admin-host \(adminHost) is not a loopback address, so the admin API needs a token: set "
                    + "\(BrokerSetting.adminToken.environmentVariable) (or admin-token in the config file, or "
                    + "--admin-token); clients send it as 'Authorization: Bearer <token>'")
        }
        if replicas > 1, cluster == nil {
            throw BrokerError(
                .invalidConfiguration,
                "--replicas \(replicas) needs --etcd: the group's leader is elected there")
        }
        if replicas > 1, replicationPort != 0, replicationPort == grpcPort || replicationPort == adminPort {
            throw BrokerError(
                .invalidConfiguration,
                "--replication-port \(replicationPort) is also the gRPC or admin port; it needs a port of its own")
        }
    }

    /// True for 127.0.0.0/8, ::1 and IPv4-mapped 127.x (`::ffff:127.0.0.1`): addresses only this
    /// machine can reach. `0.0.0.0` and `::` listen on every interface, so they are not.
    public static func isLoopbackAddress(_ text: String) -> Bool {
        var ipv4 = in_addr()
        if inet_pton(AF_INET, text, &ipv4) == 1 {
            return UInt32(bigEndian: ipv4.s_addr) >> 24 == 127
        }
        var ipv6 = in6_addr()
        guard inet_pton(AF_INET6, text, &ipv6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: ipv6) { Array($0) }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
        let mapped = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
        return mapped && bytes[12] == 127
    }

    static func isIPAddress(_ text: String) -> Bool {
        var ipv4 = in_addr()
        var ipv6 = in6_addr()
        return inet_pton(AF_INET, text, &ipv4) == 1 || inet_pton(AF_INET6, text, &ipv6) == 1
    }
}
