//! The one interface of a session, whatever engine runs it: this crate's
//! [`Session`](crate::Session), and the tract and ONNX Runtime sessions of
//! `edgegru-onnx`. Tools that take `--backend`, the benchmarks and the
//! Python package call sessions through it, never through a per-engine copy.
//!
//! `E` is the error a caller wants: the runtime's own [`Error`] for the
//! native session, or any error it converts into (the ONNX sessions use
//! theirs, which wraps it), so one `dyn StepSession<E>` holds any session.

use crate::error::Error;
use crate::model::{HeadKind, InputKind};
use crate::sampling::{Rng, SamplingParams, TokenProb};
use crate::text::Generation;
use crate::tokenizer::Tokenizer;

/// A stream of steps through a network: its state, its last outputs, and
/// for language models text, sampling and generation.
pub trait StepSession<E = Error> {
    /// What a step reads: token ids or feature vectors.
    fn input(&self) -> InputKind;

    /// What the outputs are.
    fn head(&self) -> HeadKind;

    /// The tokenizer of a token model (`None` for a feature model).
    fn tokenizer(&self) -> Option<Tokenizer<'_>>;

    /// Feeds one token; returns the outputs (a language model's next-token
    /// logits). On error nothing changes.
    fn step(&mut self, token: u32) -> Result<&[f32], E>;

    /// Feeds one feature vector; returns the outputs: class probabilities or
    /// regression values. On error (wrong count, NaN or infinite values, a
    /// token model) nothing changes.
    fn step_features(&mut self, features: &[f32]) -> Result<&[f32], E>;

    /// Outputs of the last step, if there was one.
    fn output(&self) -> Option<&[f32]>;

    /// Back to the initial state (every state value 0, no outputs).
    fn reset(&mut self);

    /// The state of every GRU layer, concatenated, first layer first.
    fn hidden(&self) -> &[f32];

    /// Feeds every token of `text` (a token model); returns how many were
    /// fed. Text the tokenizer cannot encode is refused before anything is fed.
    fn feed(&mut self, text: &str) -> Result<usize, E>;

    /// Picks the next token from the last logits (a language model; never
    /// padding, the OOV token only with `params.allow_oov`).
    fn sample(&mut self, params: &SamplingParams, rng: &mut Rng) -> Result<u32, E>;

    /// The `out.len()` most likely next tokens, most likely first; returns
    /// how many were written.
    fn top_k_next(&mut self, out: &mut [TokenProb], allow_oov: bool) -> Result<usize, E>;

    /// Feeds `prompt`, then samples up to `max_tokens` tokens, feeding each
    /// back. The text goes into `out` unless it is empty; `on_token(id,
    /// text)` sees every generated token and returns `false` to stop after it
    /// (see [`Session::generate`](crate::Session::generate)).
    fn generate(
        &mut self,
        prompt: &str,
        max_tokens: usize,
        params: &SamplingParams,
        rng: &mut Rng,
        out: &mut [u8],
        on_token: &mut dyn FnMut(u32, &str) -> bool,
    ) -> Result<Generation, E>;

    /// Bytes [`StepSession::save_state`] writes (0 where the engine keeps no
    /// state that can be saved).
    fn state_size(&self) -> usize;

    /// Saves the state and the last outputs into `out`; returns the bytes
    /// written. Engines that cannot save their state say so in the error.
    fn save_state(&self, out: &mut [u8]) -> Result<usize, E>;

    /// Restores a state saved by [`StepSession::save_state`] from a session of
    /// the same model; anything else is refused and leaves the session as it was.
    fn restore_state(&mut self, state: &[u8]) -> Result<(), E>;
}
