//! `edgegru generate`: autoregressive text generation, token by token.

use std::io::Write as _;

use anyhow::Result;

use super::args::{ModelSource, SamplingArgs};
use super::{say, Status};
use crate::backend::{with_session, Backend};
use crate::generation::{generate, GenerateOptions};

/// Generate text from a prompt, token by token (without --model: the built-in fortunes-char model).
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  edgegru generate --prompt \"The meaning of life is\"
  edgegru generate --model fortunes-word --prompt \"the \" --max-tokens 50
  edgegru generate --model m.egru --prompt \"The \" --max-tokens 200
  edgegru generate --checkpoint runs/a --prompt \"The \" --temperature 0.8 --top-k 40 --seed 7")]
pub struct Args {
    /// Where the model comes from.
    #[command(flatten)]
    pub source: ModelSource,
    /// Text to start from (empty: generate from nothing, starting at the vocabulary's padding or newline token).
    #[arg(long)]
    pub prompt: String,
    /// Number of tokens to generate.
    #[arg(long, value_parser = super::args::whole::<usize>(0), default_value_t = 200, allow_negative_numbers = true)]
    pub max_tokens: usize,
    /// How tokens are picked.
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Leave characters (or words) the vocabulary lacks out of the prompt instead of refusing it.
    #[arg(long)]
    pub skip_unknown: bool,
    /// Engine that runs the model (tract and ort take an ONNX file).
    #[arg(long, value_enum, default_value = "native")]
    pub backend: Backend,
}

/// Runs `edgegru generate`.
pub fn run(a: Args) -> Result<Status> {
    let bytes = a.source.bytes_or_default()?;
    let params = a.sampling.params()?;
    let opts = GenerateOptions { prompt: a.prompt.clone(), max_tokens: a.max_tokens, params, seed: a.sampling.seed };
    let mut stdout = std::io::stdout();
    let mut io_error = None;
    with_session(a.backend, &bytes, None, |session| {
        generate(session, &opts, a.skip_unknown, &mut |piece| match write!(stdout, "{piece}").and_then(|_| stdout.flush()) {
            Ok(()) => true,
            Err(e) => {
                io_error = Some(e);
                false
            }
        })
    })?;
    match io_error {
        // The reader went away (`| head`): stop quietly.
        Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Some(e) => return Err(e.into()),
        None => {}
    }
    say("");
    Ok(Status::Done)
}
