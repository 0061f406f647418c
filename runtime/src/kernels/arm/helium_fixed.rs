//! Helium kernels of the integer-only numerics: requantization by row
//! tables, four rows per group of vector instructions, and the GRU update,
//! four units at a time, bit for bit the definitions.
//!
//! Requantization of a row whose shift lies in 1..=62: for an input scale
//! set per step, the row multiplier `(mant * m + 2^23) >> 24` is
//! `VRMULH.U32` of the table's word (`mant << 8`) by `m`. The product with the sum rounded at
//! the shift: above 32, the high word of the sum times the multiplier
//! (`VMULH.S32`), rounded and shifted right by `shift - 32` (`VRSHL.S32` by
//! a negative amount adds `2^(k-1)` before shifting); up to 32, the sum
//! shifted up by `32 - shift` times the multiplier, its rounded high word
//! (`VRMULH.S32`), exact while the shifted sum fits (`VQSHL` flags it when
//! not); the saturations (`VMIN`/`VMAX`), the Q.12 bias added, saturated
//! again. A group with a row outside those ranges goes row by row through
//! the DSP kernel. (Files without row tables requantize by the portable
//! kernel.)

use core::arch::asm;

use crate::fixed::Mul;
use crate::tensor::RowsRef;

/// Requantization by a product's row table (see
/// [`crate::kernels::requantize_table`] and the module's notes): four rows
/// per group.
pub(crate) fn requantize_table(acc: &mut [i32], t: RowsRef<'_>, step: Option<Mul>, limit: i32) {
    let rows = acc.len().min(t.multipliers.len() / 4).min(t.shifts.len()).min(t.biases.len() / 4);
    // (m, c): the step's multiplier and shift; m = 0 marks a fixed input scale.
    let (m, c) = step.map_or((0, 0), |s| s.parts());
    // A step multiplier of zero (an embedding row of scale 0) is not a fixed
    // input scale: the DSP kernel's rows (every product 0, the bias alone).
    if !(1..1 << 30).contains(&limit) || (step.is_some() && m == 0) {
        return super::dsp_rows::requantize_table(acc, t, step, limit);
    }
    let groups = rows / 4;
    for g in 0..groups {
        let r = 4 * g;
        // SAFETY: rows r..r+4 exist in `acc` and the three tables (`rows` is clamped to each).
        let done = unsafe {
            let tables = [t.multipliers.as_ptr().add(4 * r), t.shifts.as_ptr().add(r), t.biases.as_ptr().add(4 * r)];
            table_group(acc.as_mut_ptr().add(r), tables, (m, c), limit)
        };
        if !done {
            super::dsp_rows::requantize_table(&mut acc[r..r + 4], t.rows(r, r + 4), step, limit);
        }
    }
    let main = 4 * groups;
    super::dsp_rows::requantize_table(&mut acc[main..rows], t.rows(main, rows), step, limit);
}

