import Foundation
import Logging
import NIOPosix
import SluiceBroker
import SluiceCluster
import SluiceReplication
import SluiceTransactions

/// Keeps the transaction table (and the topics, `ReplicatedTopicRegistry`, and the users and
/// access rules, `SecurityStore+Replication`, the lite subscriptions, the MQTT retained
/// messages and the kept MQTT sessions) of a replicated broker
/// in step with the log it copies: the
/// coordinator replays copied events every maintenance tick; before a divergent tail is cut this
/// undoes what the tail's events did to the table, after the cut it moves the replay cursor back,
/// and on promotion it replays the last events before the broker takes appends and its checker
/// starts asking about prepared halves.
struct TransactionTableCompanion: ReplicaCompanion {
    let handle: BrokerHandle
    /// The data folder (the database and the route memory live there).
    let directory: String
    let logger: Logger

    /// The files a snapshot carries, named as in the data folder: the database (topics, groups,
    /// consumer positions, transactions, users, lite subscriptions, MQTT state — everything the
    /// broker derives from the log) and which topics came from the route table.
    static let snapshotFiles = ["transactions.sqlite", RoutedTopicMemory.fileName]

    /// A consistent copy of the database (`VACUUM INTO`, one read transaction while the broker
    /// goes on writing) and of the route memory, for a follower that lacks records retention
    /// deleted here.
    func writeSnapshot(into folder: String) async throws -> [String] {
        guard handle.coordinator != nil else {
            throw BrokerError(.storageUnavailable, "the database is not open yet")
        }
        let database = StoreService.transactionDatabasePath(directory)
        try await SQLiteConnection.copyDatabase(at: database, to: folder + "/transactions.sqlite")
        let routes = directory + "/" + RoutedTopicMemory.fileName
        let copiedRoutes = try await NIOThreadPool.singleton.runIfActive {
            guard FileManager.default.fileExists(atPath: routes) else { return false }
            try FileManager.default.copyItem(atPath: routes, toPath: folder + "/" + RoutedTopicMemory.fileName)
            return true
        }
        return ["transactions.sqlite"] + (copiedRoutes ? [RoutedTopicMemory.fileName] : [])
    }

    /// The table must be open before a tail is cut (a broker restarted after `kill -9` may meet
    /// its new leader while the store is still opening): waits for it up to `wait`, then throws
    /// so the follower session fails and retries instead of cutting behind the table's back.
    func willTruncate(to offset: UInt64) async throws {
        let wait = ContinuousClock.now + .seconds(10)
        while handle.coordinator == nil {
            if Task.isCancelled || ContinuousClock.now >= wait {
                throw BrokerError(.storageUnavailable, "the transaction table is not open yet")
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        guard let coordinator = handle.coordinator else {
            throw BrokerError(.storageUnavailable, "the transaction table closed")
        }
        try await coordinator.forgetLogTail(from: offset)
        await (handle.topics as? ReplicatedTopicRegistry)?.forgetLogTail(from: offset)
        await handle.security?.forgetLogTail(from: offset)
        await handle.lite?.forgetLogTail(from: offset)
        await handle.mqttRetained?.forgetLogTail(from: offset)
        await handle.mqttSessions?.forgetLogTail(from: offset)
        await handle.consumption?.forgetLogTail(from: offset)
    }

    func logTruncated() async {
        await handle.coordinator?.copiedLogTruncated()
        await (handle.topics as? ReplicatedTopicRegistry)?.copiedLogTruncated()
        await handle.security?.copiedLogTruncated()
        await handle.lite?.copiedLogTruncated()
        await handle.mqttRetained?.copiedLogTruncated()
        await handle.mqttSessions?.copiedLogTruncated()
        do throws(BrokerError) {
            if let changed = try await handle.consumption?.logWasCut(), changed > 0 {
                logger.warning("consumer positions moved back to the cut log's end", metadata: ["groups.topics": "\(changed)"])
            }
        } catch {
            logger.error("consumer state past the cut not forgotten", metadata: ["error": "\(error)"])
        }
    }

    func willLead() async {
        if let topics = handle.topics as? ReplicatedTopicRegistry {
            do throws(BrokerError) {
                try await topics.applyCopiedChanges()
            } catch {
                logger.error("topics behind the log at promotion", metadata: ["error": "\(error)"])
            }
        }
        if let security = handle.security {
            do throws(SecurityError) {
                try await security.applyCopiedChanges()
            } catch {
                logger.error("users behind the log at promotion", metadata: ["error": "\(error)"])
            }
        }
        if let lite = handle.lite {
            do throws(BrokerError) {
                try await lite.applyCopiedChanges()
            } catch {
                logger.error("lite subscriptions behind the log at promotion", metadata: ["error": "\(error)"])
            }
        }
        if let retained = handle.mqttRetained {
            do throws(BrokerError) {
                try await retained.applyCopiedChanges()
            } catch {
                logger.error("MQTT retained messages behind the log at promotion", metadata: ["error": "\(error)"])
            }
        }
        if let sessions = handle.mqttSessions {
            do throws(BrokerError) {
                try await sessions.applyCopiedChanges()
            } catch {
                logger.error("MQTT sessions behind the log at promotion", metadata: ["error": "\(error)"])
            }
            await sessions.connectionsEndedWithTheOldLeader()
        }
        if let consumption = handle.consumption {
            do throws(BrokerError) {
                let applied = try await consumption.applyCopiedChanges()
                logger.info("consumer state caught up with the copied log", metadata: ["changes.applied": "\(applied)"])
            } catch {
                logger.error("consumer state behind the log at promotion", metadata: ["error": "\(error)"])
            }
        }
        // Still starting (no coordinator yet): its start-up reconcile replays the whole log.
        guard let coordinator = handle.coordinator else { return }
        do throws(BrokerError) {
            let applied = try await coordinator.applyCopiedEvents()
            logger.info("transaction table caught up with the copied log", metadata: ["events.applied": "\(applied)"])
        } catch {
            logger.error("transaction table behind the log at promotion", metadata: ["error": "\(error)"])
        }
    }
}
