//! x86-64 kernels: AVX2 + FMA, and `vpdpbusd` (AVX-512 VNNI or AVX-VNNI).
//!
//! int8 products use the sign trick: `|x| * (w with the sign of x)`, an
//! unsigned-by-signed product that `vpmaddubsw` and `vpdpbusd` take; `|x|` is
//! computed once per input chunk and shared by every row. Weights and inputs
//! lie in [-127, 127] (the loader refuses -128 weights, the quantizer never
//! makes -128 inputs), so a `vpmaddubsw` pair sum is at most 2 * 127 * 127 =
//! 32258, below i16::MAX: it never saturates. `vpdpbusd` sums into int32.

use core::arch::x86_64::*;

use super::{scalar, Block8x4};
use crate::le::u32_at;

/// Whether AVX2 and FMA are usable.
pub fn has_avx2() -> bool {
    #[cfg(feature = "std")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(all(target_feature = "avx2", target_feature = "fma"))
    }
}

/// Whether AVX-512 Foundation is usable (sixteen-wide loops).
pub fn has_avx512f() -> bool {
    #[cfg(feature = "std")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(target_feature = "avx512f")
    }
}

/// Whether AVX-512 VNNI (with VL) is usable.
fn has_avx512_vnni() -> bool {
    #[cfg(feature = "std")]
    {
        std::arch::is_x86_feature_detected!("avx512vnni") && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(all(target_feature = "avx512vnni", target_feature = "avx512vl"))
    }
}

/// Whether AVX-VNNI (the VEX-encoded `vpdpbusd`) is usable.
fn has_avx_vnni() -> bool {
    #[cfg(feature = "std")]
    {
        std::arch::is_x86_feature_detected!("avxvnni")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(target_feature = "avxvnni")
    }
}

/// Whether a `vpdpbusd` kernel can run (with AVX2 for the rest).
pub fn has_vnni() -> bool {
    has_avx2() && (has_avx512_vnni() || has_avx_vnni())
}

/// One step of an int8 dot product: `acc += |x| * sign(w, x)` summed per 4 bytes.
trait DotI8 {
    /// Whether the kernel's functions have 32 vector registers (AVX-512VL),
    /// enough to keep 256 inputs and their magnitudes in registers.
    const WIDE_REGISTERS: bool = false;
    /// Add the products of 32 int8 pairs to eight int32 lanes (4 per lane);
    /// `xabs` is `|x|`.
    fn dot(acc: __m256i, w: __m256i, x: __m256i, xabs: __m256i) -> __m256i;
}

/// `vpmaddubsw` + `vpmaddwd`.
struct Avx2Dot;
impl DotI8 for Avx2Dot {
    #[inline(always)]
    fn dot(acc: __m256i, w: __m256i, x: __m256i, xabs: __m256i) -> __m256i {
        // SAFETY: only inlined into functions compiled with `avx2` enabled,
        // which are only called after `has_avx2()` returned true.
        unsafe {
            let pairs = _mm256_maddubs_epi16(xabs, _mm256_sign_epi8(w, x));
            _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
        }
    }
}

/// AVX-512 VNNI `vpdpbusd` on 256-bit registers.
struct Avx512VnniDot;
impl DotI8 for Avx512VnniDot {
    const WIDE_REGISTERS: bool = true;
    #[inline(always)]
    fn dot(acc: __m256i, w: __m256i, x: __m256i, xabs: __m256i) -> __m256i {
        // SAFETY: only inlined into functions compiled with `avx512vnni,avx512vl`,
        // called only after `has_avx512_vnni()` returned true.
        unsafe { _mm256_dpbusd_epi32(acc, xabs, _mm256_sign_epi8(w, x)) }
    }
}

/// AVX-VNNI `vpdpbusd` (VEX encoding).
struct AvxVnniDot;
impl DotI8 for AvxVnniDot {
    #[inline(always)]
    fn dot(acc: __m256i, w: __m256i, x: __m256i, xabs: __m256i) -> __m256i {
        // SAFETY: only inlined into functions compiled with `avxvnni`,
        // called only after `has_avx_vnni()` returned true.
        unsafe { _mm256_dpbusd_avx_epi32(acc, xabs, _mm256_sign_epi8(w, x)) }
    }
}

#[inline(always)]
fn hsum_epi32(v: __m256i) -> i32 {
    // SAFETY: only inlined into functions compiled with `avx2`.
    unsafe {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
        _mm_cvtsi128_si32(s)
    }
}

#[inline(always)]
fn hsum_ps(v: __m256) -> f32 {
    // SAFETY: only inlined into functions compiled with `avx2`.
    unsafe {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0b01));
        _mm_cvtss_f32(s)
    }
}

