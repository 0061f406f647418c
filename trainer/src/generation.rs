//! Text from a language model: prompt checks that name what is wrong,
//! generation streamed piece by piece, and next-token suggestions, on any
//! engine ([`crate::backend`]).

use anyhow::{bail, Context, Result};
use edgegru_runtime::{Rng, SamplingParams, TokenProb};
use serde::Serialize;

use crate::backend::{tokenizer_of, DynSession};
use crate::tokenize::describe_unknown;

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
pub fn known_text(session: &DynSession<'_>, text: &str) -> Result<String> {
    let tok = tokenizer_of(session)?;
    let mut out = String::new();
    for c in text.chars() {
        let mut buf = [0u8; 4];
        if tok.count_tokens(c.encode_utf8(&mut buf)).is_ok() || c.is_whitespace() {
            out.push(c);
        }
    }
    Ok(out)
}

/// The token ids of `prompt`; a prompt the vocabulary cannot encode is
/// refused naming the first unknown character (`hint` is added to that
/// message). An empty prompt is the start token alone ([`start_token`]): the
/// model then begins from nothing.
pub fn prompt_ids(session: &DynSession<'_>, prompt: &str, hint: &str) -> Result<Vec<u32>> {
    let tok = tokenizer_of(session)?;
    match tok.count_tokens(prompt) {
        Ok(0) if prompt.is_empty() => Ok(vec![start_token(session)?]),
        Ok(0) => {
            bail!("the prompt holds no token of this model's vocabulary; give another --prompt, or an empty one to start from nothing")
        }
        Ok(_) => Ok(tok.encode_iter(prompt).collect::<Result<_, _>>()?),
        Err(e) => match describe_unknown(prompt, &e) {
            Some(what) => bail!("the prompt: {what}{hint}"),
            None => Err(e.into()),
        },
    }
}

/// What a text starts from when there is no prompt: the padding token (the
/// Keras convention) or, without one, the newline (text corpora separate
/// their pieces with it).
pub fn start_token(session: &DynSession<'_>) -> Result<u32> {
    let tok = tokenizer_of(session)?;
    let newline = tok.encode_iter("\n").next().and_then(|r| r.ok());
    tok.pad().or(newline).context("this vocabulary has neither a padding nor a newline token to start from; give a --prompt")
}

/// Generates from `opts.prompt` (left without unknown characters when
/// `skip_unknown`), calling `on_piece` with the prompt and then each token's
/// text (word tokens with their separator); `on_piece` returns `false` to
/// stop. The prompt is checked before anything is passed on. Returns the
/// generated text.
///
/// ```
/// use edgegru_runtime::SamplingParams;
/// use edgegru_trainer::backend::{with_session, Backend};
/// use edgegru_trainer::generation::{generate, GenerateOptions};
///
/// let model = edgegru_trainer::builtin::resolve("tiny")?;
/// let opts = GenerateOptions { prompt: "The ".into(), max_tokens: 20, params: SamplingParams::GREEDY, seed: 0 };
/// let mut pieces = 0;
/// let text = with_session(Backend::Native, &model, None, |s| generate(s, &opts, false, &mut |_| { pieces += 1; true }))?;
/// assert_eq!((text.chars().count(), pieces), (20, 21), "the prompt, then one piece per token");
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn generate(
    session: &mut DynSession<'_>,
    opts: &GenerateOptions,
    skip_unknown: bool,
    on_piece: &mut dyn FnMut(&str) -> bool,
) -> Result<String> {
    let prompt = if skip_unknown { known_text(session, &opts.prompt)? } else { opts.prompt.clone() };
    let ids = prompt_ids(session, &prompt, " (--skip-unknown leaves such characters out)")?;
    if prompt.is_empty() {
        session.step(ids[0])?;
    }
    let sep = tokenizer_of(session)?.separator();
    let mut text = String::new();
    if on_piece(&prompt) {
        let mut rng = Rng::new(opts.seed);
        session.generate(&prompt, opts.max_tokens, &opts.params, &mut rng, &mut [], &mut |_, piece| {
            let mut s = String::new();
            s.extend(sep);
            s.push_str(piece);
            text.push_str(&s);
            on_piece(&s)
        })?;
    }
    Ok(text)
}

/// One next-token suggestion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    /// Token id.
    pub token: u32,
    /// Its text.
    pub text: String,
    /// Its probability.
    pub probability: f32,
}

/// The `k` most likely tokens after `prompt` (left without unknown
/// characters when `skip_unknown`; empty: the first token of a text), most
/// likely first.
pub fn suggest(session: &mut DynSession<'_>, prompt: &str, k: usize, allow_oov: bool, skip_unknown: bool) -> Result<Vec<Suggestion>> {
    if k == 0 {
        bail!("--top-k must be at least 1");
    }
    let prompt = if skip_unknown { known_text(session, prompt)? } else { prompt.to_string() };
    for id in prompt_ids(session, &prompt, " (--skip-unknown leaves such characters out)")? {
        session.step(id)?;
    }
    let mut out = vec![TokenProb::default(); k];
    let n = session.top_k_next(&mut out, allow_oov)?;
    let tok = tokenizer_of(session)?;
    out[..n].iter().map(|t| Ok(Suggestion { token: t.token, text: tok.token_text(t.token)?.to_string(), probability: t.prob })).collect()
}