/// Four rows by their table entries; returns `false`, writing nothing, when
/// a row is outside the usual ranges.
///
/// # Safety
/// `acc` must be readable and writable for 4 i32, the multipliers and biases
/// readable for 16 bytes and the shifts for 4; `limit` in `1..2^30`.
#[inline(always)]
unsafe fn table_group(acc: *mut i32, [mp, sp, bp]: [*const u8; 3], (m, c): (u32, i32), limit: i32) -> bool {
    let done: u32;
    // SAFETY: the caller guarantees the reads and the write; q0-q7 are
    // declared clobbered (the compiler saves q4-q7); only FPSCR.QC is
    // changed in FPSCR, and it is sticky state no code reads.
    unsafe {
        asm!(
            "vldrw.u32 q1, [{acc}]",
            "vldrb.u8 q2, [{mp}]",
            "vldrb.s32 q3, [{sp}]",
            "cmp {m}, #0",
            "beq 2f",
            // An input scale set per step: the rounded high word of
            // (mant << 8) * m, which is (mant * m + 2^23) >> 24, and c + shift.
            "vdup.32 q5, {m}",
            "vrmulh.u32 q2, q2, q5",
            "vdup.32 q5, {c}",
            "vadd.i32 q3, q3, q5",
            "2:",
            "movs {t}, #100",
            "vminv.s32 {t}, q3",
            "cmp {t}, #1",
            "blt 8f",
            "mvn {t}, #99",
            "vmaxv.s32 {t}, q3",
            "cmp {t}, #62",
            "bgt 8f",
            "vmov.i32 q6, #32",
            "vsub.i32 q6, q6, q3",
            "vmulh.s32 q7, q1, q2",
            "vrshl.s32 q7, q7, q6",
            "vmrs {t}, fpscr",
            "bic {t}, {t}, #0x08000000",
            "vmsr fpscr, {t}",
            "vqshl.s32 q0, q1, q6",
            "vmrs {t}, fpscr",
            "tst {t}, #0x08000000",
            "bne 8f",
            "vrmulh.s32 q0, q0, q2",
            "movs {t}, #32",
            "vcmp.s32 gt, q3, {t}",
            "vpsel q1, q7, q0",
            "vdup.32 q4, {limit}",
            "vneg.s32 q5, q4",
            "vmin.s32 q1, q1, q4",
            "vmax.s32 q1, q1, q5",
            "vldrb.u8 q3, [{bp}]",
            "vadd.i32 q1, q1, q3",
            "vmin.s32 q1, q1, q4",
            "vmax.s32 q1, q1, q5",
            "vstrw.32 q1, [{acc}]",
            "movs {t}, #1",
            "b 9f",
            "8:",
            "movs {t}, #0",
            "9:",
            acc = in(reg) acc,
            mp = in(reg) mp,
            sp = in(reg) sp,
            bp = in(reg) bp,
            m = in(reg) m,
            c = in(reg) c,
            limit = in(reg) limit,
            t = out(reg) done,
            out("q0") _,
            out("q1") _,
            out("q2") _,
            out("q3") _,
            out("q4") _,
            out("q5") _,
            out("q6") _,
            out("q7") _,
            options(nostack),
        );
    }
    done != 0
}

/// The index of the first logit with the largest order key (see
/// [`crate::sampling::order_key`]: -0 and +0 equal, NaN as -infinity), four
/// logits per vector: each lane keeps its largest key and where it first
/// was (a strictly greater key takes over), then the largest of the lanes'
/// and the smallest index among the lanes that hold it. `None` for no logits.
pub(crate) fn first_max(logits: &[f32]) -> Option<usize> {
    let n = logits.len();
    if n == 0 || n > i32::MAX as usize {
        return None;
    }
    let index: u32;
    // SAFETY: tail predication limits the loads to the `n` logits; q0-q7 and
    // lr are declared clobbered (the compiler saves q4-q7).
    unsafe {
        asm!(
            "vmvn.i32 q2, #0x80000000",
            "vmov.i32 q3, #0x7f000000",
            "vorr.i32 q3, #0x800000",
            "vneg.s32 q4, q3",
            "vmov.i32 q5, #0x80000000",
            "vmov.i32 q6, #0",
            "movs {zero}, #0",
            "dlstp.32 lr, {n}",
            "2:",
            "vldrw.u32 q0, [{p}], #16",
            // The key: the magnitude, negated for a negative sign, -infinity for NaN.
            "vand q1, q0, q2",
            "vneg.s32 q7, q1",
            "vcmp.s32 lt, q0, {zero}",
            "vpsel q7, q7, q1",
            "vcmp.s32 gt, q1, q3",
            "vpsel q1, q4, q7",
            // A strictly greater key takes the lane's lead, with its index.
            "vidup.u32 q7, r0, #1",
            "vcmp.s32 gt, q1, q5",
            "vpsel q5, q1, q5",
            "vpsel q6, q7, q6",
            "letp lr, 2b",
            "mov {best}, #0x80000000",
            "vmaxv.s32 {best}, q5",
            "vcmp.s32 eq, q5, {best}",
            "vmvn.i32 q7, #0",
            "vpsel q7, q6, q7",
            "mvn {index}, #0",
            "vminv.u32 {index}, q7",
            n = in(reg) n,
            p = inout(reg) logits.as_ptr() => _,
            inout("r0") 0u32 => _,
            zero = out(reg) _,
            best = out(reg) _,
            index = out(reg) index,
            out("q0") _,
            out("q1") _,
            out("q2") _,
            out("q3") _,
            out("q4") _,
            out("q5") _,
            out("q6") _,
            out("q7") _,
            out("lr") _,
            options(nostack),
        );
    }
    Some(index as usize).filter(|&i| i < n)
}

