import ArgumentParser

@main
struct SluiceBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice-bench",
        abstract: "Benchmarks for Sluice, each printing its own physical limits and the ratio to them.",
        subcommands: [StorageBenchmark.self, AccumulateBenchmark.self, FilterBenchmark.self, LiteBenchmark.self, NetworkBenchmark.self, TransactionBenchmark.self, CrashChild.self, TransactionCrashChild.self, ConsumeCrashChild.self, ConsumeBenchmark.self, FuzzCommand.self, ReplicationFuzzCommand.self, AuthBenchmark.self, FeatureCostBenchmark.self]
    )
}
