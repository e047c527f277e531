import SluiceTransactions
import Testing

@Suite("TransactionCheckerConfiguration")
struct TransactionCheckerConfigurationTests {
    @Test("the defaults follow RocketMQ: 30 s between checks, 15 checks, answers awaited one interval")
    func defaults() {
        let configuration = TransactionCheckerConfiguration()
        #expect(configuration.checkInterval == .seconds(30))
        #expect(configuration.maximumChecks == 15)
        #expect(configuration.backoffMultiplier == 1)
        #expect(
            (1...15).map { configuration.checkInterval(afterAttempt: $0) } == Array(repeating: .seconds(30), count: 15))
        #expect(configuration.answerTimeout(forAttempt: 7) == .seconds(30))
    }

    @Test("backoff multiplies each pause, up to the maximum interval")
    func backoffCapped() {
        var configuration = TransactionCheckerConfiguration()
        configuration.backoffMultiplier = 2
        configuration.maximumCheckInterval = .seconds(300)
        #expect(
            (1...6).map { configuration.checkInterval(afterAttempt: $0) }
                == [.seconds(30), .seconds(60), .seconds(120), .seconds(240), .seconds(300), .seconds(300)])
        configuration.answerTimeout = .seconds(5)
        #expect(configuration.answerTimeout(forAttempt: 4) == .seconds(5))
    }

    static let invalid: [(String, @Sendable (inout TransactionCheckerConfiguration) -> Void)] = [
        ("checkInterval", { $0.checkInterval = .zero }),
        ("backoffMultiplier", { $0.backoffMultiplier = 0.5 }),
        ("maximumChecks", { $0.maximumChecks = 0 }),
        ("answerTimeout", { $0.answerTimeout = .zero }),
        ("pollInterval", { $0.pollInterval = .milliseconds(-1) }),
        ("batchLimit", { $0.batchLimit = 0 }),
        ("maximumConcurrentSends", { $0.maximumConcurrentSends = 0 }),
        ("producerGroupRateLimit.checksPerSecond", { $0.producerGroupRateLimit = CheckRateLimit(checksPerSecond: 0) }),
        ("producerGroupRateLimit.burst", { $0.producerGroupRateLimit = CheckRateLimit(checksPerSecond: 5, burst: 0) }),
    ]

    @Test("validate names the field out of range", arguments: invalid.indices)
    func validate(index: Int) throws {
        let (field, change) = Self.invalid[index]
        var configuration = TransactionCheckerConfiguration()
        change(&configuration)
        let error = try #require(throws: TransactionStoreError.self) { try configuration.validate() }
        #expect(error.code == .invalidArgument)
        #expect(error.message.hasPrefix(field + " is"), "\(error.message)")
    }

    @Test("the defaults are valid")
    func defaultsValid() throws {
        try TransactionCheckerConfiguration().validate()
    }
}
