import Foundation
import NIOCore
import SluiceStorage
import SluiceTesting
import Testing

@Suite("commit log: a full disk")
struct DiskFullTests {
    @Test("appends fail with diskFull, stored records are unharmed, and appends resume once there is room")
    func diskFull() async throws {
        let mountPoint = try makeTemporaryDirectory(prefix: "sluice-tmpfs")
        defer { try? FileManager.default.removeItem(atPath: mountPoint) }
        guard SmallFileSystem.mount(at: mountPoint, sizeKiB: 256) else {
            print("skipped: cannot mount a small tmpfs here (needs root); the disk-full test did not run")
            return
        }
        defer { SmallFileSystem.unmount(mountPoint) }

        let directory = mountPoint + "/data"
        var configuration = testConfiguration(directory, segmentSize: 32 * 1024)
        configuration.queueIndexEntriesPerFile = 4096
        let log = try await CommitLog.open(configuration, logger: quietLogger)
        // Leave room for a few segments, then fill the rest with a file the test can delete.
        let filler = mountPoint + "/filler"
        try Data(count: 100 * 1024).write(to: URL(fileURLWithPath: filler))

        var stored: [AppendResult] = []
        var failure: StorageError?
        for index in 0..<10_000 {
            do throws(StorageError) {
                stored.append(try await log.append(message("full-\(index)" + String(repeating: "f", count: 900))))
            } catch {
                failure = error
                break
            }
        }
        let error = try #require(failure, "the small file system never filled up")
        #expect(error.code == .diskFull)
        #expect(error.message.contains("No space left"))
        #expect(stored.count > 10)
        for (index, result) in stored.enumerated() {
            #expect(bodyText(try log.read(at: result.physicalOffset)).hasPrefix("full-\(index)"))
        }
        // Still full: still a clear error, nothing changes.
        let endBefore = log.endOffset
        let retry = message("full-\(stored.count)" + String(repeating: "f", count: 900))
        await #expect(throws: StorageError.self) { _ = try await log.append(retry) }
        #expect(log.endOffset == endBefore)

        try FileManager.default.removeItem(atPath: filler)
        let after = try await log.append(message("after-space-returned" + String(repeating: "h", count: 900)))
        #expect(after.queueOffset == UInt64(stored.count))
        #expect(bodyText(try log.read(at: after.physicalOffset)).hasPrefix("after-space-returned"))
        await log.close()

        let reopened = try await CommitLog.open(configuration, logger: quietLogger)
        for result in stored + [after] { _ = try reopened.read(at: result.physicalOffset) }
        await reopened.close()
    }
}

/// A tiny tmpfs the test mounts itself, so "disk full" is real ENOSPC from the kernel.
enum SmallFileSystem {
    static func mount(at path: String, sizeKiB: Int) -> Bool {
        run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(sizeKiB)k", "tmpfs", path]) == 0
    }

    static func unmount(_ path: String) { _ = run("/bin/umount", [path]) }

    private static func run(_ executable: String, _ arguments: [String]) -> Int32 {
        // posix_spawn + waitpid: Foundation's Process runs on dispatch sources we keep out of tests.
        var pid: pid_t = 0
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        guard posix_spawn(&pid, executable, &actions, nil, argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
    }
}
