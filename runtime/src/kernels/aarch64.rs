//! aarch64 kernels: Advanced SIMD (NEON, baseline on aarch64), and `sdot`
//! (the dotprod extension) through inline assembly, since its intrinsic is
//! not stable. int8 products are exact: `smull` makes int16 products (at most
//! 128 * 128 = 16384) and `sadalp` adds pairs into int32.

use core::arch::aarch64::*;

use super::{x_group, Block8x4};

/// Whether the CPU has the dotprod extension (`sdot`).
pub fn has_dotprod() -> bool {
    #[cfg(feature = "std")]
    {
        std::arch::is_aarch64_feature_detected!("dotprod")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(target_feature = "dotprod")
    }
}

/// f32 LE weights times an f32 vector.
pub fn matvec_f32(w: &[u8], cols: usize, x: &[f32], out: &mut [f32]) {
    let main = cols - cols % 4;
    for (r, o) in out.iter_mut().enumerate() {
        let row = &w[r * cols * 4..(r + 1) * cols * 4];
        // SAFETY: NEON is baseline on aarch64; loads stay below `main <= cols`.
        let mut sum = unsafe {
            let mut acc = vdupq_n_f32(0.0);
            let mut c = 0;
            while c < main {
                let wv = vreinterpretq_f32_u8(vld1q_u8(row.as_ptr().add(c * 4)));
                acc = vfmaq_f32(acc, wv, vld1q_f32(x.as_ptr().add(c)));
                c += 4;
            }
            vaddvq_f32(acc)
        };
        for c in main..cols {
            let b = &row[c * 4..c * 4 + 4];
            sum += f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * x[c];
        }
        *o = sum;
    }
}

/// Dense int8 product with `smull` + `sadalp`, 16 columns per step.
pub fn matvec_i8(w: &[i8], cols: usize, x: &[i8], acc: &mut [i32]) {
    let main = cols - cols % 16;
    for (row, a) in w.chunks_exact(cols).zip(acc.iter_mut()) {
        // SAFETY: NEON is baseline on aarch64; loads stay below `main <= cols`.
        let sum = unsafe {
            let mut s = vdupq_n_s32(0);
            let mut c = 0;
            while c < main {
                let wv = vld1q_s8(row.as_ptr().add(c));
                let xv = vld1q_s8(x.as_ptr().add(c));
                s = vpadalq_s16(s, vmull_s8(vget_low_s8(wv), vget_low_s8(xv)));
                s = vpadalq_s16(s, vmull_high_s8(wv, xv));
                c += 16;
            }
            vaddvq_s32(s)
        };
        let tail: i32 = row[main..].iter().zip(&x[main..]).map(|(&p, &q)| p as i32 * q as i32).sum();
        *a = sum + tail;
    }
}

/// `acc + sdot(a, b)`: four int32 lanes, each the sum of 4 int8 products.
#[inline(always)]
fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut out = acc;
    // SAFETY: `sdot` reads two vector registers and accumulates into a third;
    // it touches no memory. Only inlined into `dotprod` functions, which run
    // only after `has_dotprod()` returned true.
    unsafe {
        core::arch::asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) out,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    out
}

/// Dense int8 product with `sdot`.
pub fn matvec_i8_dot(w: &[i8], cols: usize, x: &[i8], acc: &mut [i32]) {
    // SAFETY: the dispatcher calls this only when `has_dotprod()` is true.
    unsafe { matvec_i8_dot_impl(w, cols, x, acc) }
}

#[target_feature(enable = "dotprod")]
fn matvec_i8_dot_impl(w: &[i8], cols: usize, x: &[i8], acc: &mut [i32]) {
    let main = cols - cols % 16;
    for (row, a) in w.chunks_exact(cols).zip(acc.iter_mut()) {
        // SAFETY: NEON is baseline on aarch64; loads stay below `main <= cols`.
        let sum = unsafe {
            let mut s = vdupq_n_s32(0);
            let mut c = 0;
            while c < main {
                s = sdot(s, vld1q_s8(row.as_ptr().add(c)), vld1q_s8(x.as_ptr().add(c)));
                c += 16;
            }
            vaddvq_s32(s)
        };
        let tail: i32 = row[main..].iter().zip(&x[main..]).map(|(&p, &q)| p as i32 * q as i32).sum();
        *a = sum + tail;
    }
}

/// The four inputs of a column group repeated four times, as one register.
fn x4_repeated(xs: &[i8]) -> int8x16_t {
    let word = u32::from_le_bytes([xs[0] as u8, xs[1] as u8, xs[2] as u8, xs[3] as u8]);
    // SAFETY: NEON is baseline on aarch64.
    unsafe { vreinterpretq_s8_u32(vdupq_n_u32(word)) }
}

fn store_rows(acc: &mut [i32], b: usize, lo: int32x4_t, hi: int32x4_t) {
    let mut lanes = [0i32; 8];
    // SAFETY: `lanes` holds 8 int32 values; NEON is baseline on aarch64.
    unsafe {
        vst1q_s32(lanes.as_mut_ptr(), lo);
        vst1q_s32(lanes.as_mut_ptr().add(4), hi);
    }
    for (i, v) in lanes.iter().enumerate() {
        if let Some(a) = acc.get_mut(b * 8 + i) {
            *a = *v;
        }
    }
}

/// Block-sparse int8 product with `smull` + pairwise adds.
pub fn block8x4_i8(m: &Block8x4<'_>, x: &[i8], acc: &mut [i32]) {
    for b in 0..m.row_block_count() {
        // SAFETY: NEON is baseline on aarch64; each `block` has 32 bytes.
        let (lo, hi) = unsafe {
            // Per row pair (0-1, 2-3, 4-5, 6-7): int32 sums of column pairs.
            let mut p = [vdupq_n_s32(0); 4];
            for (c, block) in m.row_block(b) {
                let Some(xs) = x_group(x, c) else {
                    continue;
                };
                let xv = vget_low_s8(x4_repeated(xs));
                for (j, pj) in p.iter_mut().enumerate() {
                    let wv = vld1_s8(block.as_ptr().add(j * 8));
                    *pj = vpadalq_s16(*pj, vmull_s8(wv, xv));
                }
            }
            (vpaddq_s32(p[0], p[1]), vpaddq_s32(p[2], p[3]))
        };
        store_rows(acc, b, lo, hi);
    }
}

/// Block-sparse int8 product with `sdot`: one instruction per 4 rows of a block.
pub fn block8x4_i8_dot(m: &Block8x4<'_>, x: &[i8], acc: &mut [i32]) {
    // SAFETY: the dispatcher calls this only when `has_dotprod()` is true.
    unsafe { block8x4_i8_dot_impl(m, x, acc) }
}

#[target_feature(enable = "dotprod")]
fn block8x4_i8_dot_impl(m: &Block8x4<'_>, x: &[i8], acc: &mut [i32]) {
    for b in 0..m.row_block_count() {
        // SAFETY: NEON is baseline on aarch64; each `block` has 32 bytes.
        let (lo, hi) = unsafe {
            let (mut lo, mut hi) = (vdupq_n_s32(0), vdupq_n_s32(0));
            for (c, block) in m.row_block(b) {
                let Some(xs) = x_group(x, c) else {
                    continue;
                };
                let xv = x4_repeated(xs);
                lo = sdot(lo, vld1q_s8(block.as_ptr()), xv);
                hi = sdot(hi, vld1q_s8(block.as_ptr().add(16)), xv);
            }
            (lo, hi)
        };
        store_rows(acc, b, lo, hi);
    }
}
