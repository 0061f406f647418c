//! The step with integer-only numerics: int8 products, fixed-point
//! requantization, Q15 state, table sigmoid and tanh.

use super::{IntBuffers, StepBuffers, StepInput};
use crate::fixed::{self, Mul};
use crate::format::Activation;
use crate::kernels::{self, Isa};
use crate::math;
use crate::model::{Head, Input, Model};
use crate::tensor::{Requant, TableRows};

/// Integer numerics: the int8 input vector into `q` (the embedding row, or
/// the normalized features quantized with the file's scale); returns its scale.
pub(super) fn load_input(m: &Model<'_>, input: StepInput<'_>, q: &mut [i8]) -> Mul {
    match (input, &m.input) {
        (StepInput::Token(t), Input::Tokens { embedding, .. }) => {
            let Some((row, scale)) = embedding.int8_row(t as usize) else { return Mul::ZERO };
            let e = row.len().min(q.len());
            q[..e].copy_from_slice(&row[..e]);
            Mul::from_f32_bits(scale)
        }
        (StepInput::Features(f), Input::Features { mean, scale, quant: (inv, x_mul), .. }) => {
            let word = |b: &[u8]| f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let stats = mean.bytes().chunks_exact(4).zip(scale.bytes().chunks_exact(4));
            for ((qi, &v), (mean, scale)) in q.iter_mut().zip(f).zip(stats) {
                *qi = math::round_half_even_i8((v - word(mean)) * word(scale) * inv);
            }
            *x_mul
        }
        _ => Mul::ZERO,
    }
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
fn quantize_q12<'q>(isa: Isa, d: &[i32], q: &'q mut [i8]) -> (&'q [i8], Mul) {
    let max = d.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0).max(1);
    let to_q = Mul::from_ratio(127, max);
    kernels::scale_to_int8(isa, d, to_q, q);
    let scale = Mul::from_ratio(max, 127).times(Mul::pow2(-(fixed::ACT_FRAC as i32)));
    (padded(q, d.len()), scale)
}

/// One step with integer-only numerics; the input is already in the scratch
/// `q` with scale `x_mul`. Every value is an integer until the outputs (Q.12
/// logits, or a classifier's Q.30 probabilities by [`fixed::softmax_q12`])
/// are written out as f32.
pub(super) fn forward(m: &Model<'_>, isa: Isa, x_mul: Mul, b: &mut StepBuffers<'_>) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a session's kernel set is one the CPU has (Model::from_bytes
        // detects it, Model::set_isa checks it), and Avx2/Vnni imply AVX2.
        Isa::Avx2 | Isa::Vnni => unsafe { step_avx2(m, isa, x_mul, b) },
        _ => step(m, isa, x_mul, b),
    }
}

/// [`step`] compiled for AVX2: its element-wise loops (the state's int8 and
/// f32 forms, relu, the logits to f32) eight wide.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn step_avx2(m: &Model<'_>, isa: Isa, x_mul: Mul, b: &mut StepBuffers<'_>) {
    step(m, isa, x_mul, b)
}

