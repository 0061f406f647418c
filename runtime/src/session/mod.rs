//! A session: one stream of steps through a model, in caller memory.

use crate::crc32::crc32;
use crate::error::{Error, Result};
use crate::fixed;
use crate::format::{Fill, Numerics};
use crate::interface::StepSession;
use crate::kernels::Isa;
use crate::model::{round_up, ArenaLayout, Buffer, HeadKind, Input, InputKind, Model, ARENA_ALIGN};
use crate::sampling::{Rng, SamplingParams, TokenProb};
use crate::tensor::Scratch;
use crate::text::{self, Generation, SamplingScratch, Stepper};
use crate::tokenizer::Tokenizer;

#[cfg(feature = "float-numerics")]
mod float;
mod integer;

/// Magic at the start of a saved state (version 2: all layers, with a CRC).
const STATE_MAGIC: [u8; 4] = *b"EGS2";
/// Bytes before the values in a saved state: magic, model CRC, flags.
const STATE_HEADER: usize = 12;
/// Bytes after the values: the CRC-32 of everything before it.
const STATE_TRAILER: usize = 4;

/// Bytes of a saved state of `m`: the states, the outputs and, for a model
/// that fills a missing value with the previous one, the last features seen.
pub(crate) fn state_size(m: &Model<'_>) -> usize {
    let hidden: usize = m.gru_widths().sum();
    STATE_HEADER + 4 * (hidden + m.outputs() + remembered(m)) + STATE_TRAILER
}

/// Features a session of `m` remembers between steps (`Fill::Previous`).
fn remembered(m: &Model<'_>) -> usize {
    match m.input {
        Input::Features { fill: Fill::Previous, mean, .. } => mean.len(),
        _ => 0,
    }
}

/// The recurrent state and scratch buffers of one stream, carved from an
/// arena the caller owns. Allocates nothing.
pub struct Session<'s, 'a> {
    machine: StepMachine<'s, 'a>,
    probs: &'s mut [f32],
    order: &'s mut [u32],
}

/// The model, its kernels and the step buffers: the part that steps.
struct StepMachine<'s, 'a> {
    model: &'s Model<'a>,
    isa: Isa,
    buf: StepBuffers<'s>,
    has_output: bool,
}

/// What one step reads.
#[derive(Clone, Copy)]
enum StepInput<'i> {
    Token(u32),
    Features(&'i [f32]),
}

impl StepMachine<'_, '_> {
    fn reset(&mut self) {
        self.buf.h.iter_mut().for_each(|v| *v = 0.0);
        self.buf.int.h.iter_mut().for_each(|v| *v = 0);
        self.buf.out.iter_mut().for_each(|v| *v = 0.0);
        // Before any value is seen, a missing one is the mean.
        if let Input::Features { mean, .. } = &self.model.input {
            self.buf.filled.iter_mut().enumerate().for_each(|(i, v)| *v = mean.get(i));
        }
        self.has_output = false;
    }

    /// Checks the input against the model; nothing changes on error.
    fn check(&self, input: StepInput<'_>) -> Result<()> {
        match (input, &self.model.input) {
            (StepInput::Token(token), Input::Tokens { embedding, .. }) => {
                let vocab = embedding.rows() as u32;
                if token >= vocab {
                    return Err(Error::TokenOutOfRange { token, vocab });
                }
            }
            (StepInput::Features(f), Input::Features { mean, fill, .. }) => {
                if f.len() != mean.len() {
                    return Err(Error::FeatureCount { expected: mean.len(), found: f.len() });
                }
                // A missing value (NaN) is filled when the model says how; infinities never are.
                if let Some(index) = fill.refused(f) {
                    return Err(Error::NonFiniteInput { index });
                }
            }
            (StepInput::Token(_), Input::Features { .. }) => return Err(Error::WrongInput { expected: "features" }),
            (StepInput::Features(_), Input::Tokens { .. }) => return Err(Error::WrongInput { expected: "tokens" }),
        }
        Ok(())
    }

