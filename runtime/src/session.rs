//! A session: one stream of tokens through a model, in caller memory.

use crate::error::{Error, Result};
use crate::fixed::{self, Mul};
use crate::format::Numerics;
use crate::kernels::Isa;
use crate::math;
use crate::model::{round_up, ArenaLayout, Model, ARENA_ALIGN};
use crate::sampling::{Rng, SamplingParams, TokenProb};
use crate::tensor::{InputScale, Scratch, STATE_SCALE};
use crate::text::{self, Stepper};

/// Magic at the start of a saved state.
const STATE_MAGIC: [u8; 4] = *b"EGST";
/// Bytes before the values in a saved state: magic, model CRC, flags.
const STATE_HEADER: usize = 12;

/// The recurrent state and scratch buffers of one token stream, carved from
/// an arena the caller owns. Allocates nothing.
pub struct Session<'s, 'a> {
    core: Core<'s, 'a>,
    probs: &'s mut [f32],
    order: &'s mut [u32],
}

/// The model, its kernels and the step buffers: the part that steps.
struct Core<'s, 'a> {
    model: &'s Model<'a>,
    isa: Isa,
    buf: StepBuffers<'s>,
    has_logits: bool,
}

impl Core<'_, '_> {
    fn reset(&mut self) {
        self.buf.h.iter_mut().for_each(|v| *v = 0.0);
        self.buf.int.h.iter_mut().for_each(|v| *v = 0);
        self.buf.logits.iter_mut().for_each(|v| *v = 0.0);
        self.has_logits = false;
    }
}

impl Stepper for Core<'_, '_> {
    type Error = Error;

    fn step_token(&mut self, token: u32) -> Result<()> {
        let m = self.model;
        if token >= m.dims.vocab {
            return Err(Error::TokenOutOfRange { token, vocab: m.dims.vocab });
        }
        let b = &mut self.buf;
        match self.isa {
            _ if matches!(m.numerics, Numerics::Integer { .. }) => forward_integer(m, self.isa, token as usize, b),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a session's kernel set is one the CPU has (Model::from_bytes
            // detects it, Model::set_isa checks it), and Avx2/Vnni imply AVX2.
            Isa::Avx2 | Isa::Vnni => unsafe { forward_avx2(m, self.isa, token as usize, b) },
            _ => forward(m, self.isa, token as usize, b),
        }
        self.has_logits = true;
        Ok(())
    }

    fn last_logits(&self) -> Option<&[f32]> {
        self.has_logits.then_some(&*self.buf.logits)
    }
}

fn carve<'s, T: bytemuck::Pod>(rest: &mut &'s mut [u8], n: usize) -> Result<&'s mut [T]> {
    let bytes = n * core::mem::size_of::<T>();
    let taken = core::mem::take(rest);
    let available = taken.len();
    let short = || Error::ArenaTooSmall { needed: bytes, available };
    let (head, tail) = taken.split_at_mut_checked(round_up(bytes, ARENA_ALIGN)).ok_or_else(short)?;
    *rest = tail;
    bytemuck::try_cast_slice_mut(&mut head[..bytes]).map_err(|_| short())
}

/// The buffers one step works in. Integer numerics leave `x`, `gx`, `gh`
/// and `d` empty and use `int` instead; float paths leave `int` empty.
struct StepBuffers<'b> {
    /// The state (integer numerics: its exact f32 value, kept for [`Session::hidden`]).
    h: &'b mut [f32],
    x: &'b mut [f32],
    gx: &'b mut [f32],
    gh: &'b mut [f32],
    d: &'b mut [f32],
    logits: &'b mut [f32],
    scratch: Scratch<'b>,
    int: IntBuffers<'b>,
}

/// Integer numerics: the state in Q15, pre-activations and dense outputs in
/// Q.12. `U h` goes to the scratch accumulators, which the logits reuse.
struct IntBuffers<'b> {
    h: &'b mut [i16],
    gx: &'b mut [i32],
    d: &'b mut [i32],
}

