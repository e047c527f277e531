// The broker's entry point; `BrokerCommand` parses flags and runs the services.
import ArgumentParser

// Called from a function because in top-level code Swift 6.3 resolves `BrokerCommand.main()` to
// ParsableCommand's synchronous overload, which refuses to run an async command.
func runCommand() async {
    await BrokerCommand.main()
}
await runCommand()