    fn step(&mut self, input: StepInput<'_>) -> Result<()> {
        self.check(input)?;
        let (m, isa, b) = (self.model, self.isa, &mut self.buf);
        let input = match input {
            StepInput::Features(f) if !b.filled.is_empty() => StepInput::Features(fill_missing(m, f, b.filled)),
            other => other,
        };
        match m.numerics {
            Numerics::Integer { .. } => {
                let x_mul = integer::load_input(m, input, b.scratch.q);
                integer::forward(m, isa, x_mul, b);
            }
            #[cfg(feature = "float-numerics")]
            Numerics::Float | Numerics::HybridInt8 { .. } => {
                float::load_input(m, input, b.float.x);
                float::forward(m, isa, b);
                if matches!(m.head, crate::model::Head::Classes(_)) {
                    crate::sampling::softmax_in_place(b.out);
                }
            }
            // Without the feature the loader refuses these numerics.
            #[cfg(not(feature = "float-numerics"))]
            Numerics::Float | Numerics::HybridInt8 { .. } => {}
        }
        self.has_output = true;
        Ok(())
    }
}

impl Stepper for StepMachine<'_, '_> {
    type Error = Error;

    fn step_token(&mut self, token: u32) -> Result<()> {
        self.step(StepInput::Token(token))
    }

    fn last_logits(&self) -> Option<&[f32]> {
        self.has_output.then_some(&*self.buf.out)
    }
}

/// Every [`Buffer`] of `layout`, carved from `arena` in carving order, each
/// on an `ARENA_ALIGN` boundary.
fn carve<'s>(arena: &'s mut [u8], layout: &ArenaLayout) -> Result<[&'s mut [u8]; Buffer::ALL.len()]> {
    let available = arena.len();
    let mut rest = arena;
    let mut parts: [&'s mut [u8]; Buffer::ALL.len()] = Default::default();
    for b in Buffer::ALL {
        let bytes = layout.bytes_of(b);
        let taken = core::mem::take(&mut rest);
        let (head, tail) =
            taken.split_at_mut_checked(round_up(bytes, ARENA_ALIGN)).ok_or(Error::ArenaTooSmall { needed: bytes, available })?;
        parts[b as usize] = &mut head[..bytes];
        rest = tail;
    }
    Ok(parts)
}

/// Buffer `b` of `parts` as a slice of `T` (its elements' type).
fn typed<'s, T: bytemuck::Pod>(parts: &mut [&'s mut [u8]; Buffer::ALL.len()], b: Buffer) -> Result<&'s mut [T]> {
    debug_assert_eq!(core::mem::size_of::<T>(), b.element_bytes());
    let bytes = core::mem::take(&mut parts[b as usize]);
    let needed = bytes.len();
    bytemuck::try_cast_slice_mut(bytes).map_err(|_| Error::ArenaTooSmall { needed, available: 0 })
}

/// The buffers one step works in. Integer numerics leave `float` empty and
/// use `int`; float paths leave `int` empty.
struct StepBuffers<'b> {
    /// Every GRU layer's state, concatenated (integer numerics: its exact
    /// f32 value, kept for [`Session::hidden`] and saved states).
    h: &'b mut [f32],
    out: &'b mut [f32],
    scratch: Scratch<'b>,
    #[cfg(feature = "float-numerics")]
    float: FloatBuffers<'b>,
    int: IntBuffers<'b>,
    /// The features with missing values filled (a model with a fill policy).
    filled: &'b mut [f32],
}

/// Float and hybrid numerics: the input vector, gate pre-activations of
/// `W x` and `U h`, dense outputs.
#[cfg(feature = "float-numerics")]
struct FloatBuffers<'b> {
    x: &'b mut [f32],
    gx: &'b mut [f32],
    gh: &'b mut [f32],
    dense: [&'b mut [f32]; 2],
}

/// Integer numerics: the states in Q15, pre-activations and dense outputs in
/// Q.12. `U h` goes to the scratch accumulators, which the outputs reuse.
struct IntBuffers<'b> {
    h: &'b mut [i16],
    gx: &'b mut [i32],
    dense: [&'b mut [i32]; 2],
}

/// The features `f` with each missing value (NaN) filled as the model says,
/// in `filled` (which, for `Fill::Previous`, holds the last values seen).
fn fill_missing<'f>(m: &Model<'_>, f: &[f32], filled: &'f mut [f32]) -> &'f [f32] {
    if let Input::Features { mean, fill, .. } = &m.input {
        fill.apply(f, |i| mean.get(i), filled);
    }
    filled
}

