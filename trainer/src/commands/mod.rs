//! The subcommands of `edgegru`, one module each: its clap arguments, its
//! `run` (which calls the library) and what it prints. Commands never import
//! each other; [`args`] holds the flag groups several of them share.

pub mod args;
pub mod bench;
pub mod console;
pub mod eval;
pub mod export;
pub mod generate;
pub mod import;
pub mod inspect;
pub mod models;
pub mod next;
pub mod pipeline;
pub mod predict;
pub mod prune;
pub mod train;

use std::io::Write as _;

/// How a command ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It did what it was asked.
    Done,
    /// A training run was stopped (Ctrl-C, SIGTERM) after writing a checkpoint.
    Interrupted,
}

/// Prints a line to stdout. A closed pipe (`edgegru generate | head`) ends
/// the process quietly; other write errors are ignored like `println!`'s
/// panics are not.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|_| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}
