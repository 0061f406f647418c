//! A session: one stream of steps through a model, in caller memory.

use crate::crc32::crc32;
use crate::error::{Error, Result};
use crate::fixed::{self, Mul};
use crate::format::{Activation, Fill, Numerics};
use crate::interface::StepSession;
use crate::kernels::Isa;
use crate::math;
use crate::model::{round_up, ArenaLayout, Buffer, Head, HeadKind, Input, InputKind, Model, ARENA_ALIGN};
use crate::sampling::{self, Rng, SamplingParams, TokenProb};
use crate::tensor::{InputScale, Scratch, STATE_SCALE};
use crate::text::{self, Generation, SamplingScratch, Stepper};
use crate::tokenizer::Tokenizer;

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
        if matches!(m.numerics, Numerics::Integer { .. }) {
            let x_mul = load_input_int(m, input, b.scratch.q);
            forward_integer(m, isa, x_mul, b);
        } else {
            load_input(m, input, b.x);
            match isa {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: a session's kernel set is one the CPU has (Model::from_bytes
                // detects it, Model::set_isa checks it), and Avx2/Vnni imply AVX2.
                Isa::Avx2 | Isa::Vnni => unsafe { forward_avx2(m, isa, b) },
                _ => forward(m, isa, b),
            }
        }
        if matches!(m.head, Head::Classes(_)) {
            sampling::softmax_in_place(b.out);
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

/// The buffers one step works in. Integer numerics leave `x`, `gx`, `gh`
/// and `dense` empty and use `int` instead; float paths leave `int` empty.
struct StepBuffers<'b> {
    /// Every GRU layer's state, concatenated (integer numerics: its exact
    /// f32 value, kept for [`Session::hidden`] and saved states).
    h: &'b mut [f32],
    x: &'b mut [f32],
    gx: &'b mut [f32],
    gh: &'b mut [f32],
    dense: [&'b mut [f32]; 2],
    out: &'b mut [f32],
    scratch: Scratch<'b>,
    int: IntBuffers<'b>,
    /// The features with missing values filled (a model with a fill policy).
    filled: &'b mut [f32],
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

/// Float paths: the input vector into `x` (an embedding row, or the
/// normalized features). The input was checked.
#[inline(always)]
fn load_input(m: &Model<'_>, input: StepInput<'_>, x: &mut [f32]) {
    match (input, &m.input) {
        (StepInput::Token(t), Input::Tokens { embedding, .. }) => embedding.row_into(t as usize, x),
        (StepInput::Features(f), Input::Features { mean, scale, .. }) => {
            for (i, (xi, &v)) in x.iter_mut().zip(f).enumerate() {
                *xi = (v - mean.get(i)) * scale.get(i);
            }
        }
        _ => {}
    }
}

/// Integer numerics: the int8 input vector into `q` (the embedding row, or
/// the normalized features quantized with the file's scale); returns its scale.
fn load_input_int(m: &Model<'_>, input: StepInput<'_>, q: &mut [i8]) -> Mul {
    match (input, &m.input) {
        (StepInput::Token(t), Input::Tokens { embedding, .. }) => {
            let Some((row, scale)) = embedding.int8_row(t as usize) else { return Mul::ZERO };
            let e = row.len().min(q.len());
            q[..e].copy_from_slice(&row[..e]);
            Mul::from_f32_bits(scale)
        }
        (StepInput::Features(f), Input::Features { mean, scale, quant_scale, .. }) => {
            let inv = 1.0 / *quant_scale;
            for (i, (qi, &v)) in q.iter_mut().zip(f).enumerate() {
                *qi = math::round_half_even_i32((v - mean.get(i)) * scale.get(i) * inv, 127.0) as i8;
            }
            Mul::from_f32_bits(quant_scale.to_bits())
        }
        _ => Mul::ZERO,
    }
}

/// `v = act(v)` in f32.
#[inline(always)]
fn activate(v: &mut [f32], act: Activation) {
    match act {
        // `max` (vmaxps) rather than a select, which LLVM turns into a masked store; NaN gives 0 either way.
        Activation::Relu => v.iter_mut().for_each(|x| *x = x.max(0.0)),
        Activation::Linear => {}
        Activation::Tanh => v.iter_mut().for_each(|x| *x = math::tanh(*x)),
        Activation::Sigmoid => v.iter_mut().for_each(|x| *x = math::sigmoid(*x)),
    }
}

/// One step of the network (float and hybrid numerics): each GRU layer reads
/// the one before (the first reads `x`), then the dense layers, then the
/// output layer. Inlined into each instruction-set variant below, so the
/// element-wise loops (quantization, gates, biases) are vectorized for that
/// set; the arithmetic is the same IEEE operations in the same order (no FMA).
///
/// Inputs of int8 products are quantized with a dynamic scale, except GRU
/// states, whose values lie in (-1, 1) and use the fixed [`STATE_SCALE`].
#[inline(always)]
fn forward(m: &Model<'_>, isa: Isa, b: &mut StepBuffers<'_>) {
    let mut start = 0;
    for (k, g) in m.grus.iter().enumerate() {
        let width = g.hidden();
        let (before, rest) = b.h.split_at_mut(start);
        let h = &mut rest[..width];
        let (gx, gh) = (&mut b.gx[..3 * width], &mut b.gh[..3 * width]);
        if k == 0 {
            g.input.matvec(isa, b.x, InputScale::Dynamic, &g.input_bias, &mut b.scratch, gx);
        } else {
            let below = &before[start - m.grus[k - 1].hidden()..];
            g.input.matvec(isa, below, InputScale::Fixed(STATE_SCALE), &g.input_bias, &mut b.scratch, gx);
        }
        g.recurrent.matvec(isa, h, InputScale::Fixed(STATE_SCALE), &g.recurrent_bias, &mut b.scratch, gh);
        gru_update(h, gx, gh);
        start += width;
    }
    let last = &b.h[start - m.grus.last().map_or(0, |g| g.hidden())..start];
    let [da, db] = &mut b.dense;
    // A function, not a closure: a closure would not inherit the AVX2 target
    // feature of `forward_avx2`, and its loops would not vectorize. One
    // out-of-line copy where there is nothing to vectorize (Cortex-M).
    #[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), inline(always))]
    fn dense(m: &Model<'_>, isa: Isa, n: usize, x: &[f32], scale: InputScale, scratch: &mut Scratch<'_>, out: &mut [f32]) {
        let d = &m.dense[n];
        let out = &mut out[..d.weight.rows()];
        d.weight.matvec(isa, x, scale, &d.bias, scratch, out);
        activate(out, d.activation);
    }
    let state = InputScale::Fixed(STATE_SCALE);
    let (x, scale): (&[f32], InputScale) = match m.dense.len() {
        0 => (last, state),
        n => {
            dense(m, isa, 0, last, state, &mut b.scratch, da);
            if n >= 2 {
                dense(m, isa, 1, &da[..m.dense[0].weight.rows()], InputScale::Dynamic, &mut b.scratch, db);
            }
            if n >= 3 {
                dense(m, isa, 2, &db[..m.dense[1].weight.rows()], InputScale::Dynamic, &mut b.scratch, da);
            }
            let out = if n == 2 { &**db } else { &**da };
            (&out[..m.dense[n - 1].weight.rows()], InputScale::Dynamic)
        }
    };
    m.output.matvec(isa, x, scale, &m.output_bias, &mut b.scratch, b.out);
}

/// [`forward`] compiled for AVX2 (8-wide element-wise loops).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn forward_avx2(m: &Model<'_>, isa: Isa, b: &mut StepBuffers<'_>) {
    forward(m, isa, b)
}

/// `v = act(v)` in Q.12 (tanh and sigmoid by the Q15 tables, rounded back to Q.12).
fn activate_int(v: &mut [i32], act: Activation) {
    let down = fixed::STATE_FRAC - fixed::ACT_FRAC;
    let to_q12 = |y: i32| (y + (1 << (down - 1))) >> down;
    match act {
        Activation::Relu => v.iter_mut().for_each(|x| *x = (*x).max(0)),
        Activation::Linear => {}
        Activation::Tanh => v.iter_mut().for_each(|x| *x = to_q12(fixed::tanh_q15(*x, fixed::ACT_FRAC))),
        Activation::Sigmoid => v.iter_mut().for_each(|x| *x = to_q12(fixed::sigmoid_q15(*x, fixed::ACT_FRAC))),
    }
}

/// Q.12 values `d` as int8 scaled so that the largest magnitude is 127 (at
/// least 1 in Q.12); returns the int8 vector and its scale.
fn quantize_q12<'q>(d: &[i32], q: &'q mut [i8]) -> (&'q [i8], Mul) {
    let max = d.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0).max(1);
    let to_q = Mul::from_ratio(127, max);
    for (qi, &v) in q.iter_mut().zip(d) {
        *qi = to_q.apply(v, 127) as i8;
    }
    let scale = Mul::from_ratio(max, 127).times(Mul::pow2(-(fixed::ACT_FRAC as i32)));
    (padded(q, d.len()), scale)
}

