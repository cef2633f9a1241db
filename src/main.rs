//! The `stardust` binary: parse the command line, set up logging, hand over to `cli`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
