import SluiceCluster
import SluiceTesting
import Synchronization
import Testing

@Suite("leader election over a real etcd", .serialized)
struct LeaderElectionTests {
    @Test("two candidates: one wins epoch 1; revoking its lease elects the other with epoch 2 and deposes the first")
    func twoCandidates() async throws {
        try await withEtcd { _, client in
            let election = try LeaderElection(client: client, group: "g1")
            // Long leases, ended by revoking them: a loaded CI machine let 5 s ones expire mid-test.
            let leaseA = try await client.grantLease(ttlSeconds: 60)
            let leaseB = try await client.grantLease(ttlSeconds: 60)
            let keepers = [Task { try await client.keepAlive(leaseA) }, Task { try await client.keepAlive(leaseB) }]
            defer { keepers.forEach { $0.cancel() } }

            let first = try await election.campaign(nodeID: "a", grpcAddress: "127.0.0.1:1", lease: leaseA)
            #expect(first.record.epoch == 1)
            #expect(try await election.currentLeader().leader?.nodeID == "a")

            // b waits: a leads.
            let second = Task { try await election.campaign(nodeID: "b", grpcAddress: "127.0.0.1:2", lease: leaseB) }
            try await Task.sleep(for: .seconds(1))
            #expect(try await election.currentLeader().leader?.nodeID == "a")

            let deposed = Task { try await election.waitUntilDeposed(first) }
            try await client.revokeLease(leaseA.id)
            try await deposed.value  // a learns it lost leadership
            let won = try await second.value
            #expect(won.record.nodeID == "b")
            #expect(won.record.epoch == 2)
            #expect(try await election.currentEpoch() == 2)
            // a's old leadership cannot resign b's.
            #expect(try await election.resign(first) == false)
            #expect(try await election.currentLeader().leader?.nodeID == "b")
        }
    }

    @Test("concurrent campaigns for a vacancy: exactly one wins; epochs grow on every re-election")
    func racingCandidates() async throws {
        try await withEtcd { _, client in
            let election = try LeaderElection(client: client, group: "race")
            var epochs: [Int64] = []
            for _ in 0..<3 {
                let leases = [try await client.grantLease(ttlSeconds: 60), try await client.grantLease(ttlSeconds: 60)]
                let winner = try await withThrowingTaskGroup(of: Leadership.self) { group in
                    for (index, lease) in leases.enumerated() {
                        group.addTask { try await election.campaign(nodeID: "n\(index)", grpcAddress: "x:\(index)", lease: lease) }
                    }
                    let winner = try await group.next()!
                    // The loser is still waiting: nobody else became leader.
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(try await election.currentLeader().leader == winner.record)
                    group.cancelAll()
                    return winner
                }
                epochs.append(winner.record.epoch)
                #expect(try await election.resign(winner))
                for lease in leases { try await client.revokeLease(lease.id) }
            }
            #expect(epochs == [1, 2, 3])
        }
    }

    @Test("observe reports the leader, its resignation and the next leader")
    func observeChanges() async throws {
        try await withEtcd { _, client in
            let election = try LeaderElection(client: client, group: "obs")
            let seen = Mutex<[String?]>([])
            let observer = Task {
                for try await leader in election.observe() { seen.withLock { $0.append(leader?.nodeID) } }
            }
            defer { observer.cancel() }
            #expect(await eventually(timeout: .seconds(5)) { seen.withLock { $0 } == [nil] })
            let lease = try await client.grantLease(ttlSeconds: 60)
            let a = try await election.campaign(nodeID: "a", grpcAddress: "x:1", lease: lease)
            #expect(try await election.resign(a))
            _ = try await election.campaign(nodeID: "b", grpcAddress: "x:2", lease: lease)
            #expect(await eventually(timeout: .seconds(5)) { seen.withLock { $0 } == [nil, "a", nil, "b"] })
        }
    }
}
