//! Reading and writing whole files, each error naming the file; nothing a
//! caller writes replaces earlier work unless it asks to.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Reads a whole file, naming it in the error.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes a whole file, naming it in the error.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes a new file, creating its folder if needed; an existing file is
/// replaced only with `force` (nothing a user types destroys earlier work
/// by accident).
pub fn write_new_file(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    if path.is_dir() {
        bail!("{} is a folder; give a file name", path.display());
    }
    if path.exists() && !force {
        bail!("{} exists; pass --force to replace it", path.display());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_file(path, bytes)
}

/// An absolute path (a resumed run finds its data from anywhere).
pub fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

/// Whether two paths name the same file (both must exist).
pub fn same_file(a: &Path, b: &Path) -> bool {
    matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
}
