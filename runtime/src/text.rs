//! Text-level operations shared by every kind of session (the native one and,
//! with `std`, the ONNX backends): feeding text, sampling, suggestions and
//! generation, over anything that steps one token at a time.

use crate::error::Error;
use crate::sampling::{self, Rng, SamplingParams, TokenProb};
use crate::tokenizer::{TextWriter, Tokenizer};

/// One token in, next-token logits kept: what the text operations need.
pub(crate) trait Stepper {
    /// The error of a step (the runtime's own, or a backend's that wraps it).
    type Error: From<Error>;
    /// Feeds one token.
    fn step_token(&mut self, token: u32) -> Result<(), Self::Error>;
    /// Logits of the last step, if there was one.
    fn last_logits(&self) -> Option<&[f32]>;
}

/// Feeds every token of `text`; returns how many were fed. Text the
/// tokenizer cannot encode is refused before anything is fed.
pub(crate) fn feed<S: Stepper>(s: &mut S, tok: &Tokenizer<'_>, text: &str) -> Result<usize, S::Error> {
    tok.count_tokens(text)?;
    let mut n = 0;
    for id in tok.encode_iter(text) {
        s.step_token(id?)?;
        n += 1;
    }
    Ok(n)
}

/// Picks the next token from the last logits.
pub(crate) fn sample<S: Stepper>(
    s: &S,
    params: &SamplingParams,
    rng: &mut Rng,
    probs: &mut [f32],
    order: &mut [u32],
) -> Result<u32, S::Error> {
    params.validate()?;
    let logits = s.last_logits().ok_or(Error::EmptyPrompt)?;
    Ok(sampling::sample(logits, params, rng, probs, order))
}

/// The `out.len()` most likely next tokens, most likely first.
pub(crate) fn top_k<S: Stepper>(s: &S, probs: &mut [f32], order: &mut [u32], out: &mut [TokenProb]) -> Result<usize, S::Error> {
    let logits = s.last_logits().ok_or(Error::EmptyPrompt)?;
    Ok(sampling::top_k(logits, probs, order, out))
}

/// Feeds `prompt`, then samples up to `max_tokens` tokens, feeding each back;
/// `on_token(id, text)` returns `false` to stop. Returns the tokens generated.
#[allow(clippy::too_many_arguments)]
pub(crate) fn generate<S: Stepper, F: FnMut(u32, &str) -> bool>(
    s: &mut S,
    tok: &Tokenizer<'_>,
    probs: &mut [f32],
    order: &mut [u32],
    prompt: &str,
    max_tokens: usize,
    params: &SamplingParams,
    rng: &mut Rng,
    mut on_token: F,
) -> Result<usize, S::Error> {
    params.validate()?;
    feed(s, tok, prompt)?;
    for n in 0..max_tokens {
        let logits = s.last_logits().ok_or(Error::EmptyPrompt)?;
        let id = sampling::sample(logits, params, rng, probs, order);
        let keep_going = on_token(id, tok.token_text(id)?);
        s.step_token(id)?;
        if !keep_going {
            return Ok(n + 1);
        }
    }
    // A prompt that encodes to nothing leaves no logits to sample from.
    s.last_logits().ok_or(Error::EmptyPrompt)?;
    Ok(max_tokens)
}

/// [`generate`], writing the text into `out` (word tokens each preceded by
/// the separator); stops early when the next token does not fit. Returns the
/// bytes written.
#[allow(clippy::too_many_arguments)]
pub(crate) fn generate_into<S: Stepper>(
    s: &mut S,
    tok: &Tokenizer<'_>,
    probs: &mut [f32],
    order: &mut [u32],
    prompt: &str,
    max_tokens: usize,
    params: &SamplingParams,
    rng: &mut Rng,
    out: &mut [u8],
) -> Result<usize, S::Error> {
    let sep = tok.separator();
    let mut w = TextWriter { out, len: 0 };
    generate(s, tok, probs, order, prompt, max_tokens, params, rng, |_, text| {
        let before = w.len;
        let mut sep_buf = [0u8; 4];
        let ok = sep.is_none_or(|c| w.push(c.encode_utf8(&mut sep_buf)).is_ok()) && w.push(text).is_ok();
        if !ok {
            w.len = before;
        }
        ok
    })?;
    Ok(w.len)
}
