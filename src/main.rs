use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    procura::cli::run(procura::cli::Cli::parse())
}
