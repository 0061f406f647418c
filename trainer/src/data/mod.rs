//! Training data: a text corpus (one UTF-8 file or a folder of them), its
//! train / validation split and windows; and labelled feature sequences
//! ([`sequences`]).

pub mod sequences;
pub mod table;

pub use sequences::{read_sequences, FeatureStats, LabelKind, ReadOptions, Sequences, TargetStats};
pub use table::Columns;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use edgegru_runtime::Rng;
use serde::{Deserialize, Serialize};

/// `n` indices in a seeded order that changes with `round` (an epoch, or
/// [`SPLIT_ROUND`] for the validation split).
pub fn shuffled(n: usize, seed: u64, round: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng::new(seed ^ round.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03);
    for i in (1..n).rev() {
        order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    order
}

/// The `round` of [`shuffled`] that draws a validation split (no epoch's).
pub const SPLIT_ROUND: u64 = u64::MAX;

/// How to treat bytes that are not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Utf8Policy {
    /// Refuse the corpus, naming the file and byte offset.
    Strict,
    /// Replace invalid sequences with U+FFFD.
    Lossy,
}

/// Files of a corpus path: the file itself, or every regular file below a
/// folder (sorted by path; hidden files, Debian's `.dat` indexes, its `.u8`
/// duplicates and the `off/` folder skipped).
pub fn corpus_files(path: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read corpus {}", path.display()))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let p = entry?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') || name.ends_with(".dat") || name.ends_with(".u8") {
                continue;
            }
            let m = std::fs::metadata(&p)?;
            if m.is_dir() {
                // Debian's offensive fortunes live in off/; they are not part of the corpus.
                if name != "off" {
                    stack.push(p);
                }
            } else if m.is_file() {
                files.push(p);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        bail!("corpus folder {} holds no files", path.display());
    }
    Ok(files)
}

/// Where byte `offset` of a corpus' concatenated `text` lies: `FILE:LINE:COLUMN`
/// (columns count characters), for messages.
pub fn position(path: &Path, text: &str, offset: usize) -> String {
    let mut start = 0;
    for file in corpus_files(path).unwrap_or_default() {
        let len = std::fs::metadata(&file).map_or(0, |m| m.len() as usize);
        if offset < start + len || len == 0 && offset == start {
            let before = text.get(start..offset).unwrap_or("");
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            return format!("{}:{line}:{column}", file.display());
        }
        start += len;
    }
    format!("{} (byte {offset})", path.display())
}

/// The concatenated text of a corpus (files joined in path order).
pub fn read_corpus(path: &Path, policy: Utf8Policy) -> Result<String> {
    let mut text = String::new();
    for file in corpus_files(path)? {
        let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
        match (String::from_utf8(bytes), policy) {
            (Ok(s), _) => text.push_str(&s),
            (Err(e), Utf8Policy::Lossy) => text.push_str(&String::from_utf8_lossy(e.as_bytes())),
            (Err(e), Utf8Policy::Strict) => {
                bail!(
                    "{} is not UTF-8: invalid byte at offset {} (use --lossy to replace invalid bytes)",
                    file.display(),
                    e.utf8_error().valid_up_to()
                )
            }
        }
    }
    if text.is_empty() {
        bail!("corpus {} is empty", path.display());
    }
    Ok(text)
}

/// Splits token ids into training and validation parts: the validation part
/// is the last `val_fraction` of the sequence; the two never overlap.
pub fn split_tail(ids: &[u32], val_fraction: f64) -> (&[u32], &[u32]) {
    let val = ((ids.len() as f64) * val_fraction.clamp(0.0, 1.0)).round() as usize;
    ids.split_at(ids.len() - val.min(ids.len()))
}

/// Start offsets of the training windows: `seq_len + 1` tokens each
/// (inputs and next-token targets), stepping by `seq_len`.
pub fn window_starts(len: usize, seq_len: usize) -> Vec<usize> {
    if seq_len == 0 || len < seq_len + 1 {
        return Vec::new();
    }
    (0..=(len - seq_len - 1)).step_by(seq_len).collect()
}

/// Where an epoch cuts the training text into windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum WindowOffsets {
    /// Every epoch cuts at the same places: 0, `seq_len`, `2 seq_len`, ...
    #[default]
    Fixed,
    /// Each epoch shifts the cuts by 0 to `seq_len - 1` tokens, drawn from the
    /// seed and the epoch, so epochs do not repeat each other's windows and
    /// every token is seen after contexts of different lengths (less
    /// overfitting on long runs).
    Random,
}

