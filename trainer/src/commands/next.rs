//! `edgegru next`: the most likely next tokens after a prompt, with their
//! probabilities (the keyboard-suggestion view of a language model).

use anyhow::{bail, Result};
use edgegru_runtime::TokenProb;
use serde::Serialize;

use super::args::ModelSource;
use super::backend::{with_runner, Backend};
use super::Status;
use crate::tokenize::describe_unknown;

/// The most likely next tokens after a prompt, with their probabilities.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  edgegru next --model fortunes-word --prompt \"the meaning of\" --top-k 5
  edgegru next --model m.egru --prompt \"Th\" --top-k 3 --json")]
pub struct Args {
    /// Where the model comes from.
    #[command(flatten)]
    pub source: ModelSource,
    /// The text so far.
    #[arg(long)]
    pub prompt: String,
    /// How many suggestions (at least 1).
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    /// List the out-of-vocabulary token too.
    #[arg(long)]
    pub allow_oov: bool,
    /// Print one JSON object: {"prompt": ..., "next": [{"token": id, "text": ..., "probability": p}, ...]}.
    #[arg(long)]
    pub json: bool,
    /// Engine that runs the model (tract and ort take an ONNX file).
    #[arg(long, value_enum, default_value = "native")]
    pub backend: Backend,
}

#[derive(Serialize)]
struct Suggestion {
    token: u32,
    text: String,
    probability: f32,
}

/// Runs `edgegru next`.
pub fn run(a: Args) -> Result<Status> {
    if a.top_k == 0 {
        bail!("--top-k must be at least 1");
    }
    let bytes = a.source.bytes_or_default()?;
    let suggestions = with_runner(a.backend, &bytes, None, |session| {
        let tok = session.tokenizer()?;
        match tok.count_tokens(&a.prompt) {
            Ok(0) => bail!("the prompt holds no token of this model's vocabulary; give a non-empty --prompt"),
            Err(e) => match describe_unknown(&a.prompt, &e) {
                Some(what) => bail!("the prompt: {what}"),
                None => return Err(e.into()),
            },
            Ok(_) => {}
        }
        let ids: Vec<u32> = tok.encode_iter(&a.prompt).collect::<Result<_, _>>()?;
        for &id in &ids {
            session.step(id)?;
        }
        let mut out = vec![TokenProb::default(); a.top_k];
        let n = session.top_k(&mut out, a.allow_oov)?;
        let tok = session.tokenizer()?;
        out[..n]
            .iter()
            .map(|t| Ok(Suggestion { token: t.token, text: tok.token_text(t.token)?.to_string(), probability: t.prob }))
            .collect::<Result<Vec<_>>>()
    })?;
    if a.json {
        super::say(&serde_json::json!({ "prompt": a.prompt, "next": suggestions }).to_string());
    } else {
        for s in &suggestions {
            super::say(&format!("{:>7.2}%  {:?}", s.probability * 100.0, s.text));
        }
    }
    Ok(Status::Done)
}