/// One step of the model: embedding, GRU, dense(relu), output logits.
/// Inlined into each instruction-set variant below, so the element-wise
/// loops (quantization, gates, biases) are vectorized for that set; the
/// arithmetic is the same IEEE operations in the same order (no FMA).
#[inline(always)]
fn forward(m: &Model<'_>, isa: Isa, token: usize, b: &mut StepBuffers<'_>) {
    m.embedding.row_into(token, b.x);
    m.gru_input.matvec(isa, b.x, InputScale::Dynamic, &m.gru_input_bias, &mut b.scratch, b.gx);
    m.gru_recurrent.matvec(isa, b.h, InputScale::Fixed(STATE_SCALE), &m.gru_recurrent_bias, &mut b.scratch, b.gh);
    gru_update(b.h, b.gx, b.gh);
    m.dense.matvec(isa, b.h, InputScale::Fixed(STATE_SCALE), &m.dense_bias, &mut b.scratch, b.d);
    // `max` (vmaxps) rather than a select, which LLVM turns into a masked store; NaN gives 0 either way.
    b.d.iter_mut().for_each(|v| *v = v.max(0.0));
    m.output.matvec(isa, b.d, InputScale::Dynamic, &m.output_bias, &mut b.scratch, b.logits);
}

/// [`forward`] compiled for AVX2 (8-wide element-wise loops).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn forward_avx2(m: &Model<'_>, isa: Isa, token: usize, b: &mut StepBuffers<'_>) {
    forward(m, isa, token, b)
}

/// One step with integer-only numerics. Every value is an integer until the
/// logits (Q.12) are written out as f32, exactly.
#[inline(always)]
fn forward_integer(m: &Model<'_>, isa: Isa, token: usize, b: &mut StepBuffers<'_>) {
    let IntBuffers { h, gx, d } = &mut b.int;
    let (q, gh) = (&mut *b.scratch.q, &mut *b.scratch.acc);
    let Some((row, scale)) = m.embedding.int8_row(token) else { return };
    let e = row.len().min(q.len());
    q[..e].copy_from_slice(&row[..e]);
    let x = padded(q, e);
    m.gru_input.matvec_fixed(isa, x, Mul::from_f32_bits(scale), &m.gru_input_bias, fixed::PRE_ACT_LIMIT, gx);
    let hq = quantize_state(h, q);
    let state_mul = Mul::pow2(-(fixed::STATE_INPUT_FRAC as i32));
    m.gru_recurrent.matvec_fixed(isa, hq, state_mul, &m.gru_recurrent_bias, fixed::PRE_ACT_LIMIT, gh);
    gru_update_fixed(h, gx, gh);
    let hq = quantize_state(h, q);
    m.dense.matvec_fixed(isa, hq, state_mul, &m.dense_bias, fixed::LOGIT_LIMIT, d);
    d.iter_mut().for_each(|v| *v = (*v).max(0));
    // The output layer's input: relu outputs scaled so that the largest is 127.
    let max = d.iter().copied().max().unwrap_or(0).max(1);
    let to_q = Mul::from_ratio(127, max as u32);
    for (qi, &v) in q.iter_mut().zip(d.iter()) {
        *qi = to_q.apply(v, 127) as i8;
    }
    let dq = padded(q, d.len());
    let d_mul = Mul::from_ratio(max as u32, 127).times(Mul::pow2(-(fixed::ACT_FRAC as i32)));
    let logits = gh;
    m.output.matvec_fixed(isa, dq, d_mul, &m.output_bias, fixed::LOGIT_LIMIT, logits);
    let unit = 1.0 / (1u32 << fixed::ACT_FRAC) as f32;
    for (l, &a) in b.logits.iter_mut().zip(logits.iter()) {
        *l = a as f32 * unit;
    }
    let unit = 1.0 / (1u32 << fixed::STATE_FRAC) as f32;
    for (hf, &hv) in b.h.iter_mut().zip(h.iter()) {
        *hf = hv as f32 * unit;
    }
}

