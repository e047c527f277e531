import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import SluiceAdmin
import SluiceBroker
import SluiceCluster
import SluiceFront
import SluiceHTTPAccess
import SluiceMQTTAccess
import SluiceProtocol
import SluiceStorage
import SluiceTransactions
import UnixSignals

/// `sluice-broker`: parses flags, merges them with the config file and environment, and runs the
/// store, the gRPC endpoint and the admin API in one `ServiceGroup` until SIGTERM or SIGINT.
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice-broker",
        abstract: "A transactional message broker speaking Apache RocketMQ 5's gRPC protocol.",
        discussion: """
            Every setting can also come from a JSON config file (--config FILE or SLUICE_CONFIG) whose keys \
            are the flag names without dashes, e.g. {"data-dir": "/var/lib/sluice", "grpc-port": 8081}, \
            and from environment variables named SLUICE_ plus the flag in upper case with underscores \
            (SLUICE_DATA_DIR, SLUICE_GRPC_PORT, ...). Precedence: flags, then environment, then the file, \
            then the defaults. Durations are a whole number and a unit: 500ms, 6s, 2m, 1h.

            The broker prints one line per listening endpoint to stdout. SIGTERM or SIGINT stops it \
            gracefully: listeners close first, then the commit log is synced and closed.
            """
    )

    @Option(help: help(.dataDir, "path")) var dataDir: String?
    @Option(help: help(.grpcHost, "address")) var grpcHost: String?
    @Option(help: help(.grpcPort, "port")) var grpcPort: String?
    @Option(help: help(.adminHost, "address")) var adminHost: String?
    @Option(help: help(.adminPort, "port")) var adminPort: String?
    @Option(help: help(.flush, "sync|async")) var flush: String?
    @Option(help: help(.flushInterval, "duration")) var flushInterval: String?
    @Option(help: help(.transactionTimeout, "duration")) var transactionTimeout: String?
    @Option(help: help(.transactionCheckInterval, "duration")) var transactionCheckInterval: String?
    @Option(help: help(.transactionCheckMax, "count")) var transactionCheckMax: String?
    @Option(help: help(.segmentSize, "bytes")) var segmentSize: String?
    @Option(help: help(.retentionHours, "hours")) var retentionHours: String?
    @Option(help: help(.logLevel, "level")) var logLevel: String?
    @Option(help: help(.adminToken, "token")) var adminToken: String?
    @Option(help: help(.trace, "on|off")) var trace: String?
    @Option(help: help(.transactionCheckExhausted, "park|rollback")) var transactionCheckExhausted: String?
    @Option(help: help(.transactionHold, "duration")) var transactionHold: String?
    @Option(help: help(.transactionEndFlush, "deferred|sync")) var transactionEndFlush: String?
    @Option(help: help(.autoCreateGroups, "on|off")) var autoCreateGroups: String?
    @Option(help: help(.grpcServer, "direct|grpc-swift")) var grpcServer: String?
    @Option(help: help(.grpcMaxConnections, "count")) var grpcMaxConnections: String?
    @Option(help: help(.grpcMaxConcurrentStreams, "count")) var grpcMaxConcurrentStreams: String?
    @Option(help: help(.grpcMaxInflightRequests, "count")) var grpcMaxInflightRequests: String?
    @Option(help: help(.grpcMaxBufferedRequestBytes, "bytes")) var grpcMaxBufferedRequestBytes: String?
    @Option(help: help(.maxGroups, "count")) var maxGroups: String?
    @Option(help: help(.maxLongPolls, "count")) var maxLongPolls: String?
    @Option(help: help(.maxClients, "count")) var maxClients: String?
    @Option(help: help(.auth, "on|off")) var auth: String?
    @Option(help: help(.authMaxClockSkew, "duration")) var authMaxClockSkew: String?
    @Option(help: help(.bootstrapUserFile, "path")) var bootstrapUserFile: String?
    @Option(help: help(.tlsCert, "path")) var tlsCert: String?
    @Option(help: help(.tlsKey, "path")) var tlsKey: String?
    @Option(help: help(.tlsClientCa, "path")) var tlsClientCa: String?
    @Option(help: help(.adminTlsCert, "path")) var adminTlsCert: String?
    @Option(help: help(.adminTlsKey, "path")) var adminTlsKey: String?
    @Option(help: help(.etcd, "urls")) var etcd: String?
    @Option(help: help(.brokerGroup, "name")) var brokerGroup: String?
    @Option(help: help(.nodeId, "name")) var nodeId: String?
    @Option(help: help(.advertiseHost, "host")) var advertiseHost: String?
    @Option(help: help(.etcdLeaseTtl, "duration")) var etcdLeaseTtl: String?
    @Option(help: help(.httpPort, "port")) var httpPort: String?
    @Option(help: help(.replicas, "count")) var replicas: String?
    @Option(help: help(.replication, "sync|async")) var replication: String?
    @Option(help: help(.replicationTimeout, "duration")) var replicationTimeout: String?
    @Option(help: help(.replicationPort, "port")) var replicationPort: String?
    @Option(help: help(.replicationSecretFile, "path")) var replicationSecretFile: String?
    @Option(help: help(.replicationTlsCert, "path")) var replicationTlsCert: String?
    @Option(help: help(.replicationTlsKey, "path")) var replicationTlsKey: String?
    @Option(help: help(.replicationTlsCa, "path")) var replicationTlsCa: String?
    @Option(help: help(.mqttPort, "port")) var mqttPort: String?
    @Option(help: help(.mqttMaxPacketSize, "bytes")) var mqttMaxPacketSize: String?
    @Option(help: help(.mqttMaxInflight, "count")) var mqttMaxInflight: String?
    @Option(help: help(.mqttMaxQueued, "count")) var mqttMaxQueued: String?
    @Option(help: ArgumentHelp("A JSON config file; flags and SLUICE_* variables override it.", valueName: "file"))
    var config: String?
    @Flag(help: "Print the effective configuration (defaults, file, environment and flags merged) as JSON and exit.")
    var printConfig = false

    /// Collected only to explain them: see `StrayArgument`.
    @Argument(parsing: .allUnrecognized, help: .hidden) var strayArguments: [String] = []

    func validate() throws {
        if let stray = strayArguments.first {
            throw ValidationError(StrayArgument.message(for: stray, in: Array(CommandLine.arguments.dropFirst())))
        }
    }

    /// Flags are read as text so that all three sources go through one parser with one set of
    /// error messages (see `BrokerConfiguration.apply`).
    private var flags: [BrokerSetting: String] {
        let given: [BrokerSetting: String?] = [
            .dataDir: dataDir, .grpcHost: grpcHost, .grpcPort: grpcPort, .adminHost: adminHost,
            .adminPort: adminPort, .flush: flush, .flushInterval: flushInterval,
            .transactionTimeout: transactionTimeout, .transactionCheckInterval: transactionCheckInterval,
            .transactionCheckMax: transactionCheckMax, .segmentSize: segmentSize,
            .retentionHours: retentionHours, .logLevel: logLevel, .adminToken: adminToken, .trace: trace,
            .transactionCheckExhausted: transactionCheckExhausted, .transactionHold: transactionHold, .transactionEndFlush: transactionEndFlush, .autoCreateGroups: autoCreateGroups,
            .grpcServer: grpcServer, .grpcMaxConnections: grpcMaxConnections, .grpcMaxConcurrentStreams: grpcMaxConcurrentStreams,
            .grpcMaxInflightRequests: grpcMaxInflightRequests, .grpcMaxBufferedRequestBytes: grpcMaxBufferedRequestBytes,
            .maxGroups: maxGroups, .maxLongPolls: maxLongPolls, .maxClients: maxClients,
            .auth: auth, .authMaxClockSkew: authMaxClockSkew, .bootstrapUserFile: bootstrapUserFile, .tlsCert: tlsCert,
            .tlsKey: tlsKey, .tlsClientCa: tlsClientCa, .adminTlsCert: adminTlsCert, .adminTlsKey: adminTlsKey,
            .etcd: etcd, .brokerGroup: brokerGroup, .nodeId: nodeId, .advertiseHost: advertiseHost,
            .etcdLeaseTtl: etcdLeaseTtl, .httpPort: httpPort, .replicas: replicas, .replication: replication,
            .replicationTimeout: replicationTimeout, .replicationPort: replicationPort,
            .replicationSecretFile: replicationSecretFile, .replicationTlsCert: replicationTlsCert,
            .replicationTlsKey: replicationTlsKey, .replicationTlsCa: replicationTlsCa, .mqttPort: mqttPort,
            .mqttMaxPacketSize: mqttMaxPacketSize, .mqttMaxInflight: mqttMaxInflight, .mqttMaxQueued: mqttMaxQueued,
        ]
        return given.compactMapValues { $0 }
    }

    private static func help(_ setting: BrokerSetting, _ valueName: String) -> ArgumentHelp {
        ArgumentHelp("\(setting.help) Env: \(setting.environmentVariable).", valueName: valueName)
    }

    /// How long listeners and the log get to stop after SIGTERM before the group cancels them.
    static let maximumGracefulShutdown: Duration = .seconds(30)

    func run() async throws {
        let configuration: BrokerConfiguration
        do throws(BrokerError) {
            configuration = try BrokerConfiguration.resolve(
                flags: flags, configPath: config, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw ValidationError(error.message)
        }
        if printConfig {
            print(configuration.printableJSON)
            return
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = configuration.logLevel
            return handler
        }
        // Bootstrap before anything creates a metric, or that metric would go nowhere.
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // A stuck transaction finishes minutes or hours after its half message: the default
        // buckets (up to 10 s) would put every one of them in +Inf.
        factory.durationHistogramBuckets["sluice_transaction_finish_seconds"] = [
            .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5),
            .seconds(10), .seconds(30), .seconds(60), .seconds(300), .seconds(900), .seconds(3600), .seconds(21_600),
            .seconds(86_400),
        ]
        factory.durationHistogramBuckets[RequestDurationMetric.label] = RequestDurationMetric.buckets
        MetricsSystem.bootstrap(factory)

        do {
            try await Self.serve(configuration, registry: registry)
        } catch {
            ConsoleOutput.reportError("\(error)")
            throw ExitCode.failure
        }
    }

    private static func serve(_ configuration: BrokerConfiguration, registry: PrometheusCollectorRegistry) async throws {
        let logger = Logger(label: "sluice.broker")
        let bootstrapUsers = try configuration.bootstrapUserFile.map { path throws(BrokerError) in
            try BootstrapCredential.load(path)
        } ?? []
        let readiness = Readiness()
        let handle = BrokerHandle()
        let sessions = ClientSessions(
            logger: Logger(label: "sluice.clients"), maxClients: configuration.clientLimits.maxClients)
        // One checker for both fronts: checks for HTTP producers (`http:` client ids) wait in the
        // mailbox for a `trans=pop` poll; every other check goes over Telemetry.
        let mailbox = HTTPCheckMailbox()
        let routedCheckBacks = RoutedCheckBacks(
            grpcSender: TelemetryCheckBackSender(sessions: sessions, handle: handle, logger: Logger(label: "sluice.checks")),
            grpcProducers: sessions, mailbox: mailbox)
        let checkBacks = StoreService.CheckBackWiring(
            sender: routedCheckBacks,
            producers: routedCheckBacks,
            configuration: TransactionCheckerConfiguration(
                checkInterval: configuration.transactionCheckInterval,
                maximumChecks: configuration.transactionCheckMax,
                retryDelay: min(.seconds(5), configuration.transactionCheckInterval),
                pollInterval: min(.seconds(1), configuration.transactionTimeout)),
            budgetPolicy: configuration.checkBudgetPolicy)
        var cluster: ClusterCoordination?
        var clusterStatus: ClusterStatusSource?
        if let settings = configuration.cluster {
            let coordination = try ClusterCoordination(
                configuration, cluster: settings, handle: handle, logger: Logger(label: "sluice.cluster"))
            cluster = coordination
            clusterStatus = { await coordination.report() }
        }
        // With replication the replica takes the log as soon as it opens: a follower never
        // appends locally, not even during start-up.
        var logOpened: (@Sendable (CommitLog) async throws -> LogOpenedAction)?
        // ... and topic changes go through the log, so they follow the group (a follower refuses
        // them, naming the leader it follows).
        var metadataLeader: (@Sendable () -> String?)?
        if let replication = cluster?.replication {
            logOpened = { @Sendable log in try await replication.attach(log, handle: handle) }
            metadataLeader = { @Sendable in replication.followedLeader }
        }
        let store = StoreService(
            configuration: configuration.commitLogConfiguration,
            transactionTimeout: configuration.transactionTimeout,
            transactionHold: configuration.transactionHold > .zero ? configuration.transactionHold : nil, readiness: readiness, handle: handle,
            checkBacks: checkBacks, autoCreateGroups: configuration.autoCreateGroups,
            trace: configuration.traceEnabled ? MessageTraceRecorder.Configuration() : nil,
            clientLimits: configuration.clientLimits,
            bootstrapUsers: bootstrapUsers, logOpened: logOpened, metadataLeader: metadataLeader,
            routeWriter: cluster?.routing,
            // A replicated group acknowledges through its followers, which copy only synced
            // records: deferring would only add the delay (and the log refuses to defer there).
            transactionDecisionDurability: cluster?.replication == nil ? configuration.transactionEndFlush.appendDurability : .policy,
            logger: Logger(label: "sluice.store"))
        let access = AccessControl(
            configuration: AccessControl.Configuration(
                enabled: configuration.authEnabled, maxClockSkew: configuration.authMaxClockSkew),
            store: { handle.security })
        let tls = try TLSReloading(configuration, logger: Logger(label: "sluice.tls"))
        var messaging = MessagingService.Configuration()
        messaging.advertisedHost = configuration.grpcHost
        messaging.advertisedPort = configuration.grpcPort
        messaging.groupLeader = cluster?.groupLeader
        messaging.queueRoutes = cluster?.routing.queueRoutes
        messaging.admission = RequestAdmission.Limits(
            maxInflightRequests: configuration.frontDoor.maxInflightRequests,
            maxBufferedRequestBytes: configuration.frontDoor.maxBufferedRequestBytes)
        let service = MessagingService(
            handle: handle, sessions: sessions, configuration: messaging, logger: Logger(label: "sluice.grpc"),
            access: access)
        let onListening: @Sendable (String, Int) -> Void = { ConsoleOutput.announceListening("gRPC", host: $0, port: $1) }
        let grpc: any Service
        switch configuration.grpcServer {
        case .direct:
            grpc = FrontEndpoint(
                server: GRPCFrontServer(
                    configuration: .init(
                        host: configuration.grpcHost, port: configuration.grpcPort, limits: configuration.frontDoor,
                        maxRequestMessageBytes: GRPCEndpoint.maxRequestPayloadBytes, tls: try tls.grpcTLSConfiguration()),
                    service: service, logger: Logger(label: "sluice.grpc")),
                host: configuration.grpcHost, port: configuration.grpcPort, onListening: onListening)
        case .grpcSwift:
            grpc = GRPCEndpoint(
                host: configuration.grpcHost, port: configuration.grpcPort, logger: Logger(label: "sluice.grpc"),
                security: try tls.grpcTransportSecurity(), onListening: onListening, limits: configuration.frontDoor,
                services: [service])
        }
        let http: HTTPAccessServer? = try configuration.httpPort.map { port in
            HTTPAccessServer(
                configuration: .init(
                    host: configuration.grpcHost, port: port, limits: HTTPAccessLimits(maxBodyBytes: messaging.maxBodyBytes),
                    tls: try tls.grpcTLSConfiguration()),
                service: service, access: access, mailbox: mailbox, handle: handle, logger: Logger(label: "sluice.http"),
                onListening: { ConsoleOutput.announceListening("HTTP access", host: $0, port: $1) })
        }
        let mqtt: MQTTAccessServer? = try configuration.mqttPort.map { port in
            MQTTAccessServer(
                configuration: .init(
                    host: configuration.grpcHost, port: port, limits: MQTTAccessLimits(
                        maxBodyBytes: messaging.maxBodyBytes, maxPacketBytes: configuration.mqttMaxPacketBytes,
                        maxInflightPerConnection: configuration.mqttMaxInflight,
                        maxQueuedPerSession: configuration.mqttMaxQueued),
                    tls: try tls.grpcTLSConfiguration()),
                service: service, access: access, handle: handle, logger: Logger(label: "sluice.mqtt"),
                onListening: { ConsoleOutput.announceListening("MQTT access", host: $0, port: $1) })
        }
        let admin = AdminServer(
            host: configuration.adminHost, port: configuration.adminPort, readiness: readiness, handle: handle,
            registry: registry, adminToken: configuration.adminToken, tls: try tls.adminConfiguration(),
            logger: Logger(label: "sluice.admin"),
            clusterStatus: clusterStatus,
            onListening: { ConsoleOutput.announceListening("admin HTTP", host: $0, port: $1) })
        // The group starts all three at once (the admin API listens during recovery) and stops
        // them in reverse order: admin, gRPC, then the store, so the log is closed last.
        // The cluster service comes last so it stops first: it resigns while the broker still serves.
        let services: [any Service] = [store, grpc] + (http.map { [$0] } ?? []) + (mqtt.map { [$0] } ?? []) + [admin] + tls.services + (cluster.map { [$0] } ?? [])
        var groupConfiguration = ServiceGroupConfiguration(
            // A failing service (a port in use, a locked folder) stops the others gracefully, so
            // the log is still closed cleanly; an early return stays an error (`.cancelGroup`).
            services: services.map { .init(service: $0, failureTerminationBehavior: .gracefullyShutdownGroup) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = maximumGracefulShutdown
        try await ServiceGroup(configuration: groupConfiguration).run()
    }
}