impl<'s, 'a> Session<'s, 'a> {
    /// A session over `arena`, which must hold at least `model.arena_size()` bytes.
    pub fn new(model: &'s Model<'a>, arena: &'s mut [u8]) -> Result<Self> {
        let needed = model.arena_size();
        if arena.len() < needed {
            return Err(Error::ArenaTooSmall { needed, available: arena.len() });
        }
        let skip = arena.as_ptr().align_offset(ARENA_ALIGN).min(ARENA_ALIGN - 1);
        let mut parts = carve(&mut arena[skip..], &ArenaLayout::of(model))?;
        let p = &mut parts;
        let mut s = Session {
            machine: StepMachine {
                model,
                isa: model.isa,
                buf: StepBuffers {
                    h: typed(p, Buffer::Hidden)?,
                    out: typed(p, Buffer::Outputs)?,
                    scratch: Scratch { acc: typed(p, Buffer::Acc)?, q: typed(p, Buffer::Quantized)? },
                    #[cfg(feature = "float-numerics")]
                    float: FloatBuffers {
                        x: typed(p, Buffer::Input)?,
                        gx: typed(p, Buffer::GatesInput)?,
                        gh: typed(p, Buffer::GatesState)?,
                        dense: [typed(p, Buffer::Dense0)?, typed(p, Buffer::Dense1)?],
                    },
                    int: IntBuffers {
                        h: typed(p, Buffer::IntHidden)?,
                        gx: typed(p, Buffer::IntGates)?,
                        dense: [typed(p, Buffer::IntDense0)?, typed(p, Buffer::IntDense1)?],
                    },
                    filled: &mut [],
                },
                has_output: false,
            },
            probs: typed(p, Buffer::Probs)?,
            order: typed(p, Buffer::Order)?,
        };
        s.machine.buf.filled = typed(p, Buffer::Filled)?;
        s.reset();
        Ok(s)
    }

    /// The model this session runs.
    pub fn model(&self) -> &'s Model<'a> {
        self.machine.model
    }

    /// Kernel set this session uses.
    pub fn isa(&self) -> Isa {
        self.machine.isa
    }

    /// Back to the initial state (every `h` = 0, no outputs).
    pub fn reset(&mut self) {
        self.machine.reset();
    }

    /// The GRU states of every layer, concatenated (first layer first).
    pub fn hidden(&self) -> &[f32] {
        self.machine.buf.h
    }

    /// Outputs of the last step, if there was one: next-token logits (a
    /// language model), class probabilities, or regression outputs.
    pub fn output(&self) -> Option<&[f32]> {
        self.machine.last_logits()
    }

    /// Feeds one token; returns the outputs (a language model's next-token
    /// logits). On error nothing changes.
    pub fn step(&mut self, token: u32) -> Result<&[f32]> {
        self.machine.step(StepInput::Token(token))?;
        Ok(self.machine.buf.out)
    }

    /// Feeds one feature vector (a feature model); returns the outputs: class
    /// probabilities (in the file's class order) or regression outputs. On
    /// error (wrong count, NaN or infinite values, a token model) nothing changes.
    pub fn step_features(&mut self, features: &[f32]) -> Result<&[f32]> {
        self.machine.step(StepInput::Features(features))?;
        Ok(self.machine.buf.out)
    }

