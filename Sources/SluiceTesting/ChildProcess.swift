import CSluiceShims
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A real child process for fault tests: started with pipes on stdout and stderr (stdout read line
/// by line), stopped by pid with the signal the test chooses (`SIGKILL` for crash tests), always
/// reaped.
///
/// Built on `posix_spawn`, blocking reads and `waitpid` on plain threads rather than Foundation's
/// `Process` and `FileHandle.readabilityHandler`: those run on dispatch sources, and tearing one
/// down while its handler is in flight crashed the whole test process (SIGSEGV in libdispatch).
public final class ChildProcess: Sendable {
    public let executable: String
    public let arguments: [String]
    private let environment: [String: String]?
    private let shared = Shared()

    public init(executable: String, arguments: [String], environment: [String: String]? = nil) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
    }

    /// Spawns the child with `/dev/null` on stdin and our pipes on stdout and stderr.
    public func start() throws {
        let stdoutPipe = try Self.makePipe()
        let stderrPipe = try Self.makePipe()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe.write, 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPipe.write, 2)
        // Nothing else of the test process (sockets, locked data folders) leaks into the child.
        sluice_spawn_file_actions_closefrom(&actions, 3)

        var merged = ProcessInfo.processInfo.environment
        if let environment { merged.merge(environment) { $1 } }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        close(stdoutPipe.write)
        close(stderrPipe.write)
        guard result == 0 else {
            close(stdoutPipe.read)
            close(stderrPipe.read)
            throw ChildProcessError(executable: executable, errno: result)
        }
        shared.started(pid: pid)
        let shared = self.shared
        let spawned = pid
        Self.startThread("child-stdout") { Self.drain(stdoutPipe.read) { shared.appendStandardOutput($0) } }
        Self.startThread("child-stderr") { Self.drain(stderrPipe.read) { shared.appendStandardError($0) } }
        Self.startThread("child-reaper") {
            // Wait without reaping, then reap under the lock that `send` takes: a signal can
            // never reach a recycled pid.
            var info = siginfo_t()
            while waitid(P_PID, id_t(spawned), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
            shared.reap(pid: spawned)
        }
    }

    public var pid: Int32 { shared.pid }
    public var isRunning: Bool { shared.isRunning }

    /// How many complete lines the child has printed so far.
    public var outputLineCount: Int { shared.outputLines.count }

    /// Every complete line the child has printed so far.
    public var outputLines: [String] { shared.outputLines }

    public var standardErrorText: String { shared.standardErrorText }

    /// Waits (polling every 10 ms, at most `timeout`) until `predicate` holds for the lines so far.
    @discardableResult
    public func waitForOutput(timeout: Duration, _ predicate: ([String]) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if predicate(outputLines) { return true }
            if !isRunning && shared.isStandardOutputClosed { return predicate(outputLines) }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return predicate(outputLines)
    }

    /// Sends `signal` to the child's pid (only while it has not been reaped, so never to a
    /// recycled pid).
    public func send(_ signal: Int32) {
        shared.signalIfRunning(signal)
    }

    /// Waits for the child to exit (at most `timeout`, then SIGKILL) and returns its exit code,
    /// or the number of the signal that ended it.
    @discardableResult
    public func waitForExit(timeout: Duration) async -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        if isRunning {
            send(SIGKILL)
            while isRunning { try? await Task.sleep(for: .milliseconds(5)) }
        }
        // Let the readers take what the child wrote before it died (bounded: a grandchild could
        // hold the pipe open).
        let drainDeadline = ContinuousClock.now + .seconds(2)
        // Both pipes: a refusal printed to stderr just before exit was sometimes not read yet.
        while !shared.areBothOutputsClosed && ContinuousClock.now < drainDeadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        return shared.terminationStatus ?? -1
    }

    /// SIGKILL, then reap: the crash a test wants.
    public func killHard() async {
        send(SIGKILL)
        await waitForExit(timeout: .seconds(10))
    }

    deinit {
        shared.signalIfRunning(SIGKILL)
    }

    private static func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard sluice_pipe_cloexec(&fds) == 0 else { throw ChildProcessError(executable: "pipe2", errno: errno) }
        return (fds[0], fds[1])
    }

    private static func drain(_ fd: Int32, into sink: ([UInt8]) -> Void) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                sink(Array(buffer[0..<count]))
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                break
            }
        }
        close(fd)
        sink([])
    }

    private static func startThread(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.stackSize = 256 * 1024
        thread.start()
    }
}

/// `posix_spawn` or `pipe2` failed.
public struct ChildProcessError: Error, CustomStringConvertible {
    public var executable: String
    public var errno: Int32
    public var description: String { "cannot start \(executable): \(String(cString: strerror(errno)))" }
}

extension ChildProcess {
    /// What the reader and reaper threads share with the test: guarded by one mutex.
    fileprivate final class Shared: Sendable {
        private struct State {
            var pid: pid_t = 0
            var waitStatus: Int32?
            var pendingOutput: [UInt8] = []
            var lines: [String] = []
            var standardError: [UInt8] = []
            var standardOutputClosed = false
            var standardErrorClosed = false
        }

        private let state = Mutex(State())

        func started(pid: pid_t) { state.withLock { $0.pid = pid } }
        func reap(pid: pid_t) {
            state.withLock { state in
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                state.waitStatus = status
            }
        }

        var pid: Int32 { state.withLock { $0.pid } }
        var isRunning: Bool { state.withLock { $0.pid != 0 && $0.waitStatus == nil } }
        var isStandardOutputClosed: Bool { state.withLock { $0.standardOutputClosed } }
        var areBothOutputsClosed: Bool { state.withLock { $0.standardOutputClosed && $0.standardErrorClosed } }
        var outputLines: [String] { state.withLock { $0.lines } }
        var standardErrorText: String { state.withLock { String(decoding: $0.standardError, as: UTF8.self) } }

        /// The exit code, or the signal number for a child a signal ended; nil while running.
        var terminationStatus: Int32? {
            state.withLock { state in
                guard let status = state.waitStatus else { return nil }
                let signal = status & 0x7f
                return signal == 0 ? (status >> 8) & 0xff : signal
            }
        }

        func signalIfRunning(_ signal: Int32) {
            // Under the lock the reaper reaps with, so the pid cannot have been reused.
            state.withLock { state in
                if state.pid != 0 && state.waitStatus == nil { _ = kill(state.pid, signal) }
            }
        }

        func appendStandardOutput(_ bytes: [UInt8]) {
            state.withLock { state in
                if bytes.isEmpty {
                    state.standardOutputClosed = true
                    if !state.pendingOutput.isEmpty {
                        state.lines.append(String(decoding: state.pendingOutput, as: UTF8.self))
                        state.pendingOutput.removeAll()
                    }
                    return
                }
                state.pendingOutput.append(contentsOf: bytes)
                guard let lastNewline = state.pendingOutput.lastIndex(of: UInt8(ascii: "\n")) else { return }
                let complete = state.pendingOutput[..<lastNewline]
                for line in complete.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
                    state.lines.append(String(decoding: line, as: UTF8.self))
                }
                state.pendingOutput.removeSubrange(...lastNewline)
            }
        }

        func appendStandardError(_ bytes: [UInt8]) {
            state.withLock { state in
                if bytes.isEmpty { state.standardErrorClosed = true }
                state.standardError.append(contentsOf: bytes)
            }
        }
    }
}
