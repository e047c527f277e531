// The operator CLI's entry point; see `SluiceCommand` for the subcommands.
import ArgumentParser

// Called from a function because in top-level code Swift 6.3 resolves `SluiceCommand.main()` to
// ParsableCommand's synchronous overload, which refuses to run an async command.
func runCommand() async {
    await SluiceCommand.main(GlobalOptionPlacement.reordered(Array(CommandLine.arguments.dropFirst())))
}
await runCommand()
