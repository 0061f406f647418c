//! The subcommands of `edgegru`, one module each.

pub mod backend;
pub mod bench;
pub mod eval;
pub mod export;
pub mod generate;
pub mod inspect;
pub mod pipeline;
pub mod train;

use anyhow::{Context, Result};

/// Reads a whole file, naming it in the error.
pub fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes a whole file, naming it in the error.
pub fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
