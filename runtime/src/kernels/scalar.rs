//! Portable reference kernels.

use super::{x_group, Block8x4, RowsRef};
use crate::fixed::{self, requantize_by_table, Mul};
use crate::math;
use crate::tensor::{row_entry, RowInput};

fn f32_at(w: &[u8], i: usize) -> f32 {
    f32::from_le_bytes([w[4 * i], w[4 * i + 1], w[4 * i + 2], w[4 * i + 3]])
}

/// f32 LE weights times an f32 vector. `w.len() == out.len() * cols * 4`, `x.len() == cols`.
pub fn matvec_f32(w: &[u8], cols: usize, x: &[f32], out: &mut [f32]) {
    for (r, o) in out.iter_mut().enumerate() {
        let mut sum = 0.0f32;
        for (c, &xv) in x.iter().enumerate() {
            sum += f32_at(w, r * cols + c) * xv;
        }
        *o = sum;
    }
}

/// f16 LE weights times an f32 vector. `w.len() == out.len() * cols * 2`, `x.len() == cols`.
pub fn matvec_f16(w: &[u8], cols: usize, x: &[f32], out: &mut [f32]) {
    for (r, o) in out.iter_mut().enumerate() {
        let row = &w[r * cols * 2..(r + 1) * cols * 2];
        let mut sum = 0.0f32;
        for (pair, &xv) in row.chunks_exact(2).zip(x) {
            sum += half::f16::from_le_bytes([pair[0], pair[1]]).to_f32() * xv;
        }
        *o = sum;
    }
}

/// int8 weights times an int8 vector, exact int32 sums. `w.len() == acc.len() * cols`.
///
/// Two rows at a time share each input load (on cores without SIMD, such as
/// the Cortex-M0, loads are most of the work).
pub fn matvec_i8(w: &[i8], cols: usize, x: &[i8], acc: &mut [i32]) {
    if cols == 0 {
        acc.iter_mut().for_each(|a| *a = 0);
        return;
    }
    let x = &x[..cols.min(x.len())];
    for (a, row) in acc.chunks_exact_mut(2).zip(w.chunks_exact(2 * cols)) {
        let (r0, r1) = row.split_at(cols);
        let (mut s0, mut s1) = (0i32, 0i32);
        for ((&xv, &w0), &w1) in x.iter().zip(r0).zip(r1) {
            let xv = xv as i32;
            s0 += w0 as i32 * xv;
            s1 += w1 as i32 * xv;
        }
        a[0] = s0;
        a[1] = s1;
    }
    let done = acc.len() / 2 * 2;
    for (a, row) in acc[done..].iter_mut().zip(w[done * cols..].chunks_exact(cols)) {
        *a = row.iter().zip(x).map(|(&wv, &xv)| wv as i32 * xv as i32).sum();
    }
}

/// Block-sparse int8 weights times an int8 vector (see [`Block8x4`]; arm-dsp layout
/// blocks go to [`super::arm_dsp_layout::block8x4`]).
pub fn block8x4_i8(m: &Block8x4<'_>, x: &[i8], acc: &mut [i32]) {
    if m.is_arm_dsp() {
        return super::arm_dsp_layout::block8x4(m, x, acc);
    }
    for b in 0..m.row_block_count() {
        let mut sums = [0i32; 8];
        for (c, block) in m.row_block(b) {
            let Some(xs) = x_group(x, c) else {
                continue;
            };
            for (i, s) in sums.iter_mut().enumerate() {
                let wr = &block[i * 4..i * 4 + 4];
                *s += wr.iter().zip(xs).map(|(&wv, &xv)| wv as i32 * xv as i32).sum::<i32>();
            }
        }
        for (i, s) in sums.iter().enumerate() {
            if let Some(a) = acc.get_mut(b * 8 + i) {
                *a = *s;
            }
        }
    }
}

