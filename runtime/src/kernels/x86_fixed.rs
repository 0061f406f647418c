//! x86-64 kernels for the element-wise work of the integer-only numerics,
//! eight rows or units at a time with AVX2: requantization, bit for bit
//! [`crate::fixed::requantize_row`], and the GRU update, bit for bit
//! [`scalar::gru_update_fixed`] (table tanh and sigmoid by one gather per
//! eight values: each gathered word holds a table entry and the next).
//!
//! Requantization:
//! Per row the definition decodes the row's scale (f32 bits) into a 24-bit
//! mantissa and an exponent, makes the row's multiplier
//! `(mant * m + 2^23) >> 24` with shift `s - exp - 24` from the product's
//! multiplier `m * 2^-s`, rounds `acc * multiplier * 2^-shift` to nearest
//! (ties toward +infinity) and saturates it, then adds the bias (f32 bits
//! rounded to Q.12, ties away from zero, saturated) and saturates again.
//! Here every step runs on eight lanes (sixteen with AVX-512F, for the row
//! tables); the 64-bit products and the rounding shifts on half as many
//! lanes at a time (even and odd rows), except in sixteen-row groups whose
//! sums all fit once shifted up for the shifts of 32 and less: there the
//! rounding works on the products' high words in 32-bit lanes, each lane
//! by [`Mul::apply`]'s usual case for its shift (as the int8 form of a
//! dense layer's outputs does, eight values of one shift at a time). A lane
//! outside the usual ranges (a multiplier shift outside 1..=62, a bias that
//! is not zero and not within `[2^-14, 2^11)` in magnitude) is recomputed by
//! the definition.

use core::arch::x86_64::*;

use super::{scalar, RowsRef};
use crate::fixed::{self, Mul, TANH_Q15};

/// `acc[r] = requantize_row(to_act, acc[r], scales[r], bias[r], limit)` for
/// the rows all three hold; rows past the tables are left as they are.
pub fn requantize(acc: &mut [i32], scales: &[u8], bias: &[u8], to_act: Mul, limit: i32) {
    let rows = acc.len().min(scales.len() / 4).min(bias.len() / 4);
    if !(1..1 << 30).contains(&limit) || !super::x86::has_avx2() {
        // Outside the lanes' contract (a sum could wrap): the definition.
        return scalar::requantize(acc, scales, bias, to_act, limit);
    }
    let main = rows / 8 * 8;
    // SAFETY: AVX2 is available (checked above).
    unsafe { requantize_avx2(&mut acc[..main], &scales[..4 * main], &bias[..4 * main], to_act, limit) };
    scalar::requantize(&mut acc[main..rows], &scales[4 * main..4 * rows], &bias[4 * main..4 * rows], to_act, limit);
}

/// Eight rows at a time; `acc.len()` is a multiple of 8 and the tables hold
/// 4 bytes per row.
#[target_feature(enable = "avx2")]
fn requantize_avx2(acc: &mut [i32], scales: &[u8], bias: &[u8], to_act: Mul, limit: i32) {
    let (m, shift) = to_act.parts();
    for ((a, s), b) in acc.chunks_exact_mut(8).zip(scales.chunks_exact(32)).zip(bias.chunks_exact(32)) {
        // SAFETY: each chunk holds 32 bytes (unaligned loads and stores).
        let (sums, scale_bits, bias_bits) = unsafe {
            (_mm256_loadu_si256(a.as_ptr().cast()), _mm256_loadu_si256(s.as_ptr().cast()), _mm256_loadu_si256(b.as_ptr().cast()))
        };
        let (scaled, scaled_ok) = scale_rows(sums, scale_bits, m, shift, limit);
        let (bias_q, bias_ok) = bias_q12(bias_bits, limit);
        let lim = _mm256_set1_epi32(limit);
        let out = _mm256_max_epi32(_mm256_min_epi32(_mm256_add_epi32(scaled, bias_q), lim), _mm256_sub_epi32(_mm256_setzero_si256(), lim));
        let ok = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_and_si256(scaled_ok, bias_ok))) as u32;
        // SAFETY: `a` holds 8 i32 (unaligned store).
        unsafe { _mm256_storeu_si256(a.as_mut_ptr().cast(), out) };
        if ok != 0xff {
            let before = lanes(sums);
            for i in (0..8).filter(|i| ok >> i & 1 == 0) {
                a[i] = before[i];
                scalar::requantize(&mut a[i..=i], &s[4 * i..4 * i + 4], &b[4 * i..4 * i + 4], to_act, limit);
            }
        }
    }
}