    /// The tokenizer of a language model.
    fn language_model(&self) -> Result<Tokenizer<'a>> {
        match self.machine.model.tokenizer() {
            Some(t) if self.machine.model.is_language_model() => Ok(*t),
            _ => Err(Error::NotALanguageModel),
        }
    }

    /// Feeds every token of `text` (a token model); returns how many were
    /// fed. Text the tokenizer cannot encode is refused before anything is fed.
    pub fn feed(&mut self, text: &str) -> Result<usize> {
        let tok = match self.machine.model.tokenizer() {
            Some(t) => *t,
            None => return Err(Error::WrongInput { expected: "features" }),
        };
        text::feed(&mut self.machine, &tok, text)
    }

    /// Picks the next token from the current logits (never padding; the OOV
    /// token only with `params.allow_oov`).
    pub fn sample(&mut self, params: &SamplingParams, rng: &mut Rng) -> Result<u32> {
        let tok = self.language_model()?;
        text::sample(&self.machine, &tok, params, rng, &mut SamplingScratch { probs: self.probs, order: self.order })
    }

    /// The `out.len()` most likely next tokens with their probabilities, most
    /// likely first (next-word suggestions; never padding, the OOV token only
    /// with `allow_oov`); returns how many were written.
    pub fn top_k_next(&mut self, out: &mut [TokenProb], allow_oov: bool) -> Result<usize> {
        let tok = self.language_model()?;
        text::top_k(&self.machine, &tok, allow_oov, &mut SamplingScratch { probs: self.probs, order: self.order }, out)
    }

    /// [`Session::top_k_next`] into a fixed-capacity vector of `K` entries.
    pub fn top_k_vec<const K: usize>(&mut self, allow_oov: bool) -> Result<heapless::Vec<TokenProb, K>> {
        let mut out = [TokenProb::default(); K];
        let n = self.top_k_next(&mut out, allow_oov)?;
        Ok(out[..n].iter().copied().collect())
    }

    /// Feeds `prompt`, then samples up to `max_tokens` tokens, feeding each
    /// back; continues from the current state. The text goes into `out`
    /// (word tokens each preceded by the separator) unless `out` is empty;
    /// a token that does not fit is not consumed (generation stops with
    /// [`text::StopReason::BufferFull`]). `on_token(id, text)` sees every
    /// generated token and returns `false` to stop after it.
    pub fn generate<F>(
        &mut self,
        prompt: &str,
        max_tokens: usize,
        params: &SamplingParams,
        rng: &mut Rng,
        out: &mut [u8],
        on_token: F,
    ) -> Result<Generation>
    where
        F: FnMut(u32, &str) -> bool,
    {
        let tok = self.language_model()?;
        let mut scratch = SamplingScratch { probs: self.probs, order: self.order };
        text::generate(&mut self.machine, &tok, &mut scratch, prompt, max_tokens, params, rng, out, on_token)
    }

    /// Like [`Session::generate`] with text into `out` only; returns the bytes written.
    pub fn generate_into(
        &mut self,
        prompt: &str,
        max_tokens: usize,
        params: &SamplingParams,
        rng: &mut Rng,
        out: &mut [u8],
    ) -> Result<usize> {
        if out.is_empty() {
            return Err(Error::BufferTooSmall { needed: 1, available: 0 });
        }
        Ok(self.generate(prompt, max_tokens, params, rng, out, |_, _| true)?.bytes)
    }

    /// Like [`Session::generate`], returning the text in a fixed-capacity
    /// string of `N` bytes (for firmware written in Rust); generation stops
    /// early when the next token would not fit.
    pub fn generate_string<const N: usize>(
        &mut self,
        prompt: &str,
        max_tokens: usize,
        params: &SamplingParams,
        rng: &mut Rng,
    ) -> Result<heapless::String<N>> {
        let mut buf = [0u8; N];
        let n = self.generate_into(prompt, max_tokens, params, rng, &mut buf)?;
        let mut s = heapless::String::new();
        // The runtime writes whole UTF-8 tokens, so the prefix is UTF-8 and fits.
        let _ = s.push_str(core::str::from_utf8(&buf[..n]).unwrap_or(""));
        Ok(s)
    }

    /// Bytes [`Session::save_state`] writes.
    pub fn state_size(&self) -> usize {
        state_size(self.machine.model)
    }

    /// Saves the recurrent state of every layer and the last outputs (so that
    /// a prompt prefix can be computed once and reused), with the model's CRC
    /// and a CRC-32 over the whole state; returns the bytes written.
    pub fn save_state(&self, out: &mut [u8]) -> Result<usize> {
        let needed = self.state_size();
        let available = out.len();
        let out = out.get_mut(..needed).ok_or(Error::BufferTooSmall { needed, available })?;
        out[..4].copy_from_slice(&STATE_MAGIC);
        out[4..8].copy_from_slice(&self.machine.model.checksum.to_le_bytes());
        out[8..12].copy_from_slice(&(self.machine.has_output as u32).to_le_bytes());
        let kept = remembered(self.machine.model);
        let values = self.machine.buf.h.iter().chain(self.machine.buf.out.iter()).chain(self.machine.buf.filled.iter().take(kept));
        for (dst, v) in out[STATE_HEADER..needed - STATE_TRAILER].chunks_exact_mut(4).zip(values) {
            dst.copy_from_slice(&v.to_le_bytes());
        }
        let crc = crc32(&out[..needed - STATE_TRAILER]);
        out[needed - STATE_TRAILER..].copy_from_slice(&crc.to_le_bytes());
        Ok(needed)
    }

    /// Restores a state saved by [`Session::save_state`] from the same model.
    /// A damaged state (wrong length, a flipped bit anywhere) or one of
    /// another model is refused, and then the session is unchanged.
    pub fn restore_state(&mut self, state: &[u8]) -> Result<()> {
        let damaged = |reason| Error::StateDamaged { reason };
        let size = self.state_size();
        if state.len() != size {
            return Err(damaged("its length is not this model's state size"));
        }
        if state[..4] != STATE_MAGIC {
            return Err(damaged("it does not start with the state magic"));
        }
        let word = |i: usize| u32::from_le_bytes([state[i], state[i + 1], state[i + 2], state[i + 3]]);
        if crc32(&state[..size - STATE_TRAILER]) != word(size - STATE_TRAILER) {
            return Err(damaged("its CRC-32 does not match its contents"));
        }
        let (found, expected) = (word(4), self.machine.model.checksum);
        if found != expected {
            return Err(Error::StateMismatch { found, expected });
        }
        if word(8) > 1 {
            return Err(damaged("unknown flags"));
        }
        let values = state[STATE_HEADER..size - STATE_TRAILER].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        if values.clone().any(|v| !v.is_finite()) {
            return Err(damaged("a value is NaN or infinite"));
        }
        // Integer numerics: the states must be exact Q15 values, as saved.
        let q15 = (1u32 << fixed::STATE_FRAC) as f32;
        let int_state = values.clone().take(self.machine.buf.int.h.len()).map(|v| v * q15);
        if int_state.clone().any(|v| v != (v as i32) as f32 || v.abs() > 32767.0) {
            return Err(damaged("a state value is not one integer numerics can hold"));
        }
        for (dst, v) in self.machine.buf.int.h.iter_mut().zip(int_state) {
            *dst = v as i16;
        }
        let kept = remembered(self.machine.model);
        let b = &mut self.machine.buf;
        for (dst, v) in b.h.iter_mut().chain(b.out.iter_mut()).chain(b.filled.iter_mut().take(kept)).zip(values) {
            *dst = v;
        }
        self.machine.has_output = word(8) == 1;
        Ok(())
    }
}

