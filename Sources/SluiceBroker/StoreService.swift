import Logging
import ServiceLifecycle
import SluiceStorage
import SluiceTransactions

/// What start-up does after the hook that sees the freshly opened log.
public enum LogOpenedAction: Sendable {
    /// Go on with this log.
    case proceed
    /// The hook closed the log and replaced the folder's files (a replica installing its
    /// leader's snapshot, before the database opens): open it again.
    case reopen
}

/// Owns the commit log and the transaction table for the life of the process: opens (and so
/// recovers) the log, opens the table (`transactions.sqlite` in the data folder, migrating it) and
/// reconciles it with the log's transaction events, opens the topic registry on the same file
/// (every store in that file shares the transaction table's one connection and writer thread),
/// publishes them in its `BrokerHandle`, reports readiness, keeps the transaction upkeep running,
/// and on graceful shutdown closes the registry, the table and then the log (which drains
/// appends, syncs and removes the `abort` marker).
///
/// Put it first in the `ServiceGroup`: groups stop services in reverse order, so listeners stop
/// before the log is flushed and closed.
public final class StoreService: Service, CustomStringConvertible {
    public let readiness: Readiness
    /// Where the open components are published for the admin API and the gRPC service.
    public let handle: BrokerHandle
    private let configuration: CommitLogConfiguration
    private let transactionTimeout: Duration
    /// How long a half message waits in memory for its EndTransaction before it is written to the
    /// table as prepared (`--transaction-hold`): most transactions end well within it and cost one
    /// final row. nil: every half goes to the table at once.
    private let halfTableDelay: Duration?
    /// How durable a producer's end of a held half must be before it is answered.
    private let transactionDecisionDurability: AppendDurability
    private let logger: Logger
    private let checkBacks: CheckBackWiring?
    private let autoCreateGroups: Bool
    /// `--max-groups` and `--max-long-polls`, applied to the consumption engine when it opens.
    private let clientLimits: ClientLimits
    private let trace: MessageTraceRecorder.Configuration?
    /// Users `--bootstrap-user-file` creates when they do not exist yet.
    private let bootstrapUsers: [BootstrapCredential]
    /// Runs right after the log opens, before anything else reads or appends to it: replication
    /// uses it to refuse local appends on a follower from the first moment. A throw fails start-up.
    private let logOpened: (@Sendable (CommitLog) async throws -> LogOpenedAction)?
    /// Non-nil in a replicated group (`--replicas` ≥ 2): topic changes go through the log
    /// (`ReplicatedTopicRegistry`), and this names the group's leader for a follower's refusal.
    private let metadataLeader: (@Sendable () -> String?)?
    /// Non-nil on a cluster broker (`--etcd`): topic creates and deletes go through the route
    /// table (`RoutedTopicRegistry`).
    private let routeWriter: (any TopicRouteWriter)?

    /// How the checker reaches producers (the gRPC front's Telemetry streams) and how often.
    public struct CheckBackWiring: Sendable {
        public var sender: any CheckBackSender
        public var producers: any ProducerDirectory
        public var configuration: TransactionCheckerConfiguration
        public var budgetPolicy: CheckBudgetPolicy

        public init(
            sender: any CheckBackSender, producers: any ProducerDirectory,
            configuration: TransactionCheckerConfiguration, budgetPolicy: CheckBudgetPolicy = .park
        ) {
            self.sender = sender
            self.producers = producers
            self.configuration = configuration
            self.budgetPolicy = budgetPolicy
        }
    }

    public init(
        configuration: CommitLogConfiguration, transactionTimeout: Duration = .seconds(6),
        transactionHold: Duration? = .milliseconds(500), readiness: Readiness,
        handle: BrokerHandle = BrokerHandle(), checkBacks: CheckBackWiring? = nil, autoCreateGroups: Bool = true,
        trace: MessageTraceRecorder.Configuration? = nil, clientLimits: ClientLimits = ClientLimits(),
        bootstrapUsers: [BootstrapCredential] = [], logOpened: (@Sendable (CommitLog) async throws -> LogOpenedAction)? = nil,
        metadataLeader: (@Sendable () -> String?)? = nil, routeWriter: (any TopicRouteWriter)? = nil,
        transactionDecisionDurability: AppendDurability = .policy, logger: Logger
    ) {
        self.transactionDecisionDurability = transactionDecisionDurability
        self.routeWriter = routeWriter
        self.metadataLeader = metadataLeader
        self.logOpened = logOpened
        self.clientLimits = clientLimits
        self.bootstrapUsers = bootstrapUsers
        self.checkBacks = checkBacks
        self.autoCreateGroups = autoCreateGroups
        self.trace = trace
        self.configuration = configuration
        self.handle = handle
        self.transactionTimeout = transactionTimeout
        self.halfTableDelay = transactionHold
        self.readiness = readiness
        self.logger = logger
    }