/// Dense int8 rows, `N` at a time (so the `N` sums stay in registers), 32
/// columns per instruction, then 16, then the last few one by one.
#[inline(always)]
fn matvec_i8_rows<D: DotI8, const N: usize>(w: &[i8], cols: usize, x: &[i8], r: usize, acc: &mut [i32]) {
    let main = cols - cols % 32;
    // SAFETY: only inlined into functions compiled with `avx2`.
    let mut sums = [unsafe { _mm256_setzero_si256() }; N];
    let mut c = 0;
    while c < main {
        // SAFETY: c + 32 <= cols == x.len(); rows r..r+N lie inside w
        // because w.len() == acc.len() * cols and r + N <= acc.len().
        unsafe {
            let xv = _mm256_loadu_si256(x.as_ptr().add(c) as *const __m256i);
            let xabs = _mm256_abs_epi8(xv);
            for (i, s) in sums.iter_mut().enumerate() {
                let wv = _mm256_loadu_si256(w.as_ptr().add((r + i) * cols + c) as *const __m256i);
                *s = D::dot(*s, wv, xv, xabs);
            }
        }
        c += 32;
    }
    // Sixteen more columns in the low lanes (the high lanes zero), so that
    // rows of 16 + 32k inputs (an embedding of 16) have no scalar tail.
    if cols - main >= 16 {
        // SAFETY: main + 16 <= cols == x.len(), and likewise inside each row.
        unsafe {
            let xv = _mm256_zextsi128_si256(_mm_loadu_si128(x.as_ptr().add(main) as *const __m128i));
            let xabs = _mm256_abs_epi8(xv);
            for (i, s) in sums.iter_mut().enumerate() {
                let wv = _mm256_zextsi128_si256(_mm_loadu_si128(w.as_ptr().add((r + i) * cols + main) as *const __m128i));
                *s = D::dot(*s, wv, xv, xabs);
            }
        }
    }
    let main = if cols - main >= 16 { main + 16 } else { main };
    let mut totals = [0i32; N];
    if N == 4 {
        // SAFETY: only inlined into functions compiled with `avx2`; `totals` has 4 lanes.
        unsafe { _mm_storeu_si128(totals.as_mut_ptr() as *mut __m128i, sum_four([sums[0], sums[1 % N], sums[2 % N], sums[3 % N]])) };
    } else {
        for (t, s) in totals.iter_mut().zip(&sums) {
            *t = hsum_epi32(*s);
        }
    }
    for (i, t) in totals.iter().enumerate() {
        let tail: i32 = if main < cols {
            let row = &w[(r + i) * cols..(r + i + 1) * cols];
            row[main..].iter().zip(&x[main..]).map(|(&a, &b)| a as i32 * b as i32).sum()
        } else {
            0
        };
        acc[r + i] = t + tail;
    }
}

#[inline(always)]
fn matvec_i8_body<D: DotI8>(w: &[i8], cols: usize, x: &[i8], acc: &mut [i32]) {
    let rows = acc.len();
    let mut r = 0;
    if cols == 16 {
        r = rows_of_16::<D>(w, x, acc);
    } else if cols == 64 {
        r = rows_with_inputs_held::<D, 2>(w, x, acc);
    } else if cols == 256 && D::WIDE_REGISTERS {
        r = rows_with_inputs_held::<D, 8>(w, x, acc);
    }
    while r + 4 <= rows {
        matvec_i8_rows::<D, 4>(w, cols, x, r, acc);
        r += 4;
    }
    while r < rows {
        matvec_i8_rows::<D, 1>(w, cols, x, r, acc);
        r += 1;
    }
}

