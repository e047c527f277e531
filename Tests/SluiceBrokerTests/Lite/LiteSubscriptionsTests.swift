import NIOCore
import SluiceBroker
import SluiceStorage
import SluiceTesting
import SluiceTransactions
import Testing

@Suite("LiteSubscriptions")
struct LiteSubscriptionsTests {
    /// Migrates `transactions.sqlite` the way the broker does, then opens the subscriptions on it.
    static func withStore<T>(
        in directory: String, quota: Int = 3, maxTotal: Int = 100, _ body: (LiteSubscriptions) async throws -> T
    ) async throws -> T {
        let path = directory + "/transactions.sqlite"
        let store = try await TransactionStateStore.open(path: path, now: 1_000)
        let lite = try await LiteSubscriptions.open(path: path, quotaPerGroup: quota, maxTotal: maxTotal)
        do {
            let result = try await body(lite)
            await lite.close()
            try await store.close()
            return result
        } catch {
            await lite.close()
            try? await store.close()
            throw error
        }
    }

    @Test("adds and removes a group's lite topics; a resync adds without removing; the rows survive a reopen")
    func changesPersist() async throws {
        try await withTemporaryDirectory { directory in
            try await Self.withStore(in: directory) { lite async throws in
                try await lite.apply(.add, group: "g", topic: "parent", liteTopics: ["s1", "s2"])
                try await lite.apply(.remove, group: "g", topic: "parent", liteTopics: ["s1", "never"])
                // Another client of the group resyncs its own list: s2 (not in it) stays.
                let after = try await lite.apply(.resync, group: "g", topic: "parent", liteTopics: ["s3"])
                #expect(after == ["s2", "s3"])
                #expect(lite.liteTopics(group: "other", topic: "parent").isEmpty)
                #expect(lite.count == 2)
            }
            try await Self.withStore(in: directory) { lite async throws in
                #expect(lite.liteTopics(group: "g", topic: "parent") == ["s2", "s3"])
                #expect(lite.count == 2)
                try await lite.apply(.removeAll, group: "g", topic: "parent", liteTopics: [])
                #expect(lite.liteTopics(group: "g", topic: "parent").isEmpty)
            }
            try await Self.withStore(in: directory) { lite async throws in
                #expect(lite.count == 0, "COMPLETE_REMOVE deleted the rows")
            }
        }
    }

    @Test("the group's quota and the broker's total are enforced; a refused change changes nothing")
    func quotas() async throws {
        try await withTemporaryDirectory { directory in
            try await Self.withStore(in: directory, quota: 3, maxTotal: 4) { lite async throws in
                try await lite.apply(.add, group: "g", topic: "t", liteTopics: ["a", "b", "c"])
                let overQuota = await #expect(throws: BrokerError.self) {
                    try await lite.apply(.add, group: "g", topic: "t", liteTopics: ["d"])
                }
                #expect(overQuota?.code == .limitExceeded)
                #expect(overQuota?.message == "group g would subscribe 4 lite topics of t; the quota is 3")
                // Re-adding what is there is not growth.
                try await lite.apply(.add, group: "g", topic: "t", liteTopics: ["a", "b", "c"])
                try await lite.apply(.add, group: "h", topic: "t", liteTopics: ["a"])
                let overTotal = await #expect(throws: BrokerError.self) {
                    try await lite.apply(.add, group: "i", topic: "t", liteTopics: ["x"])
                }
                #expect(overTotal?.message == "the broker holds 4 lite subscriptions; the limit is 4")
                #expect(lite.liteTopics(group: "i", topic: "t").isEmpty)
                #expect(lite.count == 4)
            }
        }
    }

    @Test("a filter with lite topics matches only messages of those lite topics")
    func filterMatchesLiteTopics() throws {
        var filter = TagFilter.all
        filter.liteTopics = ["s1"]
        func record(_ liteTopic: String?) -> MessageRecord {
            MessageRecord(
                topic: "parent", queueId: 0, messageId: "m", tags: "", keys: [],
                properties: liteTopic.map { [(MessageProperty.liteTopic, $0)] } ?? [], body: ByteBuffer(),
                bornTimestampMs: 0, messageType: RecordKind.lite.rawValue)
        }
        #expect(filter.matches(record("s1")))
        #expect(!filter.matches(record("s2")))
        #expect(!filter.matches(record(nil)))
        #expect(!filter.matchesEverything)
        filter.liteTopics = []
        #expect(!filter.matches(record("s1")), "a group with no lite subscription receives nothing")
    }
}
