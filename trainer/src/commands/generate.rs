//! `edgegru generate`: autoregressive text generation, token by token.

use anyhow::{bail, Result};
use edgegru_runtime::{Rng, SamplingParams};

use super::backend::{with_runner, Backend};

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

/// Generates from a model's bytes with `backend`, streaming each token to
/// `out` as it is produced. Returns the generated text.
pub fn generate(backend: Backend, bytes: &[u8], opts: &GenerateOptions, out: &mut dyn std::io::Write) -> Result<String> {
    with_runner(backend, bytes, None, |session| generate_with(session, opts, out))
}

fn generate_with(session: &mut dyn super::backend::Runner, opts: &GenerateOptions, out: &mut dyn std::io::Write) -> Result<String> {
    let tok = session.tokenizer()?;
    if tok.count_tokens(&opts.prompt)? == 0 {
        bail!("the prompt holds no token of this model's vocabulary; give a non-empty --prompt");
    }
    let sep = tok.separator();
    let mut text = String::new();
    let mut io_error = None;
    session.generate(&opts.prompt, opts.max_tokens, &opts.params, &mut Rng::new(opts.seed), &mut |_, piece| {
        if let Some(c) = sep {
            text.push(c);
        }
        text.push_str(piece);
        let written = match sep {
            Some(c) => write!(out, "{c}{piece}"),
            None => write!(out, "{piece}"),
        };
        match written.and_then(|_| out.flush()) {
            Ok(()) => true,
            Err(e) => {
                io_error = Some(e);
                false
            }
        }
    })?;
    if let Some(e) = io_error {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    Ok(text)
}