impl<E: From<Error>> StepSession<E> for Session<'_, '_> {
    fn input(&self) -> InputKind {
        self.machine.model.input()
    }

    fn head(&self) -> HeadKind {
        self.machine.model.head().kind()
    }

    fn tokenizer(&self) -> Option<Tokenizer<'_>> {
        self.machine.model.tokenizer().copied()
    }

    fn step(&mut self, token: u32) -> core::result::Result<&[f32], E> {
        Ok(Session::step(self, token)?)
    }

    fn step_features(&mut self, features: &[f32]) -> core::result::Result<&[f32], E> {
        Ok(Session::step_features(self, features)?)
    }

    fn output(&self) -> Option<&[f32]> {
        Session::output(self)
    }

    fn reset(&mut self) {
        Session::reset(self)
    }

    fn hidden(&self) -> &[f32] {
        Session::hidden(self)
    }

    fn feed(&mut self, text: &str) -> core::result::Result<usize, E> {
        Ok(Session::feed(self, text)?)
    }

    fn sample(&mut self, params: &SamplingParams, rng: &mut Rng) -> core::result::Result<u32, E> {
        Ok(Session::sample(self, params, rng)?)
    }

    fn top_k_next(&mut self, out: &mut [TokenProb], allow_oov: bool) -> core::result::Result<usize, E> {
        Ok(Session::top_k_next(self, out, allow_oov)?)
    }

    fn generate(
        &mut self,
        prompt: &str,
        max_tokens: usize,
        params: &SamplingParams,
        rng: &mut Rng,
        out: &mut [u8],
        on_token: &mut dyn FnMut(u32, &str) -> bool,
    ) -> core::result::Result<Generation, E> {
        Ok(Session::generate(self, prompt, max_tokens, params, rng, out, on_token)?)
    }

    fn state_size(&self) -> usize {
        Session::state_size(self)
    }

    fn save_state(&self, out: &mut [u8]) -> core::result::Result<usize, E> {
        Ok(Session::save_state(self, out)?)
    }

    fn restore_state(&mut self, state: &[u8]) -> core::result::Result<(), E> {
        Ok(Session::restore_state(self, state)?)
    }
}
