import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Histogram
import SluiceTesting
import SluiceWire


/// Producer throughput over the real gRPC front: a broker child process (sync flush) on loopback,
/// driven by concurrent SendMessage calls (normal) and half + EndTransaction(commit) pairs. Prints
/// messages/s, latency, and the broker's own CPU per message (from /proc/<pid>/stat), which is
/// the fair comparison on a 2-core machine where the load generator competes for CPU.
struct NetworkBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grpc", abstract: "Send 1 KiB messages and transactions to a real broker over gRPC.")

    @Option(help: "Comma-separated numbers of concurrent producers.") var concurrency: String = "1,16,256"
    @Option(help: "Seconds each case runs.") var seconds: Double = 3
    @Option(help: "The broker executable (default: sluice-broker beside this program).") var broker: String?
    @Option(help: "Folder for the broker's data (removed afterwards).") var dir: String = "./bench-data/grpc"
    @Option(name: .customLong("e2e-rates"), help: "Comma-separated send rates (msgs/s) for the end-to-end cases.")
    var endToEndRates: String = "1000,10000"
    @Option(name: .customLong("e2e-seconds"), help: "Seconds each end-to-end case sends.") var endToEndSeconds: Double = 5
    @Option(help: "Load generator for the send cases: raw (generated gRPC stubs) or sdk (the SluiceClient SDK).")
    var driver: Driver = .raw

    enum Driver: String, ExpressibleByArgument { case raw, sdk }

    func run() async throws {
        let executable = broker ?? (URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path + "/sluice-broker")
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let grpcPort = try FreePort.next()
        let adminPort = try FreePort.next()
        let process = ChildProcess(
            executable: executable,
            arguments: ["--data-dir", dir + "/data", "--grpc-port", "\(grpcPort)", "--admin-port", "\(adminPort)",
                        "--flush", "sync", "--log-level", "warning"])
        try process.start()
        defer {
            process.send(SIGTERM)
            try? FileManager.default.removeItem(atPath: dir)
        }
        let admin = "http://127.0.0.1:\(adminPort)"
        guard await Self.waitReady(admin) else { throw ValidationError("broker did not become ready: \(process.standardErrorText)") }
        try await Self.createTopic(admin, "bench-normal", "normal")
        try await Self.createTopic(admin, "bench-txn", "transaction")
        try await Self.createTopic(admin, "bench-e2e", "normal")
        let inProcess = try await inProcessFigures()

        print("grpc benchmark: broker \(executable) (sync flush) on 127.0.0.1:\(grpcPort), 1024-byte bodies, \(seconds) s per case, driver \(driver.rawValue)")
        print(pad("case", 18) + pad("per s", 10) + pad("p50 µs", 9) + pad("p99 µs", 9) + pad("broker CPU µs", 15)
            + pad("client CPU µs", 15) + "ratio to in-process")
        let transport = try HTTP2ClientTransport.Posix(target: .ipv4(host: "127.0.0.1", port: grpcPort), transportSecurity: .plaintext)
        try await withGRPCClient(transport: transport) { grpc in
            let client = Apache_Rocketmq_V2_MessagingService.Client(wrapping: grpc)
            for transactional in [false, true] {
                for count in concurrency.split(separator: ",").compactMap({ Int($0) }) {
                    let result =
                        driver == .sdk
                        ? try await runSDKCase(port: grpcPort, producers: count, transactional: transactional, pid: process.pid)
                        : try await runCase(client, producers: count, transactional: transactional, pid: process.pid)
                    let local = (transactional ? inProcess.transactions : inProcess.appends)[count]
                    print(
                        pad("\(transactional ? "txn" : "normal") x\(count)", 18) + pad(String(format: "%.0f", result.rate), 10)
                            + pad("\(result.p50)", 9) + pad("\(result.p99)", 9)
                            + pad(String(format: "%.1f", result.brokerCPU), 15) + pad(String(format: "%.1f", result.clientCPU), 15)
                            + (local.map { String(format: "%.2f (in-process %.0f/s)", result.rate / $0, $0) } ?? "-"))
                }
            }
            print("")
            print(pad("end to end", 18) + pad("sent/s", 10) + pad("recv/s", 10) + pad("p50 µs", 9) + pad("p99 µs", 9)
                + "broker CPU µs")
            for rate in endToEndRates.split(separator: ",").compactMap({ Int($0) }) {
                let result = try await endToEnd(client, rate: rate, pid: process.pid)
                print(pad("send→recv @\(rate)", 18) + pad(String(format: "%.0f", result.sentRate), 10)
                    + pad(String(format: "%.0f", result.receivedRate), 10) + pad("\(result.p50)", 9) + pad("\(result.p99)", 9)
                    + String(format: "%.1f", result.brokerCPU))
            }
        }
        print("ratio = over gRPC / in-process at the same concurrency, measured in this run (storage: sync appends;")
        print("txn: prepare + commit through the coordinator): the cost of the network layer.")
        print("end to end: sender paces SendMessage at the rate (32 tasks); 4 consumers long-poll ReceiveMessage (batch 32)")
        print("and ack a batch's messages concurrently; latency = send start to message in the consumer's hands;")
        print("broker CPU per message (send + receive + ack).")
        print("per s = messages (normal) or transactions (half + commit) per second; CPU = µs per message or")
        print("transaction: broker from /proc/<pid>/stat, client = this process (getrusage).")
        print("anchors (same machine kind): RabbitMQ quorum ~37 µs broker CPU per durable message; PostgreSQL outbox")
        print("~158 µs per transaction; goal: transactional message <= ~79 µs.")
    }

    struct Result {
        var rate: Double
        var p50: Int
        var p99: Int
        var brokerCPU: Double
        var clientCPU: Double
    }

    private func runCase(
        _ client: Apache_Rocketmq_V2_MessagingService.Client<HTTP2ClientTransport.Posix>, producers: Int,
        transactional: Bool, pid: Int32
    ) async throws -> Result {
        let brokerBefore = Self.processCPUSeconds(pid)
        let clientBefore = Self.selfCPUSeconds()
        let started = ContinuousClock.now
        let deadline = started + .milliseconds(Int(seconds * 1000))
        let body = Data(repeating: 0x61, count: 1024)
        let histograms = try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
            for producer in 0..<producers {
                group.addTask {
                    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
                    var metadata = Metadata()
                    metadata.addString("bench@\(producer)", forKey: "x-mq-client-id")
                    var sequence = 0
                    while ContinuousClock.now < deadline {
                        var message = Apache_Rocketmq_V2_Message()
                        message.topic.name = transactional ? "bench-txn" : "bench-normal"
                        message.body = body
                        message.systemProperties.messageType = transactional ? .transaction : .normal
                        message.systemProperties.messageID = "B\(producer)-\(sequence)"
                        var request = Apache_Rocketmq_V2_SendMessageRequest()
                        request.messages = [message]
                        let begin = ContinuousClock.now
                        let sent = try await client.sendMessage(request: ClientRequest(message: request, metadata: metadata))
                        guard sent.status.code == .ok else { throw ValidationError("send failed: \(sent.status.message)") }
                        if transactional {
                            var end = Apache_Rocketmq_V2_EndTransactionRequest()
                            end.transactionID = sent.entries[0].transactionID
                            end.messageID = sent.entries[0].messageID
                            end.resolution = .commit
                            end.source = .sourceClient
                            let ended = try await client.endTransaction(request: ClientRequest(message: end, metadata: metadata))
                            guard ended.status.code == .ok else { throw ValidationError("end failed: \(ended.status.message)") }
                        }
                        histogram.record(UInt64((ContinuousClock.now - begin) / .microseconds(1)))
                        sequence += 1
                    }
                    return histogram
                }
            }
            var all: [Histogram<UInt64>] = []
            for try await histogram in group { all.append(histogram) }
            return all
        }
        let elapsed = ContinuousClock.now - started
        var merged = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        for histogram in histograms { merged.add(histogram) }
        let count = Double(merged.totalCount)
        let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Result(
            rate: count / wall, p50: Int(merged.valueAtPercentile(50)), p99: Int(merged.valueAtPercentile(99)),
            brokerCPU: (Self.processCPUSeconds(pid) - brokerBefore) / max(count, 1) * 1e6,
            clientCPU: (Self.selfCPUSeconds() - clientBefore) / max(count, 1) * 1e6)
    }

    /// utime + stime of a process, in seconds, from /proc/<pid>/stat.
    static func processCPUSeconds(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func selfCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    static func waitReady(_ admin: String) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let reply = try? await LoopbackHTTP.get(admin + "/readyz"), reply.status == 200 { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    static func createTopic(_ admin: String, _ name: String, _ type: String) async throws {
        let body = try JSONSerialization.data(withJSONObject: ["name": name, "type": type])
        _ = try await LoopbackHTTP.send(
            "POST", admin + "/v1/topics", headers: ["Content-Type": "application/json"], body: Array(body))
    }
}