/// Requantizes product sums in place (see [`crate::fixed::requantize_row`]):
/// `acc[r]` with the f32 LE `scales[r]` and `bias[r]`. Rows past either
/// table are left as they are. Not inlined: the DSP kernel calls it for its
/// rare rows too.
///
/// Each row goes through its row table entry ([`crate::tensor::row_entry`],
/// which gives the same bits): one copy of the f32 decoding in a build.
#[inline(never)]
pub fn requantize(acc: &mut [i32], scales: &[u8], bias: &[u8], to_act: Mul, limit: i32) {
    let word = |b: &[u8]| u32::from_le_bytes(*<&[u8; 4]>::try_from(b).unwrap_or(&[0; 4]));
    for ((a, scale), b) in acc.iter_mut().zip(scales.chunks_exact(4)).zip(bias.chunks_exact(4)) {
        let (m, shift, bias) = row_entry(word(scale), word(b), RowInput::Fixed(to_act), limit);
        *a = requantize_by_table(Mul::from_parts(m, shift as i32), *a, bias, limit);
    }
}

/// Requantizes product sums in place by a row table (the definition of
/// [`super::requantize_table`]): row `r`'s multiplier is its table entry
/// (`step` is `None`: the input scale is fixed) or the step's multiplier
/// scaled by the entry's significand (see [`Mul::scaled_by_significand`]),
/// and its bias is the entry's. Rows past the table are left as they are.
#[inline(never)]
pub fn requantize_table(acc: &mut [i32], t: RowsRef<'_>, step: Option<Mul>, limit: i32) {
    let word = |b: &[u8]| u32::from_le_bytes(*<&[u8; 4]>::try_from(b).unwrap_or(&[0; 4]));
    let rows = t.multipliers.chunks_exact(4).zip(t.shifts).zip(t.biases.chunks_exact(4));
    for (a, ((m, &s), b)) in acc.iter_mut().zip(rows) {
        let (m, s) = (word(m), s as i8 as i32);
        let mul = match step {
            None => Mul::from_parts(m, s),
            Some(to_act) => to_act.scaled_by_significand(m >> 8, s),
        };
        *a = requantize_by_table(mul, *a, word(b) as i32, limit);
    }
}

/// A run of rows of a row-table kernel: `(acc, [multipliers, shifts,
/// biases], rows, step, reach)`, the pointers at the run's first row, does
/// rows until one leaves the kernel's short path and returns how many it
/// did. A row's output is its scaled sum plus its bias where that sum (or
/// the scaled sum alone, as the kernel checks) lies within `[-reach,
/// reach]` (see [`RowsRef::unclamped_reach`] and
/// [`RowsRef::unclamped_reach_with_bias`]: no clamp changes it there); a
/// row outside leaves the short path.
///
/// # Safety (of calling one)
/// `rows >= 1`; `rows` entries readable at each table pointer, `rows` sums
/// readable and writable at `acc`; `reach` in `0..2^30`.
#[cfg(any(edgegru_dsp, edgegru_thumb))]
pub(crate) type TableRun = unsafe fn(*mut i32, [*const u8; 3], usize, Option<Mul>, i32) -> usize;

/// [`requantize_table`] by a kernel's runs (see [`TableRun`]) within
/// `reach` (the kernel's, for `limit`): each row a run leaves its short
/// path at is done by the definition, and the next run starts after it. A
/// limit outside `1..2^30` (where a kernel's sums could wrap), or no reach
/// (a bias beyond the limit), is the definition's throughout.
#[cfg(any(edgegru_dsp, edgegru_thumb))]
#[inline(always)]
pub(crate) fn requantize_table_in_runs(acc: &mut [i32], t: RowsRef<'_>, step: Option<Mul>, limit: i32, reach: Option<i32>, run: TableRun) {
    let Some(reach) = reach.filter(|_| (1..1 << 30).contains(&limit)) else {
        return requantize_table(acc, t, step, limit);
    };
    let rows = acc.len().min(t.multipliers.len() / 4).min(t.shifts.len()).min(t.biases.len() / 4);
    let mut r = 0;
    while r < rows {
        // SAFETY: rows r..rows exist in all four tables (`rows` is clamped
        // to each), there is at least one, and `limit` is in range.
        r += unsafe {
            let tables = [t.multipliers.as_ptr().add(4 * r), t.shifts.as_ptr().add(r), t.biases.as_ptr().add(4 * r)];
            run(acc.as_mut_ptr().add(r), tables, rows - r, step, reach)
        };
        if r < rows {
            requantize_table(&mut acc[r..r + 1], t.rows(r, r + 1), step, limit);
            r += 1;
        }
    }
}

