import Foundation

/// A real child process for fault tests: started with a pipe on stdout (read line by line),
/// stopped by pid with the signal the test chooses (`SIGKILL` for crash tests), always reaped.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked: `process` and the pipes are used from the owning test only; the line buffer is
    // guarded by `lock`.
    public let executable: String
    public let arguments: [String]
    private let process = Process()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    private let lock = NSLock()
    private var pending = Data()
    private var lines: [String] = []
    private var stderrText = Data()
    private var closed = false

    public init(executable: String, arguments: [String], environment: [String: String]? = nil) {
        self.executable = executable
        self.arguments = arguments
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        process.standardInput = FileHandle.nullDevice
    }

    public func start() throws {
        stdoutPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            self?.consume(data)
        }
        stderrPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            lock.lock()
            if data.isEmpty { handle.readabilityHandler = nil }
            stderrText.append(data)
            lock.unlock()
        }
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    private func consume(_ data: Data) {
        lock.lock()
        defer { lock.unlock() }
        if data.isEmpty {
            closed = true
            stdoutPipe.fileHandleForReading.readabilityHandler = nil
            if !pending.isEmpty {
                lines.append(String(decoding: pending, as: UTF8.self))
                pending.removeAll()
            }
            return
        }
        pending.append(data)
        guard let lastNewline = pending.lastIndex(of: UInt8(ascii: "\n")) else { return }
        let complete = pending[pending.startIndex..<lastNewline]
        for line in complete.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lines.append(String(decoding: line, as: UTF8.self))
        }
        pending = Data(pending[(lastNewline + 1)...])
    }

    /// How many complete lines the child has printed so far.
    public var outputLineCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return lines.count
    }

    /// Every complete line the child has printed so far.
    public var outputLines: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }

    public var standardErrorText: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: stderrText, as: UTF8.self)
    }

    /// Waits (polling every 10 ms, at most `timeout`) until `predicate` holds for the lines so far.
    @discardableResult
    public func waitForOutput(timeout: Duration, _ predicate: ([String]) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if predicate(outputLines) { return true }
            if !process.isRunning && closed { return predicate(outputLines) }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return predicate(outputLines)
    }

    /// Sends `signal` to the child's pid.
    public func send(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// Waits for the child to exit (at most `timeout`, then SIGKILL) and returns its status.
    @discardableResult
    public func waitForExit(timeout: Duration) async -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        // Let the pipe handlers drain what the child wrote before it died.
        let drainDeadline = ContinuousClock.now + .seconds(2)
        while !closed && ContinuousClock.now < drainDeadline { try? await Task.sleep(for: .milliseconds(5)) }
        return process.terminationStatus
    }

    /// SIGKILL, then reap: the crash a test wants.
    public func killHard() async {
        send(SIGKILL)
        await waitForExit(timeout: .seconds(10))
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