    /// The transaction coordinator over the open log and table; nil until ready and once
    /// shutdown begins.
    public var coordinator: TransactionCoordinator? { handle.coordinator }

    /// Where the transaction table lives in a data folder.
    public static func transactionDatabasePath(_ directory: String) -> String { directory + "/transactions.sqlite" }

    public var description: String { "StoreService" }

    /// - Throws: `BrokerError` `.storageUnavailable` when the log cannot be opened (another
    ///   process holds the folder, or it cannot be read or written).
    public func run() async throws {
        let log = try await openLog()
        let recorder = trace.map {
            MessageTraceRecorder(log: log, configuration: $0, logger: Logger(label: "sluice.trace"))
        }
        let coordinator: TransactionCoordinator
        do {
            coordinator = try await openTransactions(log, trace: recorder)
        } catch {
            readiness.markFailed("\(error)")
            await log.close()
            throw error
        }
        let topics: SQLiteTopicRegistry
        do throws(BrokerError) {
            // After the transaction store, which has applied the migrations that create the table.
            topics = try await SQLiteTopicRegistry.open(
                path: Self.transactionDatabasePath(configuration.directory), logger: Logger(label: "sluice.topics"),
                sharing: coordinator.store.shareExecutor())
        } catch {
            readiness.markFailed(error.message)
            try? await coordinator.store.close()
            await log.close()
            throw error
        }
        let consumption: ConsumptionEngine
        do throws(BrokerError) {
            consumption = try await ConsumptionEngine.open(
                path: Self.transactionDatabasePath(configuration.directory), log: log, topics: topics,
                autoCreateGroups: autoCreateGroups, trace: recorder, logger: Logger(label: "sluice.consumers"),
                sharing: coordinator.store.shareExecutor())
        } catch {
            readiness.markFailed(error.message)
            await topics.close()
            try? await coordinator.store.close()
            await log.close()
            throw error
        }
        consumption.setMaxGroups(clientLimits.maxGroups)
        consumption.waiters.setMaxParked(clientLimits.maxLongPolls)
        let security: SecurityStore
        do throws(SecurityError) {
            security = try await SecurityStore.open(
                path: Self.transactionDatabasePath(configuration.directory), bootstrap: bootstrapUsers,
                logger: Logger(label: "sluice.security"), sharing: coordinator.store.shareExecutor())
        } catch {
            readiness.markFailed(error.message)
            await consumption.close()
            await topics.close()
            try? await coordinator.store.close()
            await log.close()
            throw BrokerError(.storageUnavailable, error.message, cause: error)
        }
        let lite: LiteSubscriptions
        do throws(BrokerError) {
            lite = try await LiteSubscriptions.open(
                path: Self.transactionDatabasePath(configuration.directory), sharing: coordinator.store.shareExecutor())
        } catch {
            readiness.markFailed(error.message)
            await security.close()
            await consumption.close()
            await topics.close()
            try? await coordinator.store.close()
            await log.close()
            throw error
        }
        let retained: MQTTRetainedStore
        do throws(BrokerError) {
            retained = try await MQTTRetainedStore.open(
                path: Self.transactionDatabasePath(configuration.directory), sharing: coordinator.store.shareExecutor())
        } catch {
            readiness.markFailed(error.message)
            await lite.close()
            await security.close()
            await consumption.close()
            await topics.close()
            try? await coordinator.store.close()
            await log.close()
            throw error
        }
        let mqttSessions: MQTTSessionStore
        do throws(BrokerError) {
            mqttSessions = try await MQTTSessionStore.open(
                path: Self.transactionDatabasePath(configuration.directory), sharing: coordinator.store.shareExecutor())
        } catch {
            readiness.markFailed(error.message)
            await retained.close()
            await lite.close()
            await security.close()
            await consumption.close()
            await topics.close()
            try? await coordinator.store.close()
            await log.close()
            throw error
        }
        if let metadataLeader {
            // Users and rules follow the log too; their records hold secrets, so the data folder
            // (segments included) is made private like the database that also holds them.
            SecurityStore.restrictFolderToOwner(configuration.directory, logger: logger)
            security.replicate(
                through: SecurityChangeJournal(log: log, leader: metadataLeader, logger: Logger(label: "sluice.security")))
            do throws(SecurityError) {
                let applied = try await security.applyCopiedChanges()
                logger.info("user changes replayed from the log", metadata: ["changes": "\(applied)"])
            } catch {
                logger.error("user changes in the log not applied at start-up", metadata: ["error": "\(error)"])
            }
            // And the groups' lite subscriptions.
            lite.replicate(through: LiteChangeJournal(log: log, leader: metadataLeader, logger: Logger(label: "sluice.lite")))
            do throws(BrokerError) {
                let applied = try await lite.applyCopiedChanges()
                logger.info("lite subscription changes replayed from the log", metadata: ["changes": "\(applied)"])
            } catch {
                logger.error("lite subscription changes in the log not applied at start-up", metadata: ["error": "\(error)"])
            }
            // And the MQTT retained messages.
            retained.replicate(
                through: MQTTRetainedChangeJournal(log: log, leader: metadataLeader, logger: Logger(label: "sluice.mqtt.retained")))
            do throws(BrokerError) {
                let applied = try await retained.applyCopiedChanges()
                logger.info("MQTT retained message changes replayed from the log", metadata: ["changes": "\(applied)"])
            } catch {
                logger.error("MQTT retained message changes in the log not applied at start-up", metadata: ["error": "\(error)"])
            }
            // And the kept MQTT sessions.
            mqttSessions.replicate(
                through: MQTTSessionChangeJournal(log: log, leader: metadataLeader, logger: Logger(label: "sluice.mqtt.sessions")))
            do throws(BrokerError) {
                let applied = try await mqttSessions.applyCopiedChanges()
                logger.info("MQTT session changes replayed from the log", metadata: ["changes": "\(applied)"])
            } catch {
                logger.error("MQTT session changes in the log not applied at start-up", metadata: ["error": "\(error)"])
            }
        }
        handle.security = security
        handle.lite = lite
        handle.mqttRetained = retained
        handle.mqttSessions = mqttSessions
        handle.trace = recorder
        // A replicated group's topics follow the log: apply what was copied (or written before a
        // crash) before anything is served.
        let replicatedTopics = metadataLeader.map { leader in
            ReplicatedTopicRegistry(local: topics, log: log, leader: leader, logger: Logger(label: "sluice.topics"))
        }
        if let replicatedTopics, let metadataLeader {
            do throws(BrokerError) {
                let applied = try await replicatedTopics.applyCopiedChanges()
                logger.info("topic changes replayed from the log", metadata: ["changes": "\(applied)"])
            } catch {
                logger.error("topic changes in the log not applied at start-up", metadata: ["error": "\(error)"])
            }
            // Groups, start positions, acks and resets follow the log too.
            consumption.replicate(leader: metadataLeader, topics: replicatedTopics)
            do throws(BrokerError) {
                let applied = try await consumption.applyCopiedChanges()
                logger.info("consumer changes replayed from the log", metadata: ["changes": "\(applied)"])
            } catch {
                logger.error("consumer changes in the log not applied at start-up", metadata: ["error": "\(error)"])
            }
        }
        let served: any TopicRegistry = replicatedTopics ?? topics
        let published: any TopicRegistry = routeWriter.map { RoutedTopicRegistry(local: served, routes: $0) } ?? served
        handle.install(topics: published, coordinator: coordinator, consumption: consumption)
        readiness.markReady(RecoveryFacts(log.recoveryReport))
        // Cancellation (the group giving up on a graceful stop) must still close the log, so the
        // error from `gracefulShutdown()` only ends the wait.
        let maintenance = TransactionMaintenanceService(coordinator: coordinator)
        let checker = makeChecker(coordinator)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await maintenance.run() }
            if let checker { group.addTask { try? await checker.run() } }
            group.addTask { await consumption.waiters.run() }
            let upkeep = ConsumptionUpkeep(engine: consumption, isAlive: Self.liveness(checkBacks?.producers))
            group.addTask { await upkeep.run() }
            if let recorder { group.addTask { try? await recorder.run() } }
            if let replicatedTopics {
                group.addTask { await replicatedTopics.followChanges() }
                group.addTask { await consumption.followChanges() }
                group.addTask { await security.followChanges() }
                group.addTask { await lite.followChanges() }
                group.addTask { await retained.followChanges() }
                group.addTask { await mqttSessions.followChanges() }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        readiness.markStopping()
        handle.install(topics: nil, coordinator: nil)
        handle.trace = nil
        handle.security = nil
        handle.lite = nil
        handle.mqttRetained = nil
        handle.mqttSessions = nil
        await mqttSessions.close()
        await retained.close()
        await lite.close()
        await security.close()
        await consumption.close()
        await topics.close()
        await coordinator.flushDeferredHalves(all: true)
        await coordinator.maintain()
        // Whatever was recorded while the services stopped, before the log closes.
        await recorder?.drain()
        try? await coordinator.store.close()
        await log.close()
    }