/// One step with integer-only numerics; the input is already in the scratch
/// `q` with scale `x_mul`. Every value is an integer until the outputs (Q.12)
/// are written out as f32, exactly.
fn forward_integer(m: &Model<'_>, isa: Isa, x_mul: Mul, b: &mut StepBuffers<'_>) {
    let IntBuffers { h, gx, dense } = &mut b.int;
    let (q, acc) = (&mut *b.scratch.q, &mut *b.scratch.acc);
    let state_mul = Mul::pow2(-(fixed::STATE_INPUT_FRAC as i32));
    let mut start = 0;
    for (k, g) in m.grus.iter().enumerate() {
        let width = g.hidden();
        let (before, rest) = h.split_at_mut(start);
        let hk = &mut rest[..width];
        let gxk = &mut gx[..3 * width];
        if k == 0 {
            let x = padded(q, m.input_width());
            g.input.matvec_fixed(isa, x, x_mul, &g.input_bias, fixed::PRE_ACT_LIMIT, gxk);
        } else {
            let below = quantize_state(&before[start - m.grus[k - 1].hidden()..], q);
            g.input.matvec_fixed(isa, below, state_mul, &g.input_bias, fixed::PRE_ACT_LIMIT, gxk);
        }
        let hq = quantize_state(hk, q);
        g.recurrent.matvec_fixed(isa, hq, state_mul, &g.recurrent_bias, fixed::PRE_ACT_LIMIT, acc);
        gru_update_fixed(hk, gxk, acc);
        start += width;
    }
    let last = &h[start - m.grus.last().map_or(0, |g| g.hidden())..start];
    let [da, db] = dense;
    // The first consumer of the last state reads it as int8 with a fixed scale.
    let mut x_mul = state_mul;
    let mut x = quantize_state(last, q);
    for (n, d) in m.dense.iter().enumerate() {
        let out = if n % 2 == 0 { &mut **da } else { &mut **db };
        let out = &mut out[..d.weight.rows()];
        d.weight.matvec_fixed(isa, x, x_mul, &d.bias, fixed::LOGIT_LIMIT, out);
        activate_int(out, d.activation);
        (x, x_mul) = quantize_q12(out, q);
    }
    m.output.matvec_fixed(isa, x, x_mul, &m.output_bias, fixed::LOGIT_LIMIT, acc);
    for (o, &a) in b.out.iter_mut().zip(acc.iter()) {
        *o = fixed::fixed_to_f32(a, fixed::ACT_FRAC);
    }
    for (hf, &hv) in b.h.iter_mut().zip(h.iter()) {
        *hf = fixed::fixed_to_f32(hv as i32, fixed::STATE_FRAC);
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
    // Both hold 3n values (the session's buffers); shorter ones leave the state as it is.
    let (Some(gx), Some(gh)) = (gx.get(..3 * n), gh.get(..3 * n)) else { return };
    let (xz, xr, xn) = (&gx[..n], &gx[n..2 * n], &gx[2 * n..]);
    let (hz, hr, hn) = (&gh[..n], &gh[n..2 * n], &gh[2 * n..]);
    let gates = xz.iter().zip(hz).zip(xr.iter().zip(hr)).zip(xn.iter().zip(hn));
    for (hv, (((xz, hz), (xr, hr)), (xn, hn))) in h.iter_mut().zip(gates) {
        let z = fixed::sigmoid_q15(xz + hz, fixed::ACT_FRAC);
        let r = fixed::sigmoid_q15(xr + hr, fixed::ACT_FRAC);
        let pre = xn + ((r * hn + half) >> fixed::STATE_FRAC);
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
        let mut parts = carve(&mut arena[skip..], &ArenaLayout::of(model))?;
        let p = &mut parts;
        let mut s = Session {
            machine: StepMachine {
                model,
                isa: model.isa,
                buf: StepBuffers {
                    h: typed(p, Buffer::Hidden)?,
                    x: typed(p, Buffer::Input)?,
                    gx: typed(p, Buffer::GatesInput)?,
                    gh: typed(p, Buffer::GatesState)?,
                    dense: [typed(p, Buffer::Dense0)?, typed(p, Buffer::Dense1)?],
                    out: typed(p, Buffer::Outputs)?,
                    scratch: Scratch { acc: typed(p, Buffer::Acc)?, q: typed(p, Buffer::Quantized)? },
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

    #[test]
    fn q12_quantization_of_relu_outputs_is_the_version_1_rule() {
        // Version 1 scaled relu outputs by 127 / max(d), max at least 1.
        let d = [0, 5, 4096, 123_456, 7];
        let mut q = [0i8; 8];
        let (x, _) = quantize_q12(&d, &mut q);
        let max = 123_456u32;
        let to_q = Mul::from_ratio(127, max);
        let want: Vec<i8> = d.iter().map(|&v| to_q.apply(v, 127) as i8).collect();
        assert_eq!(&x[..5], &want[..]);
        assert_eq!(x.len(), 8);
    }
}