/// The body of [`forward`] (inlined into each instruction-set variant).
#[inline(always)]
fn step(m: &Model<'_>, isa: Isa, x_mul: Mul, b: &mut StepBuffers<'_>) {
    let IntBuffers { h, gx, dense } = &mut b.int;
    let (q, acc) = (&mut *b.scratch.q, &mut *b.scratch.acc);
    let state_mul = fixed::STATE_INPUT_MUL;
    // Each product (in step order) requantizes by its part of the row
    // tables if the file has them; `row` counts the rows before it.
    let mut row = 0;
    let mut requant = |i: usize, rows: usize, bias| {
        let per_step = m.per_step_inputs >> i & 1 != 0;
        let r = Requant { bias, table: m.rows.as_ref().map(|table| TableRows { table, product: i, from: row, per_step }) };
        row += rows;
        r
    };
    let mut start = 0;
    for (k, g) in m.grus.iter().enumerate() {
        let width = g.hidden();
        let (before, rest) = h.split_at_mut(start);
        let hk = &mut rest[..width];
        let gxk = &mut gx[..3 * width];
        if k == 0 {
            let x = padded(q, m.input_width());
            g.input.matvec_fixed(isa, x, x_mul, requant(2 * k, 3 * width, &g.input_bias), fixed::PRE_ACT_LIMIT, gxk);
        } else {
            let below = quantize_state(isa, &before[start - m.grus[k - 1].hidden()..], q);
            g.input.matvec_fixed(isa, below, state_mul, requant(2 * k, 3 * width, &g.input_bias), fixed::PRE_ACT_LIMIT, gxk);
        }
        let hq = quantize_state(isa, hk, q);
        g.recurrent.matvec_fixed(isa, hq, state_mul, requant(2 * k + 1, 3 * width, &g.recurrent_bias), fixed::PRE_ACT_LIMIT, acc);
        kernels::gru_update_fixed(isa, hk, gxk, acc);
        start += width;
    }
    let last = &h[start - m.grus.last().map_or(0, |g| g.hidden())..start];
    let [da, db] = dense;
    // The first consumer of the last state reads it as int8 with a fixed scale.
    let mut x_mul = state_mul;
    let mut x = quantize_state(isa, last, q);
    for (n, d) in m.dense.iter().enumerate() {
        let out = if n % 2 == 0 { &mut **da } else { &mut **db };
        let out = &mut out[..d.weight.rows()];
        d.weight.matvec_fixed(isa, x, x_mul, requant(2 * m.grus.len() + n, d.weight.rows(), &d.bias), fixed::LOGIT_LIMIT, out);
        activate_int(out, d.activation);
        (x, x_mul) = quantize_q12(isa, out, q);
    }
    let head = 2 * m.grus.len() + m.dense.len();
    m.output.matvec_fixed(isa, x, x_mul, requant(head, m.output.rows(), &m.output_bias), fixed::LOGIT_LIMIT, acc);
    let outputs = m.output.rows().min(acc.len());
    if let Head::Classes(_) = m.head {
        fixed::softmax_q12(&mut acc[..outputs], b.out);
    } else {
        for (o, &a) in b.out.iter_mut().zip(&acc[..outputs]) {
            *o = fixed::fixed_to_f32(a, fixed::ACT_FRAC);
        }
    }
    kernels::state_to_f32(isa, h, b.h);
}

/// Zeroes `q[len..]` up to a multiple of 4 and returns `q[..that]`.
fn padded(q: &mut [i8], len: usize) -> &[i8] {
    let end = len.div_ceil(4).saturating_mul(4).min(q.len());
    let len = len.min(end);
    q[len..end].iter_mut().for_each(|v| *v = 0);
    &q[..end]
}

/// The Q15 state as int8 with [`fixed::STATE_INPUT_FRAC`] fraction bits
/// (see [`crate::kernels::scalar::quantize_state`]), zero-padded to a multiple of 4.
fn quantize_state<'q>(isa: Isa, h: &[i16], q: &'q mut [i8]) -> &'q [i8] {
    let n = h.len().min(q.len());
    kernels::quantize_state(isa, &h[..n], &mut q[..n]);
    padded(q, h.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q12_quantization_of_relu_outputs_is_the_version_1_rule() {
        // Version 1 scaled relu outputs by 127 / max(d), max at least 1.
        let d = [0, 5, 4096, 123_456, 7];
        let mut q = [0i8; 8];
        let (x, _) = quantize_q12(Isa::Scalar, &d, &mut q);
        let max = 123_456u32;
        let to_q = Mul::from_ratio(127, max);
        let want: Vec<i8> = d.iter().map(|&v| to_q.apply(v, 127) as i8).collect();
        assert_eq!(&x[..5], &want[..]);
        assert_eq!(x.len(), 8);
    }
}
