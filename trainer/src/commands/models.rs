//! `edgegru models`: the built-in models ([`crate::builtin`]) with their sizes and quality.

use anyhow::Result;
use edgegru_runtime::Model;

use super::{say, Status};
use crate::builtin::{card_value, BUILT_IN};

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
            say(&format!("{:<16}{:>9} B  arena {:>7} B  {:<26}{}", m.name, m.bytes.len(), model.arena_size(), quality, m.purpose));
        }
    }
    if a.json {
        say(&serde_json::to_string(&rows)?);
    }
    Ok(Status::Done)
}