/// Rows of 16 inputs (an embedding's width), eight at a time: two
/// consecutive rows are one 32-byte load against the inputs in both
/// halves, and three horizontal adds and a permutation give the eight
/// sums in row order. Returns how many rows it did (a multiple of 8).
#[inline(always)]
fn rows_of_16<D: DotI8>(w: &[i8], x: &[i8], acc: &mut [i32]) -> usize {
    let done = (acc.len() / 8 * 8).min(w.len() / 16 / 8 * 8);
    if x.len() < 16 || done == 0 {
        return 0;
    }
    // SAFETY: only inlined into functions compiled with `avx2`; `x` holds
    // 16 bytes, and rows `r..r + 8` of 16 bytes each lie inside `w` and
    // their sums inside `acc` for every `r < done` (`done` is clamped to both).
    unsafe {
        let xv = _mm256_broadcastsi128_si256(_mm_loadu_si128(x.as_ptr() as *const __m128i));
        let xabs = _mm256_abs_epi8(xv);
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        let zero = _mm256_setzero_si256();
        for r in (0..done).step_by(8) {
            // (No closure: it would not inherit the caller's target features.)
            let p = w.as_ptr().add(16 * r);
            let load = |at: usize| p.add(at) as *const __m256i;
            let pair =
                [_mm256_loadu_si256(load(0)), _mm256_loadu_si256(load(32)), _mm256_loadu_si256(load(64)), _mm256_loadu_si256(load(96))];
            // [r0 r0 r2 r2 | r1 r1 r3 r3], then [r4 r4 r6 r6 | r5 r5 r7 r7], then [r0 r2 r4 r6 | r1 r3 r5 r7].
            let low = _mm256_hadd_epi32(D::dot(zero, pair[0], xv, xabs), D::dot(zero, pair[1], xv, xabs));
            let high = _mm256_hadd_epi32(D::dot(zero, pair[2], xv, xabs), D::dot(zero, pair[3], xv, xabs));
            let sums = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(low, high), order);
            _mm256_storeu_si256(acc.as_mut_ptr().add(r) as *mut __m256i, sums);
        }
    }
    done
}

/// Rows of `32 * C` inputs four at a time with the inputs and their
/// magnitudes held in registers for all the rows (a layer of 64: two of
/// each; of 256, with the 32 registers of AVX-512VL: eight): each chunk of
/// a row one load, one sign and one product, and no input loaded again per
/// group of rows. Returns how many rows it did (a multiple of 4).
#[inline(always)]
fn rows_with_inputs_held<D: DotI8, const C: usize>(w: &[i8], x: &[i8], acc: &mut [i32]) -> usize {
    let cols = 32 * C;
    let done = (acc.len() / 4 * 4).min(w.len() / cols / 4 * 4);
    if x.len() < cols || done == 0 {
        return 0;
    }
    // SAFETY: only inlined into functions compiled with `avx2`; `x` holds
    // `cols` bytes, and rows `r..r + 4` of `cols` bytes each lie inside `w`
    // and their sums inside `acc` for every `r < done` (`done` is clamped to both).
    unsafe {
        let mut xs = [_mm256_setzero_si256(); C];
        let mut xa = [_mm256_setzero_si256(); C];
        for c in 0..C {
            xs[c] = _mm256_loadu_si256(x.as_ptr().add(32 * c) as *const __m256i);
            xa[c] = _mm256_abs_epi8(xs[c]);
        }
        for r in (0..done).step_by(4) {
            let p = w.as_ptr().add(cols * r);
            let mut s = [_mm256_setzero_si256(); 4];
            for c in 0..C {
                for (i, si) in s.iter_mut().enumerate() {
                    *si = D::dot(*si, _mm256_loadu_si256(p.add(cols * i + 32 * c) as *const __m256i), xs[c], xa[c]);
                }
            }
            _mm_storeu_si128(acc.as_mut_ptr().add(r) as *mut __m128i, sum_four(s));
        }
    }
    done
}

/// The lane sums of four registers, in order.
#[inline(always)]
fn sum_four(s: [__m256i; 4]) -> __m128i {
    // SAFETY: only inlined into functions compiled with `avx2`.
    unsafe {
        let q = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
        _mm_add_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1))
    }
}

/// The u16 LE at `p + OFFSET` (any alignment), loaded straight into a general
/// register by one `movzx`, which also clears the upper bits (so no extra
/// zero-extension follows). From plain loads LLVM gathers four neighbouring
/// indices into a vector register and extracts them one by one, which takes
/// the vector ports the products need, and a volatile two-byte load becomes
/// two byte loads and a shift; the constant offset saves an address addition
/// per block.
///
/// # Safety
/// The two bytes at `p + OFFSET` are readable.
#[inline(always)]
unsafe fn column_group<const OFFSET: usize>(p: *const u8) -> usize {
    let g: usize;
    // SAFETY: the caller's promise; the instruction only reads those two bytes
    // (x86 is little-endian, and allows any alignment).
    unsafe {
        core::arch::asm!("movzx {g:e}, word ptr [{p} + {off}]", g = out(reg) g, p = in(reg) p, off = const OFFSET, options(pure, readonly, nostack, preserves_flags));
    }
    g
}