/// [`crate::kernels::scalar::quantize_state`] eight values per vector:
/// `VRSHR.S16` by 8 (the rounding shift, computed without overflow),
/// clamped to ±127, each stored as a byte (`VSTRB.16`), tail-predicated.
pub(crate) fn quantize_state(h: &[i16], q: &mut [i8]) {
    let n = h.len().min(q.len());
    if n == 0 {
        return;
    }
    // SAFETY: tail predication limits the loads to the `n` values of `h` and
    // the stores to the `n` bytes of `q`; q0-q2 and lr are declared clobbered.
    unsafe {
        asm!(
            "vmov.i16 q1, #127",
            "vneg.s16 q2, q1",
            "dlstp.16 lr, {n}",
            "2:",
            "vldrh.s16 q0, [{h}], #16",
            "vrshr.s16 q0, q0, #8",
            "vmin.s16 q0, q0, q1",
            "vmax.s16 q0, q0, q2",
            "vstrb.16 q0, [{q}], #8",
            "letp lr, 2b",
            n = in(reg) n,
            h = inout(reg) h.as_ptr() => _,
            q = inout(reg) q.as_mut_ptr() => _,
            out("q0") _,
            out("q1") _,
            out("q2") _,
            out("lr") _,
            options(nostack),
        );
    }
}

/// The asm lines of [`crate::fixed::tanh_q15`] for the four values in q0
/// with `$below + 5` fraction bits, result in q0 (q1-q5 scratch): entries
/// `|x| >> below` and the next gathered from the table (`VLDRH.S32` with
/// offsets), interpolated with a rounding shift, 32767 past the table, then
/// the sign of `x`.
macro_rules! tanh_asm {
    ($below:literal, $mask:literal) => {
        concat!(
            "vabs.s32 q1, q0\n",
            "vshr.u32 q2, q1, #",
            $below,
            "\n",
            "vmov.i32 q3, #255\n",
            "vmin.u32 q3, q2, q3\n",
            "vldrh.s32 q4, [{tbl}, q3, uxtw #1]\n",
            "vldrh.s32 q5, [{next}, q3, uxtw #1]\n",
            "vsub.i32 q5, q5, q4\n",
            "vmov.i32 q3, #",
            $mask,
            "\n",
            "vand q1, q1, q3\n",
            "vmul.i32 q5, q5, q1\n",
            "vrshr.s32 q5, q5, #",
            $below,
            "\n",
            "vadd.i32 q4, q4, q5\n",
            "vmov.i32 q3, #255\n",
            "vcmp.u32 hi, q2, q3\n",
            "vdup.32 q5, {top}\n",
            "vpsel q4, q5, q4\n",
            "vshr.s32 q1, q0, #31\n",
            "veor q4, q4, q1\n",
            "vsub.i32 q0, q4, q1\n"
        )
    };
}

/// [`crate::fixed::sigmoid_q15`] of q0 (Q.12), in q0: `(32768 + tanh(x / 2) + 1) >> 1`.
macro_rules! sigmoid_asm {
    () => {
        concat!(tanh_asm!("8", "0xff"), "vdup.32 q1, {bias}\n", "vadd.i32 q0, q0, q1\n", "vshr.s32 q0, q0, #1\n")
    };
}