    /// Client liveness for renewing push consumers' invisibility: the directory the gRPC front
    /// keeps (clients connected and heard from), when there is one.
    /// Opens the log and hands it to `logOpened`, opening it again when the hook replaced the
    /// folder's contents (a replica that installed its leader's snapshot) — at most twice, so a
    /// hook that keeps asking cannot loop.
    private func openLog() async throws -> CommitLog {
        for attempt in 0..<3 {
            let log: CommitLog
            do throws(StorageError) {
                log = try await CommitLog.open(configuration, logger: logger)
            } catch {
                readiness.markFailed(error.message)
                throw Self.brokerError(for: error)
            }
            guard let logOpened else { return log }
            let action: LogOpenedAction
            do {
                action = try await logOpened(log)
            } catch {
                readiness.markFailed("\(error)")
                await log.close()
                throw error
            }
            switch action {
            case .proceed:
                return log
            case .reopen where attempt < 2:
                // The hook closed the log before replacing its files.
                logger.notice("opening the commit log again after its folder was replaced")
            case .reopen:
                readiness.markFailed("the commit log was replaced three times during start-up")
                throw BrokerError(.storageUnavailable, "the commit log was replaced three times during start-up")
            }
        }
        throw BrokerError(.storageUnavailable, "the commit log could not be opened")
    }

