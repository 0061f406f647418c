//! The built-in models (`models/` compiled into the tool) and `edgegru models`.

use std::path::Path;

use anyhow::{bail, Result};
use edgegru_runtime::Model;

use super::Status;

/// A shipped model: its name, bytes, card and what it is for.
pub struct BuiltIn {
    /// The name `--model` takes.
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
        bytes: include_bytes!("../../../models/fortunes-char.egru"),
        card: include_str!("../../../models/fortunes-char.md"),
        purpose: "character text generation (the default model), int8 with 75% of its blocks pruned",
    },
    BuiltIn {
        name: "fortunes-word",
        bytes: include_bytes!("../../../models/fortunes-word.egru"),
        card: include_str!("../../../models/fortunes-word.md"),
        purpose: "word text generation and next-word suggestions (Keras-style word tokenizer), int8 with 75% of its blocks pruned",
    },
    BuiltIn {
        name: "tiny",
        bytes: include_bytes!("../../../models/tiny.egru"),
        card: include_str!("../../../models/tiny.md"),
        purpose: "character text on microcontrollers without an FPU (integer-only, Cortex-M0)",
    },
    BuiltIn {
        name: "basicmotions",
        bytes: include_bytes!("../../../models/basicmotions.egru"),
        card: include_str!("../../../models/basicmotions.md"),
        purpose: "activity recognition from accelerometer + gyroscope (6 features per step, 4 classes; integer-only)",
    },
    BuiltIn {
        name: "japanesevowels",
        bytes: include_bytes!("../../../models/japanesevowels.egru"),
        card: include_str!("../../../models/japanesevowels.md"),
        purpose: "speaker recognition from 12 LPC audio features per frame (9 classes; int8)",
    },
];

/// The number in a card's table row that starts with `label`, if there is one.
pub fn card_value(card: &str, label: &str) -> Option<f64> {
    let row = card.lines().find(|l| l.starts_with(&format!("| {label} |")))?;
    row.split('|').nth(2)?.split_whitespace().next()?.trim_end_matches('%').parse().ok()
}

/// The bytes of a model named on the command line: a file, or a built-in model's name.
pub fn resolve(name: &str) -> Result<Vec<u8>> {
    let path = Path::new(name);
    if path.exists() {
        return super::read_file(path);
    }
    if let Some(m) = BUILT_IN.iter().find(|m| m.name == name) {
        return Ok(m.bytes.to_vec());
    }
    let names: Vec<&str> = BUILT_IN.iter().map(|m| m.name).collect();
    bail!("{name} is neither a file nor a built-in model ({})", names.join(", "))
}

/// List the built-in models (usable as `--model NAME` everywhere a model is taken).
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  edgegru models\n  edgegru generate --model fortunes-word --prompt \"the \"")]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `edgegru models`.
pub fn run(a: Args) -> Result<Status> {
    let mut rows = Vec::new();
    for m in &BUILT_IN {
        let model = Model::from_bytes(m.bytes)?;
        let loss = card_value(m.card, "held-out loss, shipped file");
        let accuracy = card_value(m.card, "test accuracy, shipped file");
        rows.push(serde_json::json!({
            "name": m.name,
            "bytes": m.bytes.len(),
            "arena": model.arena_size(),
            "held_out_loss": loss,
            "test_accuracy": accuracy,
            "purpose": m.purpose,
        }));
        if !a.json {
            let quality = match (loss, accuracy) {
                (Some(l), _) => format!("held-out loss {l:.4}"),
                (None, Some(acc)) => format!("test accuracy {:.1}%", acc * 100.0),
                _ => String::new(),
            };
            super::say(&format!("{:<16}{:>9} B  arena {:>7} B  {:<26}{}", m.name, m.bytes.len(), model.arena_size(), quality, m.purpose));
        }
    }
    if a.json {
        super::say(&serde_json::to_string(&rows)?);
    }
    Ok(Status::Done)
}