/// `q[i] = mul * d[i]`, rounded and clamped to ±127 ([`Mul::apply`]), for
/// the values both hold: Q.12 values (a dense layer's outputs) as int8.
pub fn scale_to_int8(d: &[i32], mul: Mul, q: &mut [i8]) {
    for (qi, &v) in q.iter_mut().zip(d) {
        *qi = mul.apply(v, 127) as i8;
    }
}

/// The Q15 state `h` as f32, `v / 2^15` (exact), for the values both hold:
/// what a session with integer numerics shows as its state.
pub fn state_to_f32(h: &[i16], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(h) {
        *o = fixed::fixed_to_f32(v as i32, fixed::STATE_FRAC);
    }
}

/// The Q15 state `h` as int8 with [`fixed::STATE_INPUT_FRAC`] fraction
/// bits: `(v + 2^7) >> 8`, clamped to ±127 (the values both hold).
pub fn quantize_state(h: &[i16], q: &mut [i8]) {
    let shift = fixed::STATE_FRAC - fixed::STATE_INPUT_FRAC;
    for (qi, &v) in q.iter_mut().zip(h) {
        *qi = ((v as i32 + (1 << (shift - 1))) >> shift).clamp(-127, 127) as i8;
    }
}

/// The GRU update in fixed point: `gx`, `gh` in Q.12 (within
/// [`fixed::PRE_ACT_LIMIT`]), gates and state in Q15.
pub fn gru_update_fixed(h: &mut [i16], gx: &[i32], gh: &[i32]) {
    gru_update_fixed_from(h, gx, gh, 0)
}

/// [`gru_update_fixed`] of units `from..h.len()` only (the tail a vector
/// kernel leaves).
pub fn gru_update_fixed_from(h: &mut [i16], gx: &[i32], gh: &[i32], from: usize) {
    let n = h.len();
    let half = 1 << (fixed::STATE_FRAC - 1);
    // Both hold 3n values (the session's buffers); shorter ones leave the state as it is.
    let (Some(gx), Some(gh)) = (gx.get(..3 * n), gh.get(..3 * n)) else { return };
    let from = from.min(n);
    let (xz, xr, xn) = (&gx[from..n], &gx[n + from..2 * n], &gx[2 * n + from..]);
    let (hz, hr, hn) = (&gh[from..n], &gh[n + from..2 * n], &gh[2 * n + from..]);
    let gates = xz.iter().zip(hz).zip(xr.iter().zip(hr)).zip(xn.iter().zip(hn));
    for (hv, (((xz, hz), (xr, hr)), (xn, hn))) in h[from..].iter_mut().zip(gates) {
        let z = fixed::sigmoid_q15(xz + hz, fixed::ACT_FRAC);
        let r = fixed::sigmoid_q15(xr + hr, fixed::ACT_FRAC);
        let pre = xn + ((r * hn + half) >> fixed::STATE_FRAC);
        let cand = fixed::tanh_q15(pre, fixed::ACT_FRAC);
        let next = cand + ((z * (*hv as i32 - cand) + half) >> fixed::STATE_FRAC);
        *hv = next.clamp(-32767, 32767) as i16;
    }
}