/// Requantization by a product's row table (see
/// [`super::requantize_table`]): the same lanes as [`requantize`] without
/// decoding f32 values; with `wide` and AVX-512F, sixteen rows at a time
/// first. Rows past the tables are left as they are.
pub fn requantize_table(acc: &mut [i32], t: RowsRef<'_>, step: Option<Mul>, limit: i32, wide: bool) {
    let rows = acc.len().min(t.multipliers.len() / 4).min(t.shifts.len()).min(t.biases.len() / 4);
    if !(1..1 << 30).contains(&limit) || !super::x86::has_avx2() {
        return scalar::requantize_table(acc, t, step, limit);
    }
    let wide = if wide && super::x86::has_avx512f() { rows / 16 * 16 } else { 0 };
    if wide > 0 {
        // SAFETY: AVX-512F is available (checked above).
        unsafe { requantize_table_avx512(&mut acc[..wide], t.rows(0, wide), step, limit) };
    }
    let main = rows / 8 * 8;
    // SAFETY: AVX2 is available (checked above).
    unsafe { requantize_table_avx2(&mut acc[wide..main], t.rows(wide, main), step, limit) };
    scalar::requantize_table(&mut acc[main..rows], t.rows(main, rows), step, limit);
}

/// The eight lanes of `v`.
#[inline]
#[target_feature(enable = "avx2")]
fn lanes(v: __m256i) -> [i32; 8] {
    let mut out = [0i32; 8];
    // SAFETY: `out` holds 8 i32 (unaligned store).
    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), v) };
    out
}

/// Sixteen rows at a time with AVX-512F (its 64-bit arithmetic shifts and
/// minimum and maximum spare AVX2's sign flips and blends); `acc.len()` is
/// a multiple of 16 and the table holds as many rows.
#[target_feature(enable = "avx512f")]
fn requantize_table_avx512(acc: &mut [i32], t: RowsRef<'_>, step: Option<Mul>, limit: i32) {
    let rows = t.multipliers.chunks_exact(64).zip(t.shifts.chunks_exact(16)).zip(t.biases.chunks_exact(64));
    let lim = _mm512_set1_epi32(limit);
    for (k, (a, ((m, s), b))) in acc.chunks_exact_mut(16).zip(rows).enumerate() {
        // SAFETY: each chunk holds 64 bytes (16 for the shifts; unaligned loads).
        let (sums, words, shifts, bias) = unsafe {
            let shifts = _mm512_cvtepi8_epi32(_mm_loadu_si128(s.as_ptr().cast()));
            (_mm512_loadu_si512(a.as_ptr().cast()), _mm512_loadu_si512(m.as_ptr().cast()), shifts, _mm512_loadu_si512(b.as_ptr().cast()))
        };
        let (row_m, row_shift) = match step {
            None => (words, shifts),
            Some(to_act) => {
                let (m, shift) = to_act.parts();
                (scale_lanes_wide(words, m), _mm512_add_epi32(shifts, _mm512_set1_epi32(shift)))
            }
        };
        let scaled = scale_wide(sums, row_m, row_shift, limit);
        let out = _mm512_max_epi32(_mm512_min_epi32(_mm512_add_epi32(scaled, bias), lim), _mm512_sub_epi32(_mm512_setzero_si512(), lim));
        let ok = _mm512_cmpgt_epi32_mask(row_shift, _mm512_setzero_si512()) & _mm512_cmplt_epi32_mask(row_shift, _mm512_set1_epi32(63));
        // SAFETY: `a` holds 16 i32 (unaligned store).
        unsafe { _mm512_storeu_si512(a.as_mut_ptr().cast(), out) };
        if ok != 0xffff {
            let mut before = [0i32; 16];
            // SAFETY: `before` holds 16 i32 (unaligned store).
            unsafe { _mm512_storeu_si512(before.as_mut_ptr().cast(), sums) };
            table_rows_by_definition(a, &before, ok as u32, t.rows(16 * k, 16 * k + 16), step, limit);
        }
    }
}