/// Zeroes `q[len..]` up to a multiple of 4 and returns `q[..that]`.
fn padded(q: &mut [i8], len: usize) -> &[i8] {
    let end = len.div_ceil(4).saturating_mul(4).min(q.len());
    let len = len.min(end);
    q[len..end].iter_mut().for_each(|v| *v = 0);
    &q[..end]
}

/// The Q15 state as int8 with [`fixed::STATE_INPUT_FRAC`] fraction bits, rounded.
fn quantize_state<'q>(h: &[i16], q: &'q mut [i8]) -> &'q [i8] {
    let shift = fixed::STATE_FRAC - fixed::STATE_INPUT_FRAC;
    for (qi, &v) in q.iter_mut().zip(h) {
        *qi = ((v as i32 + (1 << (shift - 1))) >> shift).clamp(-127, 127) as i8;
    }
    padded(q, h.len())
}

/// The GRU update in fixed point: `gx`, `gh` in Q.12 (within
/// [`fixed::PRE_ACT_LIMIT`]), gates and state in Q15.
fn gru_update_fixed(h: &mut [i16], gx: &[i32], gh: &[i32]) {
    let n = h.len();
    let half = 1 << (fixed::STATE_FRAC - 1);
    for (i, hv) in h.iter_mut().enumerate() {
        let at = |v: &[i32], k: usize| v.get(k).copied().unwrap_or(0);
        let z = fixed::sigmoid_q15(at(gx, i) + at(gh, i), fixed::ACT_FRAC);
        let r = fixed::sigmoid_q15(at(gx, n + i) + at(gh, n + i), fixed::ACT_FRAC);
        let pre = at(gx, 2 * n + i) + ((r * at(gh, 2 * n + i) + half) >> fixed::STATE_FRAC);
        let cand = fixed::tanh_q15(pre, fixed::ACT_FRAC);
        let next = cand + ((z * (*hv as i32 - cand) + half) >> fixed::STATE_FRAC);
        *hv = next.clamp(-32767, 32767) as i16;
    }
}

/// The GRU update, gates z, r, n (ONNX, `linear_before_reset = 1`), given
/// `gx = W x + b_w` and `gh = U h + b_u`. Overwrites `gx` and `gh`. The same
/// bits as [`math::sigmoid`] and [`math::tanh`] value by value; the
/// exponentials go through [`math::map_exp`] (`gh` is its scratch).
#[inline(always)]
fn gru_update(h: &mut [f32], gx: &mut [f32], gh: &mut [f32]) {
    let n = h.len();
    let (zr, xn) = gx.split_at_mut(2 * n);
    let (hzr, hn) = gh.split_at_mut(2 * n);
    // z, r = sigmoid(gx + gh) = 1 / (1 + e^-(gx + gh)).
    for (g, &u) in zr.iter_mut().zip(hzr.iter()) {
        *g = -(*g + u);
    }
    math::map_exp(zr, hzr, |e| 1.0 / (1.0 + e));
    let (z, r) = zr.split_at(n);
    // Candidate tanh(xn + r * hn) = 1 - 2 / (e^(2 (xn + r * hn)) + 1).
    for ((x, &r), &hn) in xn.iter_mut().zip(r).zip(hn.iter()) {
        *x = 2.0 * (*x + r * hn);
    }
    math::map_exp(xn, hn, |e| 1.0 - 2.0 / (e + 1.0));
    for ((hv, &z), &cand) in h.iter_mut().zip(z).zip(xn.iter()) {
        *hv = (1.0 - z) * cand + z * *hv;
    }
}