    private static func liveness(_ directory: (any ProducerDirectory)?) -> (@Sendable (String) -> Bool)? {
        guard let directory else { return nil }
        return { clientId in directory.isLive(clientId: clientId) }
    }

    /// The check-back service, when the broker has a way to reach producers.
    private func makeChecker(_ coordinator: TransactionCoordinator) -> TransactionChecker? {
        guard let checkBacks else { return nil }
        let checkerLogger = Logger(label: "sluice.transactions.checker")
        do throws(TransactionStoreError) {
            return try TransactionChecker(
                store: coordinator.store, sender: checkBacks.sender, directory: checkBacks.producers,
                budgetHandler: PolicyBudgetHandler(
                    policy: checkBacks.budgetPolicy, coordinator: coordinator, logger: checkerLogger),
                configuration: checkBacks.configuration, logger: checkerLogger,
                isPaused: { [log = coordinator.log] in log.refusesLocalAppends })
        } catch {
            logger.error("transaction checker not started", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Opens the transaction table and replays the log's transaction events into it.
    private func openTransactions(_ log: CommitLog, trace: MessageTraceRecorder?) async throws
        -> TransactionCoordinator
    {
        let timeoutMs = transactionTimeout.components.seconds * 1000 + transactionTimeout.components.attoseconds / 1_000_000_000_000_000
        // Every store in the file shares this connection (one writer per file); counts, gauges and
        // operator listings read on a connection of their own so their scans never hold up acks.
        let storeConfiguration = TransactionStoreConfiguration(
            executor: SQLiteExecutorConfiguration(committedReader: true), defaultFirstCheckDelayMs: timeoutMs)
        let store: TransactionStateStore
        do throws(TransactionStoreError) {
            store = try await TransactionStateStore.open(
                path: Self.transactionDatabasePath(configuration.directory), configuration: storeConfiguration,
                now: WallClock.nowMs(), logger: Logger(label: "sluice.transactions"))
        } catch {
            throw BrokerError(.storageUnavailable, "cannot open the transaction table: \(error.message)", cause: error)
        }
        let coordinator = TransactionCoordinator(
            log: log, store: store, logger: Logger(label: "sluice.transactions"), nowMs: { WallClock.nowMs() },
            trace: trace, halfTableDelay: halfTableDelay, decisionDurability: transactionDecisionDurability)
        do throws(BrokerError) {
            _ = try await coordinator.reconcile()
        } catch {
            try? await store.close()
            throw error
        }
        return coordinator
    }

    static func brokerError(for error: StorageError) -> BrokerError {
        var message = "cannot open the commit log: \(error.message)"
        if error.code == .dataDirectoryLocked {
            message += "; stop the other broker or choose another --data-dir"
        }
        return BrokerError(.storageUnavailable, message, cause: error)
    }
}