/// `sums * row_m * 2^-row_shift` rounded and saturated on sixteen lanes, for
/// shifts in `1..=62` (other lanes are recomputed by the caller): in 32-bit
/// lanes after the multiply, as [`Mul::apply`]'s two usual cases, lane by
/// lane (with `p` the product of the value shifted up by `t = 32 - shift`
/// for shifts up to 32, and the high word's own rounding shift by
/// `k = shift - 32` above), where every value fits once shifted up; else
/// the 64-bit products and rounding shifts on the even lanes and then the
/// odd ones.
#[inline]
#[target_feature(enable = "avx512f")]
fn scale_wide(sums: __m512i, row_m: __m512i, row_shift: __m512i, limit: i32) -> __m512i {
    let (zero, s32) = (_mm512_setzero_si512(), _mm512_set1_epi32(32));
    let t = _mm512_max_epi32(_mm512_sub_epi32(s32, row_shift), zero);
    let up = _mm512_sllv_epi32(sums, t);
    if _mm512_cmpeq_epi32_mask(_mm512_srav_epi32(up, t), sums) == 0xffff {
        let lim = _mm512_set1_epi32(limit);
        let r = round_high_words(up, row_m, _mm512_max_epi32(_mm512_sub_epi32(row_shift, s32), zero));
        return _mm512_max_epi32(_mm512_min_epi32(r, lim), _mm512_sub_epi32(zero, lim));
    }
    let lo_half = _mm512_set1_epi64(0xFFFF_FFFF);
    let r_even = round_shift_wide(_mm512_mul_epi32(sums, row_m), _mm512_and_si512(row_shift, lo_half), limit);
    let r_odd = round_shift_wide(
        _mm512_mul_epi32(_mm512_srli_epi64(sums, 32), _mm512_srli_epi64(row_m, 32)),
        _mm512_srli_epi64(row_shift, 32),
        limit,
    );
    _mm512_mask_blend_epi32(0xAAAA, r_even, _mm512_slli_epi64(r_odd, 32))
}

/// `(x * m + 2^(31 + k)) >> (32 + k)` on sixteen lanes (`x` signed, `m`
/// below 2^31, `k` in `0..=30`), from the products `p = hi * 2^32 + lo`:
/// `hi` plus the top bit of `lo` where `k = 0`, else `(hi + 2^(k-1)) >> k`
/// (`lo` adds less than one unit below the bits dropped anyway).
#[inline]
#[target_feature(enable = "avx512f")]
fn round_high_words(x: __m512i, m: __m512i, k: __m512i) -> __m512i {
    let even = _mm512_mul_epi32(x, m);
    let odd = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(m, 32));
    let hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
    let lo_top = _mm512_srli_epi32(_mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32)), 31);
    // 2^(k-1), and 0 where k = 0 (a shift count past 31 gives 0).
    let half = _mm512_sllv_epi32(_mm512_set1_epi32(1), _mm512_sub_epi32(k, _mm512_set1_epi32(1)));
    let round = _mm512_mask_add_epi32(half, _mm512_cmpeq_epi32_mask(k, _mm512_setzero_si512()), half, lo_top);
    _mm512_srav_epi32(_mm512_add_epi32(hi, round), k)
}

/// [`scale_lanes`] with `SHIFT = 32` on sixteen lanes.
#[inline]
#[target_feature(enable = "avx512f")]
fn scale_lanes_wide(v: __m512i, m: u32) -> __m512i {
    let mv = _mm512_set1_epi64(m as i64);
    let half = _mm512_set1_epi64(1 << 31);
    let even = _mm512_srli_epi64::<32>(_mm512_add_epi64(_mm512_mul_epu32(v, mv), half));
    let odd = _mm512_srli_epi64::<32>(_mm512_add_epi64(_mm512_mul_epu32(_mm512_srli_epi64(v, 32), mv), half));
    _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32))
}

/// [`round_shift`] on eight i64 lanes: an arithmetic shift and a 64-bit
/// minimum and maximum.
#[inline]
#[target_feature(enable = "avx512f")]
fn round_shift_wide(p: __m512i, k: __m512i, limit: i32) -> __m512i {
    let one = _mm512_set1_epi64(1);
    let t = _mm512_add_epi64(p, _mm512_sllv_epi64(one, _mm512_sub_epi64(k, one)));
    let r = _mm512_srav_epi64(t, k);
    _mm512_max_epi64(_mm512_min_epi64(r, _mm512_set1_epi64(limit as i64)), _mm512_set1_epi64(-(limit as i64)))
}