impl<'s, 'a> Session<'s, 'a> {
    /// A session over `arena`, which must hold at least `model.arena_size()` bytes.
    pub fn new(model: &'s Model<'a>, arena: &'s mut [u8]) -> Result<Self> {
        let needed = model.arena_size();
        if arena.len() < needed {
            return Err(Error::ArenaTooSmall { needed, available: arena.len() });
        }
        let skip = arena.as_ptr().align_offset(ARENA_ALIGN).min(ARENA_ALIGN - 1);
        let mut rest = &mut arena[skip..];
        let l = ArenaLayout::of(&model.dims, model.numerics);
        let mut s = Session {
            core: Core {
                model,
                isa: model.isa,
                buf: StepBuffers {
                    h: carve(&mut rest, l.hidden)?,
                    x: carve(&mut rest, l.x)?,
                    gx: carve(&mut rest, l.gates)?,
                    gh: carve(&mut rest, l.gates)?,
                    d: carve(&mut rest, l.dense)?,
                    logits: carve(&mut rest, l.vocab)?,
                    scratch: Scratch { acc: carve(&mut rest, l.acc)?, q: carve(&mut rest, l.q)? },
                    int: IntBuffers {
                        h: carve(&mut rest, l.int_hidden)?,
                        gx: carve(&mut rest, l.int_gates)?,
                        d: carve(&mut rest, l.int_dense)?,
                    },
                },
                has_logits: false,
            },
            probs: carve(&mut rest, l.vocab)?,
            order: carve(&mut rest, l.vocab)?,
        };
        s.reset();
        Ok(s)
    }

    /// The model this session runs.
    pub fn model(&self) -> &'s Model<'a> {
        self.core.model
    }

    /// Kernel set this session uses.
    pub fn isa(&self) -> Isa {
        self.core.isa
    }

    /// Back to the initial state (h = 0, no logits).
    pub fn reset(&mut self) {
        self.core.reset();
    }

    /// The GRU state `h`.
    pub fn hidden(&self) -> &[f32] {
        self.core.buf.h
    }

    /// Logits of the last step, if there was one.
    pub fn logits(&self) -> Option<&[f32]> {
        self.core.last_logits()
    }

    /// Feeds one token; returns the logits for the next token.
    pub fn step(&mut self, token: u32) -> Result<&[f32]> {
        self.core.step_token(token)?;
        Ok(self.core.buf.logits)
    }

    /// Feeds every token of `text`; returns how many were fed.
    pub fn feed(&mut self, text: &str) -> Result<usize> {
        let tok = *self.core.model.tokenizer();
        text::feed(&mut self.core, &tok, text)
    }

    /// Picks the next token from the current logits.
    pub fn sample(&mut self, params: &SamplingParams, rng: &mut Rng) -> Result<u32> {
        text::sample(&self.core, params, rng, self.probs, self.order)
    }

    /// The `out.len()` most likely next tokens with their probabilities, most
    /// likely first (next-word suggestions); returns how many were written.
    pub fn top_k_next(&mut self, out: &mut [TokenProb]) -> Result<usize> {
        text::top_k(&self.core, self.probs, self.order, out)
    }

    /// Feeds `prompt`, then samples up to `max_tokens` tokens, feeding each
    /// back. `on_token(id, text)` sees every generated token and returns
    /// `false` to stop. Word-level text needs the tokenizer's separator
    /// between tokens. Continues from the current state; returns the number of
    /// tokens generated.
    pub fn generate<F>(&mut self, prompt: &str, max_tokens: usize, params: &SamplingParams, rng: &mut Rng, on_token: F) -> Result<usize>
    where
        F: FnMut(u32, &str) -> bool,
    {
        let tok = *self.core.model.tokenizer();
        text::generate(&mut self.core, &tok, self.probs, self.order, prompt, max_tokens, params, rng, on_token)
    }

    /// Like [`Session::generate`], writing the generated text into `out`
    /// (word tokens each preceded by the separator). Stops early when the next
    /// token does not fit; returns the bytes written.
    pub fn generate_into(
        &mut self,
        prompt: &str,
        max_tokens: usize,
        params: &SamplingParams,
        rng: &mut Rng,
        out: &mut [u8],
    ) -> Result<usize> {
        let tok = *self.core.model.tokenizer();
        text::generate_into(&mut self.core, &tok, self.probs, self.order, prompt, max_tokens, params, rng, out)
    }

