//! `edgegru generate`: autoregressive text generation, token by token.

use anyhow::{bail, Result};
use edgegru_runtime::{Rng, SamplingParams};

use super::args::{ModelSource, SamplingArgs};
use super::backend::{with_runner, Backend, Runner};
use super::Status;
use crate::tokenize::describe_unknown;

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
    /// Text to start from.
    #[arg(long)]
    pub prompt: String,
    /// Number of tokens to generate.
    #[arg(long, default_value_t = 200)]
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

/// Sampling and length settings of one generation.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Text fed before generating.
    pub prompt: String,
    /// Tokens to generate.
    pub max_tokens: usize,
    /// How to pick each token.
    pub params: SamplingParams,
    /// Seed of the sampler.
    pub seed: u64,
}

/// `text` without the characters (or words) `session`'s tokenizer lacks.
pub fn known_text(session: &dyn Runner, text: &str) -> Result<String> {
    let tok = session.tokenizer()?;
    let mut out = String::new();
    for c in text.chars() {
        let mut buf = [0u8; 4];
        if tok.count_tokens(c.encode_utf8(&mut buf)).is_ok() || c.is_whitespace() {
            out.push(c);
        }
    }
    Ok(out)
}

/// Generates from a model's bytes with `backend`, the prompt first, then each
/// token as it is produced, to `out`. The model and the prompt are checked
/// before anything is written. Returns the generated text.
pub fn generate(
    backend: Backend,
    bytes: &[u8],
    opts: &GenerateOptions,
    skip_unknown: bool,
    out: &mut dyn std::io::Write,
) -> Result<String> {
    with_runner(backend, bytes, None, |session| {
        let prompt = if skip_unknown { known_text(session, &opts.prompt)? } else { opts.prompt.clone() };
        let tok = session.tokenizer()?;
        match tok.count_tokens(&prompt) {
            Ok(0) => bail!("the prompt holds no token of this model's vocabulary; give a non-empty --prompt"),
            Ok(_) => {}
            Err(e) => match describe_unknown(&prompt, &e) {
                Some(what) => bail!("the prompt: {what} (--skip-unknown leaves such characters out)"),
                None => return Err(e.into()),
            },
        }
        let opts = GenerateOptions { prompt, ..opts.clone() };
        generate_with(session, &opts, out)
    })
}

fn generate_with(session: &mut dyn Runner, opts: &GenerateOptions, out: &mut dyn std::io::Write) -> Result<String> {
    let sep = session.tokenizer()?.separator();
    let mut text = String::new();
    let mut io_error = None;
    let mut write = |piece: &str| match write!(out, "{piece}").and_then(|_| out.flush()) {
        Ok(()) => true,
        Err(e) => {
            io_error = Some(e);
            false
        }
    };
    if write(&opts.prompt) {
        session.generate(&opts.prompt, opts.max_tokens, &opts.params, &mut Rng::new(opts.seed), &mut |_, piece| {
            let mut s = String::new();
            if let Some(c) = sep {
                s.push(c);
            }
            s.push_str(piece);
            text.push_str(&s);
            write(&s)
        })?;
    }
    if let Some(e) = io_error {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
        // The reader went away (`| head`): stop quietly.
        std::process::exit(0);
    }
    Ok(text)
}

/// Runs `edgegru generate`.
pub fn run(a: Args) -> Result<Status> {
    let bytes = a.source.bytes_or_default()?;
    let params = a.sampling.params()?;
    let opts = GenerateOptions { prompt: a.prompt.clone(), max_tokens: a.max_tokens, params, seed: a.sampling.seed };
    let mut stdout = std::io::stdout();
    generate(a.backend, &bytes, &opts, a.skip_unknown, &mut stdout)?;
    super::say("");
    Ok(Status::Done)
}