/// Eight rows at a time; `acc.len()` is a multiple of 8 and the table holds
/// as many rows.
#[target_feature(enable = "avx2")]
fn requantize_table_avx2(acc: &mut [i32], t: RowsRef<'_>, step: Option<Mul>, limit: i32) {
    let rows = t.multipliers.chunks_exact(32).zip(t.shifts.chunks_exact(8)).zip(t.biases.chunks_exact(32));
    for (k, (a, ((m, s), b))) in acc.chunks_exact_mut(8).zip(rows).enumerate() {
        // SAFETY: each chunk holds 32 bytes (8 for the shifts; unaligned loads).
        let (sums, words, shifts, bias) = unsafe {
            let shifts = _mm256_cvtepi8_epi32(_mm_loadl_epi64(s.as_ptr().cast()));
            (_mm256_loadu_si256(a.as_ptr().cast()), _mm256_loadu_si256(m.as_ptr().cast()), shifts, _mm256_loadu_si256(b.as_ptr().cast()))
        };
        let (row_m, row_shift) = match step {
            None => (words, shifts),
            Some(to_act) => {
                let (m, shift) = to_act.parts();
                (scale_lanes::<32>(words, m), _mm256_add_epi32(shifts, _mm256_set1_epi32(shift)))
            }
        };
        let lo_half = _mm256_set1_epi64x(0xFFFF_FFFF);
        let r_even = round_shift(_mm256_mul_epi32(sums, row_m), _mm256_and_si256(row_shift, lo_half), limit);
        let r_odd = round_shift(
            _mm256_mul_epi32(_mm256_srli_epi64(sums, 32), _mm256_srli_epi64(row_m, 32)),
            _mm256_srli_epi64(row_shift, 32),
            limit,
        );
        let scaled = _mm256_blend_epi32(r_even, _mm256_slli_epi64(r_odd, 32), 0b1010_1010);
        let lim = _mm256_set1_epi32(limit);
        let out = _mm256_max_epi32(_mm256_min_epi32(_mm256_add_epi32(scaled, bias), lim), _mm256_sub_epi32(_mm256_setzero_si256(), lim));
        let in_range =
            _mm256_and_si256(_mm256_cmpgt_epi32(row_shift, _mm256_setzero_si256()), _mm256_cmpgt_epi32(_mm256_set1_epi32(63), row_shift));
        let ok = _mm256_movemask_ps(_mm256_castsi256_ps(in_range)) as u32;
        // SAFETY: `a` holds 8 i32 (unaligned store).
        unsafe { _mm256_storeu_si256(a.as_mut_ptr().cast(), out) };
        if ok != 0xff {
            table_rows_by_definition(a, &lanes(sums), ok, t.rows(8 * k, 8 * k + 8), step, limit);
        }
    }
}

/// The rows of a group whose bit in `ok` is clear (a shift outside
/// 1..=62): their sums `before` back, then the definition by the group's
/// table rows `t`.
fn table_rows_by_definition(a: &mut [i32], before: &[i32], ok: u32, t: RowsRef<'_>, step: Option<Mul>, limit: i32) {
    for (i, &sum) in before.iter().enumerate().filter(|&(i, _)| ok >> i & 1 == 0) {
        if let Some(out) = a.get_mut(i..=i) {
            out[0] = sum;
            scalar::requantize_table(out, t.rows(i, i + 1), step, limit);
        }
    }
}

/// `(v * m + 2^(SHIFT-1)) >> SHIFT` for eight u32 lanes whose result fits 32
/// bits: with `SHIFT = 24` the row multipliers of [`Mul::scaled_by_f32_bits`]
/// from significands (below 2^24); with `SHIFT = 32` those of a row table's
/// per-step entries, whose words are the significands shifted up by 8
/// ([`Mul::scaled_by_significand`]).
#[inline]
#[target_feature(enable = "avx2")]
fn scale_lanes<const SHIFT: i32>(v: __m256i, m: u32) -> __m256i {
    let mv = _mm256_set1_epi64x(m as i64);
    let half = _mm256_set1_epi64x(1 << (SHIFT - 1));
    let even = _mm256_srli_epi64::<SHIFT>(_mm256_add_epi64(_mm256_mul_epu32(v, mv), half));
    let odd = _mm256_srli_epi64::<SHIFT>(_mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(v, 32), mv), half));
    _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0b1010_1010)
}

/// Mantissas (with the implicit bit) and exponents (`value = mant * 2^exp`)
/// of eight f32s, as the definition splits them.
#[inline]
#[target_feature(enable = "avx2")]
fn split(bits: __m256i) -> (__m256i, __m256i) {
    let field = _mm256_and_si256(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(0xFF));
    let subnormal = _mm256_cmpeq_epi32(field, _mm256_setzero_si256());
    let implicit = _mm256_andnot_si256(subnormal, _mm256_set1_epi32(0x80_0000));
    let mant = _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x7F_FFFF)), implicit);
    let exp = _mm256_blendv_epi8(_mm256_sub_epi32(field, _mm256_set1_epi32(150)), _mm256_set1_epi32(-149), subnormal);
    (mant, exp)
}