/// `s` plus block number `J` from `cols`/`blocks` (the column-group and block
/// pointers of the current position) times its 4 inputs, broadcast to the
/// block's 8 rows.
///
/// # Safety
/// AVX2 is enabled; the u16 at `cols + 2J`, the 32 bytes at `blocks + 32J` and
/// the 4 bytes at `xp + 4g` (g: that u16) are readable.
#[inline(always)]
unsafe fn block_dot<D: DotI8, const J: usize>(s: __m256i, cols: *const u8, blocks: *const i8, xp: *const i8) -> __m256i {
    // SAFETY: the caller's promise.
    unsafe {
        let g = match J {
            0 => column_group::<0>(cols),
            1 => column_group::<2>(cols),
            2 => column_group::<4>(cols),
            _ => column_group::<6>(cols),
        };
        let xv = _mm256_set1_epi32(core::ptr::read_unaligned(xp.add(4 * g) as *const i32));
        let wv = _mm256_loadu_si256(blocks.add(32 * J) as *const __m256i);
        D::dot(s, wv, xv, _mm256_abs_epi8(xv))
    }
}

/// Block-sparse int8: one 32-byte block is 8 rows x 4 inputs, one register;
/// the 4 inputs are broadcast to all 8 rows. Needs `x.len() >= 4 * m.groups()`.
#[inline(always)]
fn block8x4_body<D: DotI8>(m: &Block8x4<'_>, x: &[i8], acc: &mut [i32]) {
    if x.len() < m.groups() * 4 {
        return scalar::block8x4_i8(m, x, acc);
    }
    let (offsets, cols, blocks) = m.tables();
    let xp = x.as_ptr();
    // Each row block's end offset is read once: it is the next one's start
    // (the first start is 0, checked at load).
    let mut start = 0;
    for b in 0..m.row_block_count() {
        let end = u32_at(offsets, b + 1) as usize;
        // Four accumulators, so consecutive blocks do not wait on each other
        // (VNNI fuses the add into the product, whose latency is several cycles).
        // SAFETY: only inlined into functions compiled with `avx2`.
        let zero = unsafe { _mm256_setzero_si256() };
        let (mut s0, mut s1, mut s2, mut s3) = (zero, zero, zero, zero);
        // SAFETY: blocks start..end exist (start <= end <= block count, checked
        // at load), so each position read below is in `cols` (2 bytes a block)
        // and `blocks` (32 bytes a block); `Block8x4::new` checked that every
        // column group g < groups, and `x` holds 4 * groups bytes, so `xp + 4g`
        // has 4; AVX2 is enabled in the functions this is inlined into.
        unsafe {
            let mut c = cols.as_ptr().add(2 * start);
            let mut w = blocks.as_ptr().add(32 * start);
            let mut left = end - start;
            while left >= 4 {
                s0 = block_dot::<D, 0>(s0, c, w, xp);
                s1 = block_dot::<D, 1>(s1, c, w, xp);
                s2 = block_dot::<D, 2>(s2, c, w, xp);
                s3 = block_dot::<D, 3>(s3, c, w, xp);
                c = c.add(8);
                w = w.add(128);
                left -= 4;
            }
            // The last 0 to 3 blocks, one per accumulator.
            if left > 0 {
                s0 = block_dot::<D, 0>(s0, c, w, xp);
                if left > 1 {
                    s1 = block_dot::<D, 1>(s1, c, w, xp);
                    if left > 2 {
                        s2 = block_dot::<D, 2>(s2, c, w, xp);
                    }
                }
            }
        }
        start = end;
        // SAFETY: only inlined into functions compiled with `avx2`.
        let sum = unsafe { _mm256_add_epi32(_mm256_add_epi32(s0, s1), _mm256_add_epi32(s2, s3)) };
        match acc.get_mut(b * 8..b * 8 + 8) {
            // SAFETY: the slice has 8 i32s, 32 bytes.
            Some(out) => unsafe { _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, sum) },
            None => {
                let mut lanes = [0i32; 8];
                // SAFETY: `lanes` is 32 bytes.
                unsafe { _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, sum) };
                for (a, v) in acc.iter_mut().skip(b * 8).zip(lanes) {
                    *a = v;
                }
            }
        }
    }
}

#[inline(always)]
fn matvec_f32_rows<const N: usize>(w: &[u8], cols: usize, x: &[f32], r: usize, out: &mut [f32]) {
    let main = cols - cols % 8;
    // SAFETY: only inlined into functions compiled with `avx2,fma`.
    let mut sums = [unsafe { _mm256_setzero_ps() }; N];
    let mut c = 0;
    while c < main {
        // SAFETY: c + 8 <= cols == x.len(); rows r..r+N of w hold cols f32 values each.
        unsafe {
            let xv = _mm256_loadu_ps(x.as_ptr().add(c));
            for (i, s) in sums.iter_mut().enumerate() {
                let wv = _mm256_loadu_ps(w.as_ptr().add(((r + i) * cols + c) * 4) as *const f32);
                *s = _mm256_fmadd_ps(wv, xv, *s);
            }
        }
        c += 8;
    }
    for (i, s) in sums.iter().enumerate() {
        let row = &w[(r + i) * cols * 4..(r + i + 1) * cols * 4];
        let mut tail = 0.0;
        scalar::matvec_f32(&row[main * 4..], cols - main, &x[main..], core::slice::from_mut(&mut tail));
        out[r + i] = hsum_ps(*s) + tail;
    }
}

