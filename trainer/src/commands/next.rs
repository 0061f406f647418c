//! `edgegru next`: the most likely next tokens after a prompt, with their
//! probabilities (the keyboard-suggestion view of a language model).

use anyhow::Result;

use super::args::ModelSource;
use super::{say, Status};
use crate::backend::{with_session, Backend};
use crate::generation::suggest;

/// The most likely next tokens after a prompt, with their probabilities.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  edgegru next --model fortunes-word --prompt \"the meaning of\" --top-k 5
  edgegru next --model m.egru --prompt \"Th\" --top-k 3 --json")]
pub struct Args {
    /// Where the model comes from.
    #[command(flatten)]
    pub source: ModelSource,
    /// The text so far (empty: the first token of a text).
    #[arg(long)]
    pub prompt: String,
    /// How many suggestions (at least 1).
    #[arg(long, value_parser = super::args::whole::<usize>(1), default_value_t = 5, allow_negative_numbers = true)]
    pub top_k: usize,
    /// List the out-of-vocabulary token too.
    #[arg(long)]
    pub allow_oov: bool,
    /// Leave characters (or words) the vocabulary lacks out of the prompt instead of refusing it.
    #[arg(long)]
    pub skip_unknown: bool,
    /// Print one JSON object: {"prompt": ..., "next": [{"token": id, "text": ..., "probability": p}, ...]}.
    #[arg(long)]
    pub json: bool,
    /// Engine that runs the model (tract and ort take an ONNX file).
    #[arg(long, value_enum, default_value = "native")]
    pub backend: Backend,
}

/// Runs `edgegru next`.
pub fn run(a: Args) -> Result<Status> {
    let bytes = a.source.bytes_or_default()?;
    let suggestions = with_session(a.backend, &bytes, None, |session| suggest(session, &a.prompt, a.top_k, a.allow_oov, a.skip_unknown))?;
    if a.json {
        say(&serde_json::json!({ "prompt": a.prompt, "next": suggestions }).to_string());
    } else {
        for s in &suggestions {
            say(&format!("{:>7.2}%  {:?}", s.probability * 100.0, s.text));
        }
    }
    Ok(Status::Done)
}
