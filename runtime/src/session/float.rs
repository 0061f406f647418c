//! The step with float and hybrid-int8 numerics: f32 activations and gates,
//! int8 products quantizing their input per call. Built with the
//! `float-numerics` feature (hosts always).

use super::{StepBuffers, StepInput};
use crate::format::Activation;
use crate::kernels::Isa;
use crate::math;
use crate::model::{Input, Model};
use crate::tensor::{InputScale, Scratch, STATE_SCALE};

/// Float paths: the input vector into `x` (an embedding row, or the
/// normalized features). The input was checked.
pub(super) fn load_input(m: &Model<'_>, input: StepInput<'_>, x: &mut [f32]) {
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

/// `v = act(v)` in f32.
#[inline(always)]
fn activate(isa: Isa, v: &mut [f32], act: Activation) {
    match act {
        // `max` (vmaxps) rather than a select, which LLVM turns into a masked
        // store; elsewhere the kernel (Cortex-M has no float maximum and calls a
        // routine for `max`). NaN gives 0 either way; -0 stays -0 or becomes
        // +0, which quantize alike (the outputs are only products' inputs).
        Activation::Relu if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) => v.iter_mut().for_each(|x| *x = x.max(0.0)),
        Activation::Relu => crate::kernels::relu(isa, v),
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
fn network(m: &Model<'_>, isa: Isa, b: &mut StepBuffers<'_>) {
    let mut start = 0;
    for (k, g) in m.grus.iter().enumerate() {
        let width = g.hidden();
        let (before, rest) = b.h.split_at_mut(start);
        let h = &mut rest[..width];
        let (gx, gh) = (&mut b.float.gx[..3 * width], &mut b.float.gh[..3 * width]);
        if k == 0 {
            g.input.matvec(isa, b.float.x, InputScale::Dynamic, &g.input_bias, &mut b.scratch, gx);
        } else {
            let below = &before[start - m.grus[k - 1].hidden()..];
            g.input.matvec(isa, below, InputScale::Fixed(STATE_SCALE), &g.input_bias, &mut b.scratch, gx);
        }
        g.recurrent.matvec(isa, h, InputScale::Fixed(STATE_SCALE), &g.recurrent_bias, &mut b.scratch, gh);
        crate::kernels::gru_update_float(isa, h, gx, gh);
        start += width;
    }
    let last = &b.h[start - m.grus.last().map_or(0, |g| g.hidden())..start];
    let [da, db] = &mut b.float.dense;
    // A function, not a closure: a closure would not inherit the AVX2 target
    // feature of `forward_avx2`, and its loops would not vectorize. One
    // out-of-line copy where there is nothing to vectorize (Cortex-M).
    #[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), inline(always))]
    fn dense(m: &Model<'_>, isa: Isa, n: usize, x: &[f32], scale: InputScale, scratch: &mut Scratch<'_>, out: &mut [f32]) {
        let d = &m.dense[n];
        let out = &mut out[..d.weight.rows()];
        d.weight.matvec(isa, x, scale, &d.bias, scratch, out);
        activate(isa, out, d.activation);
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

/// [`network`] compiled for AVX2 (8-wide element-wise loops).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn network_avx2(m: &Model<'_>, isa: Isa, b: &mut StepBuffers<'_>) {
    network(m, isa, b)
}

/// One step of the network over the input in `b.float.x`, its element-wise loops
/// compiled for the session's instruction set.
pub(super) fn forward(m: &Model<'_>, isa: Isa, b: &mut StepBuffers<'_>) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a session's kernel set is one the CPU has (Model::from_bytes
        // detects it, Model::set_isa checks it), and Avx2/Vnni imply AVX2.
        Isa::Avx2 | Isa::Vnni => unsafe {
            if crate::kernels::x86::has_avx512f() {
                network_avx512(m, isa, b)
            } else {
                network_avx2(m, isa, b)
            }
        },
        _ => network(m, isa, b),
    }
}

/// [`network`] compiled for AVX-512 (sixteen-wide element-wise loops).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f")]
fn network_avx512(m: &Model<'_>, isa: Isa, b: &mut StepBuffers<'_>) {
    network(m, isa, b)
}