/// Each row's `acc * (mant * m + 2^23 >> 24) * 2^-(shift - exp - 24)`,
/// rounded and saturated to `±limit`, and which lanes had a shift in 1..=62
/// (or a zero scale, whose rows are 0): the rest are the definition's.
#[inline]
#[target_feature(enable = "avx2")]
fn scale_rows(sums: __m256i, scale_bits: __m256i, m: u32, shift: i32, limit: i32) -> (__m256i, __m256i) {
    let (mant, exp) = split(scale_bits);
    let row_m = scale_lanes::<24>(mant, m);
    let row_shift = _mm256_sub_epi32(_mm256_set1_epi32(shift - 24), exp);
    let lo_half = _mm256_set1_epi64x(0xFFFF_FFFF);
    let r_even = round_shift(_mm256_mul_epi32(sums, row_m), _mm256_and_si256(row_shift, lo_half), limit);
    let r_odd =
        round_shift(_mm256_mul_epi32(_mm256_srli_epi64(sums, 32), _mm256_srli_epi64(row_m, 32)), _mm256_srli_epi64(row_shift, 32), limit);
    let scaled = _mm256_blend_epi32(r_even, _mm256_slli_epi64(r_odd, 32), 0b1010_1010);
    let zero_scale = _mm256_cmpeq_epi32(_mm256_and_si256(scale_bits, _mm256_set1_epi32(0x7FFF_FFFF)), _mm256_setzero_si256());
    let in_range =
        _mm256_and_si256(_mm256_cmpgt_epi32(row_shift, _mm256_setzero_si256()), _mm256_cmpgt_epi32(_mm256_set1_epi32(63), row_shift));
    (_mm256_andnot_si256(zero_scale, scaled), _mm256_or_si256(in_range, zero_scale))
}

/// `(p + 2^(k-1)) >> k` (arithmetic) for four i64 `p` and shifts `k` in
/// 1..=62, saturated to `±limit`; other shifts give some value (their lanes
/// are recomputed).
#[inline]
#[target_feature(enable = "avx2")]
fn round_shift(p: __m256i, k: __m256i, limit: i32) -> __m256i {
    let one = _mm256_set1_epi64x(1);
    let t = _mm256_add_epi64(p, _mm256_sllv_epi64(one, _mm256_sub_epi64(k, one)));
    // An arithmetic shift from a logical one: flip a negative value, shift, flip back.
    let sign = _mm256_cmpgt_epi64(_mm256_setzero_si256(), t);
    let r = _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(t, sign), k), sign);
    let (hi, lo) = (_mm256_set1_epi64x(limit as i64), _mm256_set1_epi64x(-(limit as i64)));
    let r = _mm256_blendv_epi8(r, hi, _mm256_cmpgt_epi64(r, hi));
    _mm256_blendv_epi8(r, lo, _mm256_cmpgt_epi64(lo, r))
}

/// Eight biases (f32 bits) in Q.12: the magnitude rounded to nearest (ties
/// away from zero), at most `limit`, then the sign; and which lanes were in
/// the usual range (zero, or a magnitude in `[2^-14, 2^11)`).
#[inline]
#[target_feature(enable = "avx2")]
fn bias_q12(bits: __m256i, limit: i32) -> (__m256i, __m256i) {
    let (mant, exp) = split(bits);
    // down = -(exp + 12): the definition's usual case is 1..=25.
    let down = _mm256_sub_epi32(_mm256_set1_epi32(-12), exp);
    let one = _mm256_set1_epi32(1);
    let rounded = _mm256_srlv_epi32(_mm256_add_epi32(mant, _mm256_sllv_epi32(one, _mm256_sub_epi32(down, one))), down);
    let magnitude = _mm256_min_epi32(rounded, _mm256_set1_epi32(limit));
    let negative = _mm256_srai_epi32(bits, 31);
    let signed = _mm256_sub_epi32(_mm256_xor_si256(magnitude, negative), negative);
    let zero = _mm256_cmpeq_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x7FFF_FFFF)), _mm256_setzero_si256());
    let usual = _mm256_and_si256(_mm256_cmpgt_epi32(down, _mm256_setzero_si256()), _mm256_cmpgt_epi32(_mm256_set1_epi32(26), down));
    (_mm256_andnot_si256(zero, signed), _mm256_or_si256(usual, zero))
}

