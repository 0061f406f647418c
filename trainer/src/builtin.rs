//! The built-in models: the shipped `models/` files compiled into the
//! library, each usable by name wherever a model is taken.

use std::path::Path;

use anyhow::{bail, Result};

/// A shipped model: its name, bytes, card and what it is for.
pub struct BuiltIn {
    /// The name a model argument takes (`--model tiny`).
    pub name: &'static str,
    /// The `.egru` file.
    pub bytes: &'static [u8],
    /// Its model card (Markdown).
    pub card: &'static str,
    /// What it is for.
    pub purpose: &'static str,
}

/// Every built-in model.
pub const BUILT_IN: [BuiltIn; 5] = [
    BuiltIn {
        name: "fortunes-char",
        bytes: include_bytes!("../../models/fortunes-char.egru"),
        card: include_str!("../../models/fortunes-char.md"),
        purpose: "character text generation (the default model), int8 with 75% of its blocks pruned",
    },
    BuiltIn {
        name: "fortunes-word",
        bytes: include_bytes!("../../models/fortunes-word.egru"),
        card: include_str!("../../models/fortunes-word.md"),
        purpose: "word text generation and next-word suggestions (Keras-style word tokenizer), int8 with 75% of its blocks pruned",
    },
    BuiltIn {
        name: "tiny",
        bytes: include_bytes!("../../models/tiny.egru"),
        card: include_str!("../../models/tiny.md"),
        purpose: "character text on microcontrollers without an FPU (integer-only, Cortex-M0)",
    },
    BuiltIn {
        name: "basicmotions",
        bytes: include_bytes!("../../models/basicmotions.egru"),
        card: include_str!("../../models/basicmotions.md"),
        purpose: "activity recognition from accelerometer + gyroscope (6 features per step, 4 classes; integer-only)",
    },
    BuiltIn {
        name: "japanesevowels",
        bytes: include_bytes!("../../models/japanesevowels.egru"),
        card: include_str!("../../models/japanesevowels.md"),
        purpose: "speaker recognition from 12 LPC audio features per frame (9 classes; int8)",
    },
];

/// The default model, `fortunes-char`: what text generation uses when no
/// model is named.
pub const DEFAULT_MODEL: &[u8] = BUILT_IN[0].bytes;

/// The number in a card's table row that starts with `label`, if there is one.
pub fn card_value(card: &str, label: &str) -> Option<f64> {
    let row = card.lines().find(|l| l.starts_with(&format!("| {label} |")))?;
    row.split('|').nth(2)?.split_whitespace().next()?.trim_end_matches('%').parse().ok()
}

/// The bytes of a model given by name: a file, or a built-in model's name.
///
/// ```
/// let tiny = edgegru_trainer::builtin::resolve("tiny")?;
/// let model = edgegru_runtime::Model::from_bytes(&tiny)?;
/// assert_eq!(model.arena_size(), 3711);
/// assert!(edgegru_trainer::builtin::resolve("no-such-model").is_err());
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn resolve(name: &str) -> Result<Vec<u8>> {
    let path = Path::new(name);
    if path.exists() {
        return crate::files::read_file(path);
    }
    if let Some(m) = BUILT_IN.iter().find(|m| m.name == name) {
        return Ok(m.bytes.to_vec());
    }
    let names: Vec<&str> = BUILT_IN.iter().map(|m| m.name).collect();
    bail!("{name} is neither a file nor a built-in model ({})", names.join(", "))
}
