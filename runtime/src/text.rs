//! Text-level operations shared by every kind of session (the native one, and
//! the ONNX sessions of the `edgegru-onnx` crate): feeding text, sampling,
//! suggestions and generation, over anything that steps one token at a time
//! and keeps the last logits ([`Stepper`]).

use crate::error::Error;
use crate::sampling::{self, Banned, Rng, SamplingParams, TokenProb};
use crate::tokenizer::{TextWriter, Tokenizer};

/// One token in, next-token logits kept: what the text operations need.
pub trait Stepper {
    /// The error of a step (the runtime's own, or a backend's that wraps it).
    type Error: From<Error>;
    /// Feeds one token.
    fn step_token(&mut self, token: u32) -> Result<(), Self::Error>;
    /// Logits of the last step, if there was one.
    fn last_logits(&self) -> Option<&[f32]>;
}

/// Why a generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `max_tokens` tokens were generated.
    MaxTokens,
    /// The next token's text did not fit in the output buffer; it was not
    /// consumed (the state, and the random generator, are as before it).
    BufferFull,
    /// The token callback asked to stop (after it received its token, which was consumed).
    Callback,
}

/// What a generation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    /// Tokens generated (each one received by the caller and fed back).
    pub tokens: usize,
    /// Bytes written into the output buffer.
    pub bytes: usize,
    /// Why it stopped.
    pub stop: StopReason,
}

/// Scratch buffers of sampling: probabilities and the sort order, one entry per token.
pub struct SamplingScratch<'b> {
    /// Probabilities.
    pub probs: &'b mut [f32],
    /// Token order.
    pub order: &'b mut [u32],
}

/// Feeds every token of `text`; returns how many were fed. Text the
/// tokenizer cannot encode is refused before anything is fed.
pub fn feed<S: Stepper>(s: &mut S, tok: &Tokenizer<'_>, text: &str) -> Result<usize, S::Error> {
    tok.count_tokens(text)?;
    let mut n = 0;
    for id in tok.encode_iter(text) {
        s.step_token(id?)?;
        n += 1;
    }
    Ok(n)
}

/// Picks the next token from the last logits (never padding; never the OOV
/// token unless `params.allow_oov`).
pub fn sample<S: Stepper>(
    s: &S,
    tok: &Tokenizer<'_>,
    params: &SamplingParams,
    rng: &mut Rng,
    scratch: &mut SamplingScratch<'_>,
) -> Result<u32, S::Error> {
    params.validate()?;
    let logits = s.last_logits().ok_or(Error::EmptyPrompt)?;
    Ok(sampling::sample(logits, params, &Banned::of(tok, params.allow_oov), rng, scratch.probs, scratch.order))
}

/// The `out.len()` most likely next tokens, most likely first (never
/// padding; the OOV token only with `allow_oov`); returns how many were written.
pub fn top_k<S: Stepper>(
    s: &S,
    tok: &Tokenizer<'_>,
    allow_oov: bool,
    scratch: &mut SamplingScratch<'_>,
    out: &mut [TokenProb],
) -> Result<usize, S::Error> {
    let logits = s.last_logits().ok_or(Error::EmptyPrompt)?;
    Ok(sampling::top_k(logits, &Banned::of(tok, allow_oov), scratch.probs, scratch.order, out))
}

/// Feeds `prompt`, then samples up to `max_tokens` tokens, feeding each back.
///
/// Each token's text (word tokens preceded by the separator) is appended to
/// `out` when `out` is not empty; a token that does not fit is not consumed
/// and generation stops with [`StopReason::BufferFull`]. With an empty `out`
/// nothing is written (streaming through `on_token` only). `on_token(id,
/// text)` sees every generated token and returns `false` to stop after it.
#[allow(clippy::too_many_arguments)]
pub fn generate<S: Stepper, F: FnMut(u32, &str) -> bool>(
    s: &mut S,
    tok: &Tokenizer<'_>,
    scratch: &mut SamplingScratch<'_>,
    prompt: &str,
    max_tokens: usize,
    params: &SamplingParams,
    rng: &mut Rng,
    out: &mut [u8],
    mut on_token: F,
) -> Result<Generation, S::Error> {
    params.validate()?;
    feed(s, tok, prompt)?;
    let banned = Banned::of(tok, params.allow_oov);
    let sep = tok.separator();
    let writing = !out.is_empty();
    let mut w = TextWriter { out, len: 0 };
    for n in 0..max_tokens {
        let logits = s.last_logits().ok_or(Error::EmptyPrompt)?;
        let before = *rng;
        let id = sampling::sample(logits, params, &banned, rng, scratch.probs, scratch.order);
        let text = tok.token_text(id)?;
        if writing {
            let mut sep_buf = [0u8; 4];
            let sep = sep.map_or("", |c| c.encode_utf8(&mut sep_buf));
            if w.len + sep.len() + text.len() > w.out.len() {
                *rng = before;
                return Ok(Generation { tokens: n, bytes: w.len, stop: StopReason::BufferFull });
            }
            w.push(sep)?;
            w.push(text)?;
        }
        let keep_going = on_token(id, text);
        s.step_token(id)?;
        if !keep_going {
            return Ok(Generation { tokens: n + 1, bytes: w.len, stop: StopReason::Callback });
        }
    }
    // A prompt that encodes to nothing leaves no logits to sample from.
    s.last_logits().ok_or(Error::EmptyPrompt)?;
    Ok(Generation { tokens: max_tokens, bytes: w.len, stop: StopReason::MaxTokens })
}
