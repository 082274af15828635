//! The `settled` binary: parses the command line and hands over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = settled::cli::Cli::parse();
    settled::cli::run(cli)
}