/// `q[i] = mul * d[i]` rounded and clamped to ±127 ([`scalar::scale_to_int8`])
/// for the values both hold: eight at a time in 32-bit lanes after the
/// multiply, as [`Mul::apply`]'s two usual cases (a shift in `33..=62`, or
/// in `1..=32` with every value fitting once shifted up); other multipliers
/// and values the shift up cannot hold by the definition.
pub fn scale_to_int8(d: &[i32], mul: Mul, q: &mut [i8]) {
    let n = d.len().min(q.len());
    let main = if super::x86::has_avx2() { n / 8 * 8 } else { 0 };
    // SAFETY: AVX2 is available where `main > 0` (checked above).
    let done = if main > 0 { unsafe { scale_to_int8_avx2(&d[..main], mul, &mut q[..main]) } } else { 0 };
    scalar::scale_to_int8(&d[done..n], mul, &mut q[done..n]);
}

/// [`scale_to_int8`] of `d.len()` (a multiple of 8) values; returns how
/// many it wrote: all, or none where the multiplier is outside both cases,
/// or the first values that could not be shifted up.
#[target_feature(enable = "avx2")]
fn scale_to_int8_avx2(d: &[i32], mul: Mul, q: &mut [i8]) -> usize {
    let (m, shift) = mul.parts();
    if !(1..63).contains(&shift) {
        return 0;
    }
    let mv = _mm256_set1_epi64x(m as i64);
    let (up, k) = ((32 - shift).max(0), (shift - 32).max(0));
    let (up_count, k_count) = (_mm_cvtsi32_si128(up), _mm_cvtsi32_si128(k));
    // Rounding: 2^31 in the low word with the whole product (k = 0), or
    // 2^(k-1) added to the high word.
    let round_low = _mm256_set1_epi64x(if k == 0 { 1 << 31 } else { 0 });
    let round_high = _mm256_set1_epi32(if k == 0 { 0 } else { 1 << (k - 1) });
    let lim = _mm256_set1_epi32(127);
    // Byte 0 of each lane, lanes 0..4 of each half first.
    let bytes = _mm256_setr_epi8(
        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    );
    for (i, (dv, qv)) in d.chunks_exact(8).zip(q.chunks_exact_mut(8)).enumerate() {
        // SAFETY: the chunk holds 8 i32 (unaligned load).
        let x = unsafe { _mm256_loadu_si256(dv.as_ptr().cast()) };
        let x_up = _mm256_sll_epi32(x, up_count);
        if _mm256_movemask_epi8(_mm256_cmpeq_epi32(_mm256_sra_epi32(x_up, up_count), x)) != -1 {
            return 8 * i;
        }
        let even = _mm256_add_epi64(_mm256_mul_epi32(x_up, mv), round_low);
        let odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x_up, 32), mv), round_low);
        let hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0b1010_1010);
        let r = _mm256_sra_epi32(_mm256_add_epi32(hi, round_high), k_count);
        let r = _mm256_max_epi32(_mm256_min_epi32(r, lim), _mm256_sub_epi32(_mm256_setzero_si256(), lim));
        let packed = _mm256_shuffle_epi8(r, bytes);
        let low8 = _mm_unpacklo_epi32(_mm256_castsi256_si128(packed), _mm256_extracti128_si256(packed, 1));
        // SAFETY: the chunk holds 8 bytes (unaligned store).
        unsafe { _mm_storel_epi64(qv.as_mut_ptr().cast(), low8) };
    }
    d.len()
}

/// The GRU update ([`scalar::gru_update_fixed`]): `gx` and `gh` hold
/// `3 * h.len()` values within `±PRE_ACT_LIMIT` (shorter ones leave `h` as
/// it is).
pub fn gru_update(h: &mut [i16], gx: &[i32], gh: &[i32]) {
    let n = h.len();
    if gx.len() < 3 * n || gh.len() < 3 * n || !super::x86::has_avx2() {
        return scalar::gru_update_fixed(h, gx, gh);
    }
    let wide = if super::x86::has_avx512f() { n / 16 * 16 } else { 0 };
    if wide > 0 {
        // SAFETY: AVX-512F is available (checked above).
        unsafe { gru_update_avx512(&mut h[..wide], n, gx, gh) };
    }
    let main = n / 8 * 8;
    // SAFETY: AVX2 is available (checked above).
    unsafe { gru_update_avx2(&mut h[..main], wide, n, gx, gh) };
    scalar::gru_update_fixed_from(h, gx, gh, main);
}