/// The GRU update ([`super::super::scalar::gru_update_fixed`]), four units
/// per group of MVE instructions, the table lookups gathered; the last
/// `n % 4` units by the definition.
pub(crate) fn gru_update(h: &mut [i16], gx: &[i32], gh: &[i32]) {
    let n = h.len();
    if gx.len() < 3 * n || gh.len() < 3 * n {
        return super::scalar::gru_update_fixed(h, gx, gh);
    }
    let main = n / 4 * 4;
    for i in (0..main).step_by(4) {
        // SAFETY: units i..i+4 exist in `h` and in each third of `gx` and `gh` (checked above).
        unsafe { units4(h.as_mut_ptr().add(i), gx.as_ptr().add(i), gh.as_ptr().add(i), n) };
    }
    super::scalar::gru_update_fixed_from(h, gx, gh, main);
}

/// Four units at `h`, their pre-activations at `gx` and `gh` (z, then r
/// `n` further, then n `2n` further).
///
/// # Safety
/// `h` must be readable and writable for 4 i16; `gx` and `gh` readable for
/// 4 i32 at offsets 0, `n` and `2n`.
#[inline(always)]
unsafe fn units4(h: *mut i16, gx: *const i32, gh: *const i32, n: usize) {
    let table = crate::fixed::TANH_Q15.as_ptr();
    // SAFETY: the caller guarantees the reads and the write; gathers read
    // table entries `min(i, 255)` and the next, inside its 257 entries; q0-q7
    // are declared clobbered (the compiler saves q4-q7).
    unsafe {
        asm!(
            // z = sigmoid(xz + hz), kept in q7.
            "vldrw.u32 q0, [{gx}]",
            "vldrw.u32 q1, [{gh}]",
            "vadd.i32 q0, q0, q1",
            sigmoid_asm!(),
            "vmov q7, q0",
            // r = sigmoid(xr + hr), kept in q6.
            "add {gx}, {gx}, {off}",
            "add {gh}, {gh}, {off}",
            "vldrw.u32 q0, [{gx}]",
            "vldrw.u32 q1, [{gh}]",
            "vadd.i32 q0, q0, q1",
            sigmoid_asm!(),
            "vmov q6, q0",
            // The candidate tanh(xn + (r * hn + 2^14) >> 15).
            "add {gx}, {gx}, {off}",
            "add {gh}, {gh}, {off}",
            "vldrw.u32 q0, [{gx}]",
            "vldrw.u32 q1, [{gh}]",
            "vmul.i32 q1, q6, q1",
            "vrshr.s32 q1, q1, #15",
            "vadd.i32 q0, q0, q1",
            tanh_asm!("7", "0x7f"),
            // h = cand + (z * (h - cand) + 2^14) >> 15, within ±32767.
            "vldrh.s32 q1, [{h}]",
            "vsub.i32 q1, q1, q0",
            "vmul.i32 q1, q7, q1",
            "vrshr.s32 q1, q1, #15",
            "vadd.i32 q0, q0, q1",
            "vdup.32 q1, {top}",
            "vmin.s32 q0, q0, q1",
            "vneg.s32 q1, q1",
            "vmax.s32 q0, q0, q1",
            "vstrh.32 q0, [{h}]",
            h = in(reg) h,
            gx = inout(reg) gx => _,
            gh = inout(reg) gh => _,
            off = in(reg) 4 * n,
            tbl = in(reg) table,
            next = in(reg) table.add(1),
            top = in(reg) 32767,
            bias = in(reg) 32769,
            out("q0") _,
            out("q1") _,
            out("q2") _,
            out("q3") _,
            out("q4") _,
            out("q5") _,
            out("q6") _,
            out("q7") _,
            options(nostack),
        );
    }
}
