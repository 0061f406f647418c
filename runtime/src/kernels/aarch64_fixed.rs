//! aarch64 kernels for the element-wise work of the integer-only numerics:
//! requantization four rows at a time with Advanced SIMD, bit for bit
//! [`crate::fixed::requantize_row`].
//!
//! The rounding steps of the definitions are single instructions here:
//! `(mant * m + 2^23) >> 24` is a rounding narrowing shift (`rshrn`), and
//! `(p + 2^(k-1)) >> k` a rounding shift by a negative amount (`srshl`,
//! `urshl`), computed without overflow. A lane outside the usual ranges (a
//! multiplier shift outside 1..=62, a bias that is not zero and not within
//! `[2^-14, 2^11)` in magnitude) is recomputed by the definition.

use core::arch::aarch64::*;

use super::scalar;
use crate::fixed::Mul;

/// `acc[r] = requantize_row(to_act, acc[r], scales[r], bias[r], limit)` for
/// the rows all three hold; rows past the tables are left as they are.
pub fn requantize(acc: &mut [i32], scales: &[u8], bias: &[u8], to_act: Mul, limit: i32) {
    let rows = acc.len().min(scales.len() / 4).min(bias.len() / 4);
    if !(1..1 << 30).contains(&limit) {
        // Outside the lanes' contract (a sum could wrap): the definition.
        return scalar::requantize(acc, scales, bias, to_act, limit);
    }
    let main = rows / 4 * 4;
    let (m, shift) = to_act.parts();
    for ((a, s), b) in acc[..main].chunks_exact_mut(4).zip(scales.chunks_exact(16)).zip(bias.chunks_exact(16)) {
        let before: [i32; 4] = [a[0], a[1], a[2], a[3]];
        // SAFETY: NEON is baseline on aarch64; each chunk holds 16 bytes.
        let ok = unsafe {
            let (sums, scale_bits, bias_bits) = (vld1q_s32(a.as_ptr()), vld1q_u32(s.as_ptr().cast()), vld1q_u32(b.as_ptr().cast()));
            let (scaled, scaled_ok) = scale_rows(sums, scale_bits, m, shift, limit);
            let (bias_q, bias_ok) = bias_q12(bias_bits, limit);
            let lim = vdupq_n_s32(limit);
            vst1q_s32(a.as_mut_ptr(), vmaxq_s32(vminq_s32(vaddq_s32(scaled, bias_q), lim), vnegq_s32(lim)));
            let mut ok = [0u32; 4];
            vst1q_u32(ok.as_mut_ptr(), vandq_u32(scaled_ok, bias_ok));
            ok
        };
        for i in (0..4).filter(|&i| ok[i] == 0) {
            a[i] = before[i];
            scalar::requantize(&mut a[i..=i], &s[4 * i..4 * i + 4], &b[4 * i..4 * i + 4], to_act, limit);
        }
    }
    scalar::requantize(&mut acc[main..rows], &scales[4 * main..4 * rows], &bias[4 * main..4 * rows], to_act, limit);
}

/// Mantissas (with the implicit bit) and exponents (`value = mant * 2^exp`)
/// of four f32s, as the definition splits them.
#[inline]
#[target_feature(enable = "neon")]
fn split(bits: uint32x4_t) -> (uint32x4_t, int32x4_t) {
    let field = vandq_u32(vshrq_n_u32::<23>(bits), vdupq_n_u32(0xFF));
    let subnormal = vceqq_u32(field, vdupq_n_u32(0));
    let mant = vorrq_u32(vandq_u32(bits, vdupq_n_u32(0x7F_FFFF)), vbicq_u32(vdupq_n_u32(0x80_0000), subnormal));
    let exp = vbslq_s32(subnormal, vdupq_n_s32(-149), vsubq_s32(vreinterpretq_s32_u32(field), vdupq_n_s32(150)));
    (mant, exp)
}

/// Each row's `acc * (mant * m + 2^23 >> 24) * 2^-(shift - exp - 24)`,
/// rounded and saturated to `±limit`, and which lanes had a shift in 1..=62
/// (or a zero scale, whose rows are 0).
#[inline]
#[target_feature(enable = "neon")]
fn scale_rows(sums: int32x4_t, scale_bits: uint32x4_t, m: u32, shift: i32, limit: i32) -> (int32x4_t, uint32x4_t) {
    let (mant, exp) = split(scale_bits);
    let mv = vdup_n_u32(m);
    let row_m =
        vcombine_u32(vrshrn_n_u64::<24>(vmull_u32(vget_low_u32(mant), mv)), vrshrn_n_u64::<24>(vmull_high_u32(mant, vdupq_n_u32(m))));
    let row_shift = vsubq_s32(vdupq_n_s32(shift - 24), exp);
    let row_m = vreinterpretq_s32_u32(row_m);
    let down = vnegq_s32(row_shift);
    let lo = round_shift(vmull_s32(vget_low_s32(sums), vget_low_s32(row_m)), vmovl_s32(vget_low_s32(down)), limit);
    let hi = round_shift(vmull_high_s32(sums, row_m), vmovl_high_s32(down), limit);
    let scaled = vcombine_s32(vmovn_s64(lo), vmovn_s64(hi));
    let zero_scale = vceqq_u32(vandq_u32(scale_bits, vdupq_n_u32(0x7FFF_FFFF)), vdupq_n_u32(0));
    let in_range = vandq_u32(vcgtq_s32(row_shift, vdupq_n_s32(0)), vcltq_s32(row_shift, vdupq_n_s32(63)));
    (vbicq_s32(scaled, vreinterpretq_s32_u32(zero_scale)), vorrq_u32(in_range, zero_scale))
}

/// `(p + 2^(k-1)) >> k` (by `srshl` with `-k`) saturated to `±limit`.
#[inline]
#[target_feature(enable = "neon")]
fn round_shift(p: int64x2_t, minus_k: int64x2_t, limit: i32) -> int64x2_t {
    let r = vrshlq_s64(p, minus_k);
    let (hi, lo) = (vdupq_n_s64(limit as i64), vdupq_n_s64(-(limit as i64)));
    let r = vbslq_s64(vcgtq_s64(r, hi), hi, r);
    vbslq_s64(vcltq_s64(r, lo), lo, r)
}

/// Four biases (f32 bits) in Q.12: the magnitude rounded to nearest (ties
/// away from zero), at most `limit`, then the sign; and which lanes were in
/// the usual range (zero, or a magnitude in `[2^-14, 2^11)`).
#[inline]
#[target_feature(enable = "neon")]
fn bias_q12(bits: uint32x4_t, limit: i32) -> (int32x4_t, uint32x4_t) {
    let (mant, exp) = split(bits);
    // down = -(exp + 12): the definition's usual case is 1..=25.
    let down = vsubq_s32(vdupq_n_s32(-12), exp);
    let magnitude = vminq_u32(vrshlq_u32(mant, vnegq_s32(down)), vdupq_n_u32(limit as u32));
    let magnitude = vreinterpretq_s32_u32(magnitude);
    let negative = vcltq_s32(vreinterpretq_s32_u32(bits), vdupq_n_s32(0));
    let signed = vbslq_s32(negative, vnegq_s32(magnitude), magnitude);
    let zero = vceqq_u32(vandq_u32(bits, vdupq_n_u32(0x7FFF_FFFF)), vdupq_n_u32(0));
    let usual = vandq_u32(vcgtq_s32(down, vdupq_n_s32(0)), vcltq_s32(down, vdupq_n_s32(26)));
    (vbicq_s32(signed, vreinterpretq_s32_u32(zero)), vorrq_u32(usual, zero))
}
