// The broker's entry point; `BrokerCommand` parses flags and runs the services.
import ArgumentParser
import NIOCore
import NIOPosix

// Swift concurrency's jobs run on NIO's event loops rather than on a separate cooperative pool,
// so a gRPC call's task starts on the loop that read its request and answers without a thread
// hop (see docs/benchmarks.md, "gRPC path CPU"). Must happen before any task is created.
_ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()

// Called from a function because in top-level code Swift 6.3 resolves `BrokerCommand.main()` to
// ParsableCommand's synchronous overload, which refuses to run an async command.
func runCommand() async {
    await BrokerCommand.main()
}
await runCommand()