/// `out[r] = acc[r] * (scale[r] * sx) + bias[r]` (the int8 product of the
/// float and hybrid numerics, back to f32): `scales` and `bias` hold f32
/// little-endian per row; two roundings as two separate steps would make (no
/// fused multiply-add), in one pass. Rows past the shortest operand are left
/// as they are.
#[inline(always)]
pub fn dequantize_add(acc: &[i32], scales: &[u8], sx: f32, bias: &[u8], out: &mut [f32]) {
    let rows = out.len().min(acc.len()).min(scales.len() / 4).min(bias.len() / 4);
    for (((o, &a), s), b) in out[..rows].iter_mut().zip(acc).zip(scales.chunks_exact(4)).zip(bias.chunks_exact(4)) {
        *o = a as f32 * (f32::from_le_bytes([s[0], s[1], s[2], s[3]]) * sx) + f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

/// The GRU update of the float and hybrid numerics, gates z, r, n (ONNX,
/// `linear_before_reset = 1`), given `gx = W x + b_w` and `gh = U h + b_u`
/// (`3 * h.len()` values each; shorter ones leave the state as it is).
/// Overwrites `gx` and `gh`. The same bits as [`math::sigmoid`] and
/// [`math::tanh`] value by value (see [`gru_unit_float`]); the exponentials
/// go through [`math::map_exp`] (`gh` is its scratch).
#[inline(always)]
pub fn gru_update_float(h: &mut [f32], gx: &mut [f32], gh: &mut [f32]) {
    let n = h.len();
    let (Some(gx), Some(gh)) = (gx.get_mut(..3 * n), gh.get_mut(..3 * n)) else { return };
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

/// One unit of [`gru_update_float`], from the unit's six pre-activations
/// `[xz, hz, xr, hr, xn, hn]`: the definition, value by value.
#[inline(always)]
pub fn gru_unit_float(h: f32, [xz, hz, xr, hr, xn, hn]: [f32; 6]) -> f32 {
    let z = math::sigmoid(xz + hz);
    let r = math::sigmoid(xr + hr);
    let cand = math::tanh(xn + r * hn);
    (1.0 - z) * cand + z * h
}

/// [`gru_update_float`] of units `from..h.len()` only (the tail a vector
/// kernel leaves), unit by unit.
pub fn gru_update_float_from(h: &mut [f32], gx: &[f32], gh: &[f32], from: usize) {
    let n = h.len();
    if gx.len() < 3 * n || gh.len() < 3 * n {
        return;
    }
    for i in from.min(n)..n {
        h[i] = gru_unit_float(h[i], [gx[i], gh[i], gx[n + i], gh[n + i], gx[2 * n + i], gh[2 * n + i]]);
    }
}

/// The largest `|v|` of `x` that is not NaN (0 if none). On targets with
/// SIMD, eight running maxima combined at the end: the same value as one
/// sequential fold (a maximum does not depend on the order), but the loop
/// vectorizes; elsewhere (Cortex-M) the fold itself, which is smaller code.
#[inline(always)]
pub fn max_abs(x: &[f32]) -> f32 {
    let keep_larger = |m: f32, v: f32| if v > m { v } else { m };
    if !cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        return x.iter().fold(0.0f32, |m, &v| keep_larger(m, v.abs()));
    }
    let mut lanes = [0.0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (m, &v) in lanes.iter_mut().zip(chunk) {
            *m = keep_larger(*m, v.abs());
        }
    }
    let lanes_max = lanes.iter().fold(0.0f32, |m, &v| keep_larger(m, v));
    rest.iter().fold(lanes_max, |m, &v| keep_larger(m, v.abs()))
}

/// `v = max(v, 0)` in place for the float and hybrid numerics' dense
/// layers: a value that is not above 0 (negative, -0, NaN) becomes +0.
#[inline(always)]
pub fn relu(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = if *x > 0.0 { *x } else { 0.0 });
}

/// `q[i] = x[i] * inv`, clamped to `[-127, 127]` and rounded half to even
/// (NaN gives 0), for the values both hold: an int8 product's input.
#[inline(always)]
pub fn quantize_f32(x: &[f32], inv: f32, q: &mut [i8]) {
    for (qi, &v) in q.iter_mut().zip(x) {
        *qi = math::round_half_even_i32(v * inv, 127.0) as i8;
    }
}