/// Units `0..h.len()` (a multiple of 16) of a layer of `n` units, sixteen
/// at a time: [`gru_update_avx2`]'s steps on twice the lanes.
#[target_feature(enable = "avx512f")]
fn gru_update_avx512(h: &mut [i16], n: usize, gx: &[i32], gh: &[i32]) {
    let half = _mm512_set1_epi32(1 << (fixed::STATE_FRAC - 1));
    let load = |v: &[i32], at: usize| -> __m512i {
        let chunk: &[i32; 16] = v[at..at + 16].try_into().unwrap_or(&[0; 16]);
        // SAFETY: `chunk` holds 16 i32 (unaligned load).
        unsafe { _mm512_loadu_si512(chunk.as_ptr().cast()) }
    };
    for (b, hv) in h.chunks_exact_mut(16).enumerate() {
        let i = 16 * b;
        let z = sigmoid_q15_wide(_mm512_add_epi32(load(gx, i), load(gh, i)));
        let r = sigmoid_q15_wide(_mm512_add_epi32(load(gx, n + i), load(gh, n + i)));
        let reset = _mm512_srai_epi32(_mm512_add_epi32(_mm512_mullo_epi32(r, load(gh, 2 * n + i)), half), fixed::STATE_FRAC);
        let cand = tanh_q15_wide::<{ fixed::ACT_FRAC - 5 }>(_mm512_add_epi32(load(gx, 2 * n + i), reset));
        // SAFETY: `hv` holds 16 i16 (unaligned load).
        let state = _mm512_cvtepi16_epi32(unsafe { _mm256_loadu_si256(hv.as_ptr().cast()) });
        let keep = _mm512_srai_epi32(_mm512_add_epi32(_mm512_mullo_epi32(z, _mm512_sub_epi32(state, cand)), half), fixed::STATE_FRAC);
        // |cand + keep| <= 32767 + 1: the saturating narrowing clamps it as
        // the definition does.
        let next = _mm512_cvtsepi32_epi16(_mm512_add_epi32(cand, keep));
        let limit = _mm256_set1_epi16(32767);
        let next = _mm256_max_epi16(_mm256_min_epi16(next, limit), _mm256_sub_epi16(_mm256_setzero_si256(), limit));
        // SAFETY: `hv` holds 16 i16 (unaligned store).
        unsafe { _mm256_storeu_si256(hv.as_mut_ptr().cast(), next) };
    }
}

/// [`sigmoid_q15`] on sixteen lanes.
#[inline]
#[target_feature(enable = "avx512f")]
fn sigmoid_q15_wide(x: __m512i) -> __m512i {
    let t = tanh_q15_wide::<{ fixed::ACT_FRAC + 1 - 5 }>(x);
    _mm512_srai_epi32(_mm512_add_epi32(t, _mm512_set1_epi32(32769)), 1)
}

/// [`tanh_q15`] on sixteen lanes.
#[inline]
#[target_feature(enable = "avx512f")]
fn tanh_q15_wide<const BELOW: u32>(x: __m512i) -> __m512i {
    let a = _mm512_abs_epi32(x);
    let i = _mm512_srli_epi32(a, BELOW);
    let last = _mm512_set1_epi32(TANH_Q15.len() as i32 - 2);
    let at = _mm512_min_epu32(i, last);
    // SAFETY: as in `tanh_q15`: a read at entry `at <= len - 2` with scale 2
    // covers entries `at` and `at + 1`, both inside the table.
    let pair = unsafe { _mm512_i32gather_epi32::<2>(at, TANH_Q15.as_ptr().cast()) };
    let lo = _mm512_srai_epi32(_mm512_slli_epi32(pair, 16), 16);
    let hi = _mm512_srai_epi32(pair, 16);
    let rem = _mm512_and_si512(a, _mm512_set1_epi32((1 << BELOW) - 1));
    let step =
        _mm512_srai_epi32(_mm512_add_epi32(_mm512_mullo_epi32(_mm512_sub_epi32(hi, lo), rem), _mm512_set1_epi32(1 << (BELOW - 1))), BELOW);
    // Past the table (beyond the next-to-last entry, or |i32::MIN|): 32767.
    let past = _mm512_cmpgt_epu32_mask(i, last) | _mm512_cmplt_epi32_mask(a, _mm512_setzero_si512());
    let y = _mm512_mask_mov_epi32(_mm512_add_epi32(lo, step), past, _mm512_set1_epi32(32767));
    // The sign of x (0 stays 0: the table's first entry is 0).
    _mm512_mask_sub_epi32(y, _mm512_cmplt_epi32_mask(x, _mm512_setzero_si512()), _mm512_setzero_si512(), y)
}