#[target_feature(enable = "avx2,fma")]
fn matvec_f32_avx2(w: &[u8], cols: usize, x: &[f32], out: &mut [f32]) {
    let rows = out.len();
    let mut r = 0;
    while r + 4 <= rows {
        matvec_f32_rows::<4>(w, cols, x, r, out);
        r += 4;
    }
    while r < rows {
        matvec_f32_rows::<1>(w, cols, x, r, out);
        r += 1;
    }
}

/// f32 LE weights times an f32 vector (AVX2 + FMA).
pub fn matvec_f32(w: &[u8], cols: usize, x: &[f32], out: &mut [f32]) {
    // SAFETY: the dispatcher calls this only when `has_avx2()` is true.
    unsafe { matvec_f32_avx2(w, cols, x, out) }
}

#[target_feature(enable = "avx2")]
fn matvec_i8_avx2_impl(w: &[i8], cols: usize, x: &[i8], acc: &mut [i32]) {
    matvec_i8_body::<Avx2Dot>(w, cols, x, acc)
}

#[target_feature(enable = "avx2,avx512vnni,avx512vl")]
fn matvec_i8_avx512vnni_impl(w: &[i8], cols: usize, x: &[i8], acc: &mut [i32]) {
    matvec_i8_body::<Avx512VnniDot>(w, cols, x, acc)
}

#[target_feature(enable = "avx2,avxvnni")]
fn matvec_i8_avxvnni_impl(w: &[i8], cols: usize, x: &[i8], acc: &mut [i32]) {
    matvec_i8_body::<AvxVnniDot>(w, cols, x, acc)
}

/// Dense int8 product with `vpmaddubsw`.
pub fn matvec_i8_avx2(w: &[i8], cols: usize, x: &[i8], acc: &mut [i32]) {
    // SAFETY: the dispatcher calls this only when `has_avx2()` is true.
    unsafe { matvec_i8_avx2_impl(w, cols, x, acc) }
}

/// Dense int8 product with `vpdpbusd`.
pub fn matvec_i8_vnni(w: &[i8], cols: usize, x: &[i8], acc: &mut [i32]) {
    if has_avx512_vnni() {
        // SAFETY: AVX-512 VNNI and VL were detected.
        unsafe { matvec_i8_avx512vnni_impl(w, cols, x, acc) }
    } else {
        // SAFETY: the dispatcher calls this only when `has_vnni()` is true.
        unsafe { matvec_i8_avxvnni_impl(w, cols, x, acc) }
    }
}

#[target_feature(enable = "avx2")]
fn block8x4_avx2_impl(m: &Block8x4<'_>, x: &[i8], acc: &mut [i32]) {
    block8x4_body::<Avx2Dot>(m, x, acc)
}

#[target_feature(enable = "avx2,avx512vnni,avx512vl")]
fn block8x4_avx512vnni_impl(m: &Block8x4<'_>, x: &[i8], acc: &mut [i32]) {
    block8x4_body::<Avx512VnniDot>(m, x, acc)
}

#[target_feature(enable = "avx2,avxvnni")]
fn block8x4_avxvnni_impl(m: &Block8x4<'_>, x: &[i8], acc: &mut [i32]) {
    block8x4_body::<AvxVnniDot>(m, x, acc)
}

/// Block-sparse int8 product with `vpmaddubsw`.
pub fn block8x4_i8_avx2(m: &Block8x4<'_>, x: &[i8], acc: &mut [i32]) {
    // SAFETY: the dispatcher calls this only when `has_avx2()` is true.
    unsafe { block8x4_avx2_impl(m, x, acc) }
}

/// Block-sparse int8 product with `vpdpbusd`.
pub fn block8x4_i8_vnni(m: &Block8x4<'_>, x: &[i8], acc: &mut [i32]) {
    if has_avx512_vnni() {
        // SAFETY: AVX-512 VNNI and VL were detected.
        unsafe { block8x4_avx512vnni_impl(m, x, acc) }
    } else {
        // SAFETY: the dispatcher calls this only when `has_vnni()` is true.
        unsafe { block8x4_avxvnni_impl(m, x, acc) }
    }
}