impl WindowOffsets {
    /// Start offsets of epoch `epoch`'s windows over `len` training tokens.
    pub fn epoch_starts(self, len: usize, seq_len: usize, seed: u64, epoch: u64) -> Vec<usize> {
        let shift = match self {
            WindowOffsets::Fixed => 0,
            WindowOffsets::Random => {
                let mut rng = Rng::new(seed ^ epoch.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x6A09_E667_F3BC_C908);
                (rng.next_u64() % seq_len.max(1) as u64) as usize
            }
        };
        window_starts(len.saturating_sub(shift), seq_len).into_iter().map(|s| s + shift).collect()
    }

    /// Windows that every epoch has at least (with random offsets, those of
    /// the largest shift).
    pub fn windows_per_epoch(self, len: usize, seq_len: usize) -> usize {
        let largest_shift = match self {
            WindowOffsets::Fixed => 0,
            WindowOffsets::Random => seq_len.saturating_sub(1),
        };
        window_starts(len.saturating_sub(largest_shift), seq_len).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_names_file_and_offset() {
        let dir = std::env::temp_dir().join(format!("edgegru-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("bad.txt");
        std::fs::write(&f, b"hello \xff world").unwrap();
        let err = read_corpus(&f, Utf8Policy::Strict).unwrap_err().to_string();
        assert!(err.contains("bad.txt") && err.contains("offset 6"), "{err}");
        assert_eq!(read_corpus(&f, Utf8Policy::Lossy).unwrap(), "hello \u{FFFD} world");
        std::fs::write(dir.join("good.txt"), "abc").unwrap();
        std::fs::write(dir.join("index.dat"), b"\x00\x01").unwrap();
        let err = read_corpus(&dir, Utf8Policy::Strict).unwrap_err().to_string();
        assert!(err.contains("bad.txt"));
        std::fs::remove_file(&f).unwrap();
        assert_eq!(read_corpus(&dir, Utf8Policy::Strict).unwrap(), "abc");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn validation_is_the_tail_and_windows_never_cross_it() {
        let ids: Vec<u32> = (0..100).collect();
        let (train, val) = split_tail(&ids, 0.1);
        assert_eq!((train.len(), val.len()), (90, 10));
        assert_eq!(val[0], 90);
        let starts = window_starts(train.len(), 10);
        assert_eq!(starts, vec![0, 10, 20, 30, 40, 50, 60, 70]);
        assert!(starts.iter().all(|s| s + 11 <= train.len()));
    }

    #[test]
    fn random_offsets_shift_each_epoch_and_stay_inside_the_training_text() {
        let (len, seq) = (1000, 10);
        assert_eq!(WindowOffsets::Fixed.epoch_starts(len, seq, 1, 5), window_starts(len, seq));
        let mut shifts = std::collections::BTreeSet::new();
        for epoch in 0..40 {
            let starts = WindowOffsets::Random.epoch_starts(len, seq, 1, epoch);
            let shift = starts[0];
            assert!(shift < seq, "epoch {epoch}: shift {shift}");
            // Consecutive windows, one shift for the whole epoch, never past the end.
            assert!(starts.iter().enumerate().all(|(i, &s)| s == shift + i * seq), "epoch {epoch}");
            assert!(starts.iter().all(|&s| s + seq < len), "epoch {epoch}");
            assert!(starts.len() >= WindowOffsets::Random.windows_per_epoch(len, seq));
            // The same seed and epoch give the same windows.
            assert_eq!(starts, WindowOffsets::Random.epoch_starts(len, seq, 1, epoch));
            shifts.insert(shift);
        }
        assert!(shifts.len() >= 6, "shifts drawn over 40 epochs: {shifts:?}");
        // The count every epoch has: that of the largest shift.
        for len in [995, 1000, 1001, 1009, 1010] {
            let fewest = (0..seq).map(|shift| window_starts(len - shift, seq).len()).min();
            assert_eq!(Some(WindowOffsets::Random.windows_per_epoch(len, seq)), fewest, "{len} tokens");
            assert_eq!(WindowOffsets::Fixed.windows_per_epoch(len, seq), window_starts(len, seq).len());
        }
        assert_eq!(WindowOffsets::Random.windows_per_epoch(995, seq), 98);
        // Too short for any window: none, whatever the shift.
        assert!(WindowOffsets::Random.epoch_starts(5, seq, 1, 0).is_empty());
    }
}
