use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    procura::allocator::bound_retention();
    procura::cli::run(procura::cli::Cli::parse())
}
