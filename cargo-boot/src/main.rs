//! The `cargo-boot` binary: argument parsing and terminal output only.
//! Everything it does is in the `cargo_boot` library.

mod cmd;

use clap::Parser;

fn main() {
    let cli = cmd::Cargo::parse();
    let cmd::Cargo::Boot(boot) = cli;
    if let Err(err) = boot.run() {
        cmd::report_error(&err);
        std::process::exit(1);
    }
}