    /// Bytes [`Session::save_state`] writes.
    pub fn state_size(&self) -> usize {
        STATE_HEADER + 4 * (self.core.buf.h.len() + self.core.buf.logits.len())
    }

    /// Saves the recurrent state and last logits (so that a prompt prefix can
    /// be computed once and reused); returns the bytes written.
    pub fn save_state(&self, out: &mut [u8]) -> Result<usize> {
        let needed = self.state_size();
        let available = out.len();
        let out = out.get_mut(..needed).ok_or(Error::BufferTooSmall { needed, available })?;
        out[..4].copy_from_slice(&STATE_MAGIC);
        out[4..8].copy_from_slice(&self.core.model.checksum.to_le_bytes());
        out[8..12].copy_from_slice(&(self.core.has_logits as u32).to_le_bytes());
        for (dst, v) in out[STATE_HEADER..].chunks_exact_mut(4).zip(self.core.buf.h.iter().chain(self.core.buf.logits.iter())) {
            dst.copy_from_slice(&v.to_le_bytes());
        }
        Ok(needed)
    }

    /// Restores a state saved by [`Session::save_state`] from the same model.
    /// On error the session is unchanged.
    pub fn restore_state(&mut self, state: &[u8]) -> Result<()> {
        let expected = self.core.model.checksum;
        let word = |i: usize| state.get(i..i + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let found = word(4).unwrap_or(0);
        if state.len() != self.state_size() || state[..4] != STATE_MAGIC || found != expected || word(8).is_none_or(|f| f > 1) {
            return Err(Error::StateMismatch { found, expected });
        }
        let values = state[STATE_HEADER..].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        if values.clone().any(|v| !v.is_finite()) {
            return Err(Error::StateMismatch { found, expected });
        }
        // Integer numerics: the state must be exact Q15 values, as saved.
        let q15 = (1u32 << fixed::STATE_FRAC) as f32;
        let int_state = values.clone().take(self.core.buf.int.h.len()).map(|v| v * q15);
        if int_state.clone().any(|v| v != (v as i32) as f32 || v.abs() > 32767.0) {
            return Err(Error::StateMismatch { found, expected });
        }
        for (dst, v) in self.core.buf.int.h.iter_mut().zip(int_state) {
            *dst = v as i16;
        }
        for (dst, v) in self.core.buf.h.iter_mut().chain(self.core.buf.logits.iter_mut()).zip(values) {
            *dst = v;
        }
        self.core.has_logits = word(8) == Some(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gru_update_gives_the_bits_of_the_gate_formulas() {
        let mut rng = Rng::new(11);
        for n in [1usize, 7, 37, 256] {
            let mut value = |scale: f32| (rng.next_f32() * 2.0 - 1.0) * scale;
            let mut gx: Vec<f32> = (0..3 * n).map(|_| value(12.0)).collect();
            let mut gh: Vec<f32> = (0..3 * n).map(|_| value(12.0)).collect();
            let mut h: Vec<f32> = (0..n).map(|_| value(1.0)).collect();
            let want: Vec<f32> = (0..n)
                .map(|i| {
                    let z = math::sigmoid(gx[i] + gh[i]);
                    let r = math::sigmoid(gx[n + i] + gh[n + i]);
                    let cand = math::tanh(gx[2 * n + i] + r * gh[2 * n + i]);
                    (1.0 - z) * cand + z * h[i]
                })
                .collect();
            gru_update(&mut h, &mut gx, &mut gh);
            for (i, (got, want)) in h.iter().zip(&want).enumerate() {
                assert_eq!(got.to_bits(), want.to_bits(), "n {n} unit {i}: {got} vs {want}");
            }
        }
    }
}