/// Units `from..h.len()` (`h.len() - from` a multiple of 8) of a layer of
/// `n` units.
#[target_feature(enable = "avx2")]
fn gru_update_avx2(h: &mut [i16], from: usize, n: usize, gx: &[i32], gh: &[i32]) {
    let half = _mm256_set1_epi32(1 << (fixed::STATE_FRAC - 1));
    let load = |v: &[i32], at: usize| -> __m256i {
        let chunk: &[i32; 8] = v[at..at + 8].try_into().unwrap_or(&[0; 8]);
        // SAFETY: `chunk` holds 8 i32 (unaligned load).
        unsafe { _mm256_loadu_si256(chunk.as_ptr().cast()) }
    };
    for (b, hv) in h[from..].chunks_exact_mut(8).enumerate() {
        let i = from + 8 * b;
        let z = sigmoid_q15(_mm256_add_epi32(load(gx, i), load(gh, i)));
        let r = sigmoid_q15(_mm256_add_epi32(load(gx, n + i), load(gh, n + i)));
        let reset = _mm256_srai_epi32(_mm256_add_epi32(_mm256_mullo_epi32(r, load(gh, 2 * n + i)), half), fixed::STATE_FRAC as i32);
        let cand = tanh_q15::<{ fixed::ACT_FRAC as i32 - 5 }>(_mm256_add_epi32(load(gx, 2 * n + i), reset));
        // SAFETY: `hv` holds 8 i16 (unaligned load).
        let state = _mm256_cvtepi16_epi32(unsafe { _mm_loadu_si128(hv.as_ptr().cast()) });
        let keep =
            _mm256_srai_epi32(_mm256_add_epi32(_mm256_mullo_epi32(z, _mm256_sub_epi32(state, cand)), half), fixed::STATE_FRAC as i32);
        let limit = _mm256_set1_epi32(32767);
        let next = _mm256_max_epi32(_mm256_min_epi32(_mm256_add_epi32(cand, keep), limit), _mm256_sub_epi32(_mm256_setzero_si256(), limit));
        let packed = _mm_packs_epi32(_mm256_castsi256_si128(next), _mm256_extracti128_si256(next, 1));
        // SAFETY: `hv` holds 8 i16 (unaligned store).
        unsafe { _mm_storeu_si128(hv.as_mut_ptr().cast(), packed) };
    }
}

/// [`fixed::sigmoid_q15`] of eight Q.12 values: `(32768 + tanh(x / 2) + 1) >> 1`.
#[inline]
#[target_feature(enable = "avx2")]
fn sigmoid_q15(x: __m256i) -> __m256i {
    let t = tanh_q15::<{ fixed::ACT_FRAC as i32 + 1 - 5 }>(x);
    _mm256_srai_epi32(_mm256_add_epi32(t, _mm256_set1_epi32(32769)), 1)
}

/// [`fixed::tanh_q15`] of eight values with `BELOW + 5` fraction bits:
/// entry `|x| >> BELOW` of [`TANH_Q15`] and the next, interpolated, 32767
/// past the table, then the sign of `x`.
#[inline]
#[target_feature(enable = "avx2")]
fn tanh_q15<const BELOW: i32>(x: __m256i) -> __m256i {
    let a = _mm256_abs_epi32(x);
    let i = _mm256_srli_epi32(a, BELOW);
    let last = _mm256_set1_epi32(TANH_Q15.len() as i32 - 2);
    // Indices up to the next-to-last entry: each read is 4 bytes inside the table.
    let at = _mm256_min_epu32(i, last);
    // SAFETY: the table holds `len` i16; a read at entry `at <= len - 2` with
    // scale 2 covers entries `at` and `at + 1`, both inside it.
    let pair = unsafe { _mm256_i32gather_epi32::<2>(TANH_Q15.as_ptr().cast(), at) };
    let lo = _mm256_srai_epi32(_mm256_slli_epi32(pair, 16), 16);
    let hi = _mm256_srai_epi32(pair, 16);
    let rem = _mm256_and_si256(a, _mm256_set1_epi32((1 << BELOW) - 1));
    let step =
        _mm256_srai_epi32(_mm256_add_epi32(_mm256_mullo_epi32(_mm256_sub_epi32(hi, lo), rem), _mm256_set1_epi32(1 << (BELOW - 1))), BELOW);
    // Past the table (|x| >> BELOW beyond the next-to-last entry, or |i32::MIN|): 32767.
    let past = _mm256_or_si256(_mm256_cmpgt_epi32(i, last), _mm256_cmpgt_epi32(_mm256_setzero_si256(), a));
    let y = _mm256_blendv_epi8(_mm256_add_epi32(lo, step), _mm256_set1_epi32(32767), past);
    _mm256_sign_epi32(y, x)
}
