//! The subcommands of `edgegru`, one module each, each owning its arguments
//! and its `run`; [`args`] holds the flag groups several of them share.

pub mod args;
pub mod backend;
pub mod bench;
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
use std::path::Path;

use anyhow::{bail, Context, Result};

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

/// Reads a whole file, naming it in the error.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes a whole file, naming it in the error; an existing file is
/// replaced only with `force` (nothing a user types destroys earlier work
/// by accident).
pub fn write_new_file(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    if path.is_dir() {
        bail!("{} is a folder; give a file name", path.display());
    }
    if path.exists() && !force {
        bail!("{} exists; pass --force to replace it", path.display());
    }
    write_file(path, bytes)
}

/// Writes a whole file, naming it in the error.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
