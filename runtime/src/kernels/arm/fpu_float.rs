//! FPU kernels of the float and hybrid numerics on the DSP cores with a
//! single-precision FPU (M4F, M7, M33): an int8 product's sums back to f32,
//! the f32 inputs of a product to int8, and the GRU update with its
//! exponentials, each one asm loop; relu and the largest magnitude on the
//! bits. The same IEEE operations in the same order as the definitions (no
//! fused multiply-add: `VMLA` and `VMLS` round their product before they
//! add it, as the definitions' two operations do; the FPU keeps subnormals
//! and NaNs as the definitions' code does), so the same bits.
//!
//! What the compiler made of the definitions cost about twice as much:
//! these cores have no float minimum or maximum, so each clamp was two
//! compares, each a transfer of the flags and a conditional move; the
//! inputs to int8 rounded by adding a constant and clamped; iterator
//! bookkeeping around every value. Here a rounding conversion (`VCVTR`,
//! which rounds to nearest, ties to even, as the FPU is set from reset,
//! saturates and gives 0 for NaN) and the DSP's byte saturation do the
//! inputs to int8, and the exponential's clamp is skipped by one integer
//! compare when `|x| <= 64`.

use core::arch::asm;

use super::super::scalar;
use crate::math::{EXP_TERMS, LN2_HI, LN2_LO, LOG2E, ROUND_MAGIC};

/// [`scalar::dequantize_add`]: where the scales and biases lie 4-aligned,
/// the first `rows / 8 * 8` rows by [`dequantize_add_words`]; then four
/// rows per iteration (the last `rows % 4` by the definition): per row the
/// sum converted, the scale times the input scale, their product, plus the
/// bias, the scales and biases at any byte address (word loads allow it on
/// these cores).
pub(crate) fn dequantize_add(acc: &[i32], scales: &[u8], sx: f32, bias: &[u8], out: &mut [f32]) {
    let rows = out.len().min(acc.len()).min(scales.len() / 4).min(bias.len() / 4);
    let start = if (scales.as_ptr() as usize | bias.as_ptr() as usize).is_multiple_of(4) {
        dequantize_add_words(&acc[..rows], &scales[..4 * rows], sx, &bias[..4 * rows], &mut out[..rows])
    } else {
        0
    };
    let (acc, scales, bias, out) = (&acc[start..rows], &scales[4 * start..4 * rows], &bias[4 * start..4 * rows], &mut out[start..rows]);
    let rows = rows - start;
    let done = rows / 4 * 4;
    if done > 0 {
        // SAFETY: `done` values of `acc` and `out` and `4 * done` bytes of
        // `scales` and `bias` exist (`rows` is clamped to each); the loop runs
        // `done / 4` (at least 1) times, each reading four values and writing
        // four; the FPU registers it uses are declared clobbered.
        unsafe {
            asm!(
                "vmov s8, {sx}",
                "2:",
                "vldmia {acc}!, {{s0-s3}}",
                "vcvt.f32.s32 s0, s0",
                "vcvt.f32.s32 s1, s1",
                "vcvt.f32.s32 s2, s2",
                "vcvt.f32.s32 s3, s3",
                "ldr {t0}, [{sp}], #4",
                "ldr {t1}, [{sp}], #4",
                "ldr {t2}, [{sp}], #4",
                "ldr {t3}, [{sp}], #4",
                "vmov s4, s5, {t0}, {t1}",
                "vmov s6, s7, {t2}, {t3}",
                "vmul.f32 s4, s4, s8",
                "vmul.f32 s5, s5, s8",
                "vmul.f32 s6, s6, s8",
                "vmul.f32 s7, s7, s8",
                "vmul.f32 s0, s0, s4",
                "vmul.f32 s1, s1, s5",
                "vmul.f32 s2, s2, s6",
                "vmul.f32 s3, s3, s7",
                "ldr {t0}, [{bp}], #4",
                "ldr {t1}, [{bp}], #4",
                "ldr {t2}, [{bp}], #4",
                "ldr {t3}, [{bp}], #4",
                "vmov s4, s5, {t0}, {t1}",
                "vmov s6, s7, {t2}, {t3}",
                "vadd.f32 s0, s0, s4",
                "vadd.f32 s1, s1, s5",
                "vadd.f32 s2, s2, s6",
                "vadd.f32 s3, s3, s7",
                "vstmia {out}!, {{s0-s3}}",
                "cmp {out}, {end}",
                "bne 2b",
                acc = inout(reg) acc.as_ptr() => _,
                sp = inout(reg) scales.as_ptr() => _,
                bp = inout(reg) bias.as_ptr() => _,
                out = inout(reg) out.as_mut_ptr() => _,
                end = in(reg) out.as_mut_ptr().add(done),
                sx = in(reg) sx.to_bits(),
                t0 = out(reg) _,
                t1 = out(reg) _,
                t2 = out(reg) _,
                t3 = out(reg) _,
                out("s0") _, out("s1") _, out("s2") _, out("s3") _,
                out("s4") _, out("s5") _, out("s6") _, out("s7") _, out("s8") _,
                options(nostack),
            );
        }
    }
    let tail = done..rows;
    let (s, b) = (&scales[4 * done..4 * rows], &bias[4 * done..4 * rows]);
    scalar::dequantize_add(&acc[tail.clone()], s, sx, b, &mut out[tail]);
}

/// [`dequantize_add`] for scales and biases at 4-aligned addresses (a
/// file whose sections are aligned, lying 4-aligned in memory): eight rows
/// per iteration, the sums, the scales and the biases each by one `VLDM`,
/// and each row's product added to its bias by `VMLA` (whose product is
/// rounded before the addition: the definition's two roundings, and the
/// same sum in either order). Returns how many rows it did (`rows / 8 *
/// 8`; the caller's loop does the rest).
fn dequantize_add_words(acc: &[i32], scales: &[u8], sx: f32, bias: &[u8], out: &mut [f32]) -> usize {
    let rows = out.len().min(acc.len()).min(scales.len() / 4).min(bias.len() / 4);
    let done = rows / 8 * 8;
    if done > 0 {
        // SAFETY: `done` values of `acc` and `out` and `4 * done` bytes of
        // `scales` and `bias` exist (`rows` is clamped to each), all at
        // 4-aligned addresses as `VLDM` and `VSTM` need (checked by the
        // caller; `acc` and `out` are i32 and f32 slices); the loop runs
        // `done / 8` (at least 1) times, each reading eight values of each
        // and writing eight; the FPU registers it uses are declared
        // clobbered (the compiler saves s16-s24, which calls must keep).
        unsafe {
            asm!(
                "vmov s24, {sx}",
                "2:",
                "vldmia {acc}!, {{s0-s7}}",
                "vcvt.f32.s32 s0, s0",
                "vcvt.f32.s32 s1, s1",
                "vcvt.f32.s32 s2, s2",
                "vcvt.f32.s32 s3, s3",
                "vcvt.f32.s32 s4, s4",
                "vcvt.f32.s32 s5, s5",
                "vcvt.f32.s32 s6, s6",
                "vcvt.f32.s32 s7, s7",
                "vldmia {sp}!, {{s8-s15}}",
                "vmul.f32 s8, s8, s24",
                "vmul.f32 s9, s9, s24",
                "vmul.f32 s10, s10, s24",
                "vmul.f32 s11, s11, s24",
                "vmul.f32 s12, s12, s24",
                "vmul.f32 s13, s13, s24",
                "vmul.f32 s14, s14, s24",
                "vmul.f32 s15, s15, s24",
                "vldmia {bp}!, {{s16-s23}}",
                "vmla.f32 s16, s0, s8",
                "vmla.f32 s17, s1, s9",
                "vmla.f32 s18, s2, s10",
                "vmla.f32 s19, s3, s11",
                "vmla.f32 s20, s4, s12",
                "vmla.f32 s21, s5, s13",
                "vmla.f32 s22, s6, s14",
                "vmla.f32 s23, s7, s15",
                "vstmia {out}!, {{s16-s23}}",
                "cmp {out}, {end}",
                "bne 2b",
                acc = inout(reg) acc.as_ptr() => _,
                sp = inout(reg) scales.as_ptr() => _,
                bp = inout(reg) bias.as_ptr() => _,
                out = inout(reg) out.as_mut_ptr() => _,
                end = in(reg) out.as_mut_ptr().add(done),
                sx = in(reg) sx.to_bits(),
                out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _, out("s5") _, out("s6") _, out("s7") _,
                out("s8") _, out("s9") _, out("s10") _, out("s11") _, out("s12") _, out("s13") _, out("s14") _, out("s15") _,
                out("s16") _, out("s17") _, out("s18") _, out("s19") _, out("s20") _, out("s21") _, out("s22") _, out("s23") _,
                out("s24") _,
                options(nostack),
            );
        }
    }
    done
}

/// [`scalar::max_abs`] on the bits, four values per iteration: for values
/// that are not NaN the order of the magnitudes is the order of their bits
/// with the sign cleared (an unsigned compare and a conditional move keep
/// the largest). A NaN's bits are above every other value's: when the
/// largest is one, the definition does the whole slice again.
pub(crate) fn max_abs(x: &[f32]) -> f32 {
    let done = x.len() / 4 * 4;
    let mut most = 0u32;
    if done > 0 {
        // SAFETY: reads `done` values of `x` (an f32 slice: 4-aligned, as
        // `LDRD` needs); the loop runs `done / 4` (at least 1) times.
        unsafe {
            asm!(
                "2:",
                "ldrd {a}, {b}, [{p}], #8",
                "bic {a}, {a}, #0x80000000",
                "cmp {a}, {m}",
                "it hi",
                "movhi {m}, {a}",
                "bic {b}, {b}, #0x80000000",
                "cmp {b}, {m}",
                "it hi",
                "movhi {m}, {b}",
                "ldrd {a}, {b}, [{p}], #8",
                "bic {a}, {a}, #0x80000000",
                "cmp {a}, {m}",
                "it hi",
                "movhi {m}, {a}",
                "bic {b}, {b}, #0x80000000",
                "cmp {b}, {m}",
                "it hi",
                "movhi {m}, {b}",
                "cmp {p}, {end}",
                "bne 2b",
                p = inout(reg) x.as_ptr() => _,
                end = in(reg) x.as_ptr().add(done),
                m = inout(reg) most,
                a = out(reg) _,
                b = out(reg) _,
                options(nostack, readonly),
            );
        }
    }
    // A NaN seen: the definition over all; else over the rest.
    let (most, from) = if most > f32::INFINITY.to_bits() { (0.0, 0) } else { (f32::from_bits(most), done) };
    let rest = scalar::max_abs(&x[from..]);
    if rest > most {
        rest
    } else {
        most
    }
}

/// [`scalar::relu`] on the bits, four values per iteration: a value with
/// its sign set (negative, -0) becomes +0 by clearing it with its own sign
/// spread over the word (`BIC` with `ASR #31`), and each result's bits
/// plus `2^23 - 1` carry into the top bit only for a positive NaN, which
/// the loop ORs together: if one was there, the definition runs over the
/// whole slice again (it keeps the other values as they are).
pub(crate) fn relu(v: &mut [f32]) {
    let done = v.len() / 4 * 4;
    let mut nan = 0u32;
    if done > 0 {
        // SAFETY: reads and writes `done` values of `v` (an f32 slice:
        // 4-aligned, as `LDRD` and `STRD` need); the loop runs `done / 4`
        // (at least 1) times.
        unsafe {
            asm!(
                "2:",
                "ldrd {a}, {b}, [{p}]",
                "ldrd {c}, {d}, [{p}, #8]",
                "bic {a}, {a}, {a}, asr #31",
                "bic {b}, {b}, {b}, asr #31",
                "bic {c}, {c}, {c}, asr #31",
                "bic {d}, {d}, {d}, asr #31",
                "strd {a}, {b}, [{p}], #8",
                "strd {c}, {d}, [{p}], #8",
                "add {a}, {a}, {k}",
                "add {b}, {b}, {k}",
                "add {c}, {c}, {k}",
                "add {d}, {d}, {k}",
                "orr {a}, {a}, {b}",
                "orr {c}, {c}, {d}",
                "orr {n}, {n}, {a}",
                "orr {n}, {n}, {c}",
                "cmp {p}, {end}",
                "bne 2b",
                p = inout(reg) v.as_mut_ptr() => _,
                end = in(reg) v.as_ptr().add(done),
                k = in(reg) 0x007f_ffffu32,
                n = inout(reg) nan,
                a = out(reg) _,
                b = out(reg) _,
                c = out(reg) _,
                d = out(reg) _,
                options(nostack),
            );
        }
    }
    // A NaN seen: the definition over all (it keeps the values done); else over the rest.
    let from = if nan & 0x8000_0000 != 0 { 0 } else { done };
    scalar::relu(&mut v[from..]);
}

/// [`scalar::quantize_f32`], four values per iteration (`len % 4` by the
/// definition): each `x * inv` rounded to the nearest integer, ties to
/// even, by `VCVTR` (saturating; NaN gives 0), saturated to a byte by
/// `SSAT`, and the four bytes raised to at least -127 at once (`SSUB8`
/// sets a lane's flag where it is at least -127, `SEL` keeps those).
pub(crate) fn quantize_f32(x: &[f32], inv: f32, q: &mut [i8]) {
    let len = x.len().min(q.len());
    let done = len / 4 * 4;
    if done > 0 {
        // SAFETY: `done` values of `x` and bytes of `q` exist; the loop runs
        // `done / 4` (at least 1) times, each reading four values and writing
        // one word (any alignment: word stores allow it on these cores); the
        // FPU registers it uses are declared clobbered.
        unsafe {
            asm!(
                "vmov s4, {inv}",
                "2:",
                "vldmia {x}!, {{s0-s3}}",
                "vmul.f32 s0, s0, s4",
                "vmul.f32 s1, s1, s4",
                "vmul.f32 s2, s2, s4",
                "vmul.f32 s3, s3, s4",
                "vcvtr.s32.f32 s0, s0",
                "vcvtr.s32.f32 s1, s1",
                "vcvtr.s32.f32 s2, s2",
                "vcvtr.s32.f32 s3, s3",
                "vmov {a}, {b}, s0, s1",
                "vmov {c}, {d}, s2, s3",
                "ssat {a}, #8, {a}",
                "ssat {b}, #8, {b}",
                "ssat {c}, #8, {c}",
                "ssat {d}, #8, {d}",
                "and {a}, {a}, #255",
                "bfi {a}, {b}, #8, #8",
                "bfi {a}, {c}, #16, #8",
                "bfi {a}, {d}, #24, #8",
                "ssub8 {b}, {a}, {k}",
                "sel {a}, {a}, {k}",
                "str {a}, [{q}], #4",
                "cmp {x}, {end}",
                "bne 2b",
                x = inout(reg) x.as_ptr() => _,
                q = inout(reg) q.as_mut_ptr() => _,
                end = in(reg) x.as_ptr().add(done),
                inv = in(reg) inv.to_bits(),
                k = in(reg) 0x8181_8181u32,
                a = out(reg) _,
                b = out(reg) _,
                c = out(reg) _,
                d = out(reg) _,
                out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _,
                options(nostack),
            );
        }
    }
    scalar::quantize_f32(&x[done..len], inv, &mut q[done..len]);
}

/// The constants of [`gru_update`], loaded into s16-s31 in this order.
#[repr(C, align(4))]
struct GruConstants([f32; 16]);

static GRU_CONSTANTS: GruConstants = GruConstants([
    LOG2E,
    ROUND_MAGIC,
    LN2_HI,
    LN2_LO,
    EXP_TERMS[3],
    EXP_TERMS[2],
    EXP_TERMS[1],
    EXP_TERMS[0],
    0.5,
    1.0,
    -87.0,
    88.0,
    2.0,
    -LOG2E,
    -88.0,
    87.0,
]);

/// The asm lines of `s0 = exp(s0)` as [`crate::math::exp`] (s1-s3 and `{t}`
/// clobbered; the constants in s16-s31, `{kb}` = `127 - bits(ROUND_MAGIC)`),
/// or with `neg`, `s0 = exp(-s0)` (the definition's argument is the
/// negation of s0): the clamp to [-87, 88] (skipped when `|x| <= 64`, one
/// integer compare; otherwise each bound by a compare that NaN fails; with
/// `neg`, s0 to [-88, 87]), the reduction (`n` from `x log2(e)`, which is
/// `s0 (-log2(e))` with `neg`; then `x - n ln2_hi - n ln2_lo` by `VMLS`,
/// whose product is rounded before the subtraction, the first by `VNMLA`
/// with `neg`: `-s0 - n ln2_hi` is `x - n ln2_hi` exactly), the series by
/// Horner's rule, the scaling by `2^n` built in the exponent bits.
macro_rules! exp_asm {
    () => {
        exp_asm!("s26", "s27", "s16", "vmls.f32")
    };
    (neg) => {
        exp_asm!("s30", "s31", "s29", "vnmla.f32")
    };
    ($lo:literal, $hi:literal, $log2e:literal, $first:literal) => {
        concat!(
            "vmov {t}, s0\n",
            "bic {t}, {t}, #0x80000000\n",
            "cmp {t}, #0x42800000\n",
            "bls 5f\n",
            "vcmp.f32 s0, ",
            $lo,
            "\n",
            "vmrs APSR_nzcv, fpscr\n",
            "it mi\n",
            "vmovmi.f32 s0, ",
            $lo,
            "\n",
            "vcmp.f32 s0, ",
            $hi,
            "\n",
            "vmrs APSR_nzcv, fpscr\n",
            "it gt\n",
            "vmovgt.f32 s0, ",
            $hi,
            "\n",
            "5:\n",
            "vmul.f32 s1, s0, ",
            $log2e,
            "\n",
            "vadd.f32 s1, s1, s17\n",
            "vsub.f32 s2, s1, s17\n",
            $first,
            " s0, s2, s18\n",
            "vmls.f32 s0, s2, s19\n",
            "vmul.f32 s2, s0, s20\n",
            "vadd.f32 s2, s2, s21\n",
            "vmul.f32 s2, s2, s0\n",
            "vadd.f32 s2, s2, s22\n",
            "vmul.f32 s2, s2, s0\n",
            "vadd.f32 s2, s2, s23\n",
            "vmul.f32 s2, s2, s0\n",
            "vadd.f32 s2, s2, s24\n",
            "vmul.f32 s2, s2, s0\n",
            "vadd.f32 s2, s2, s25\n",
            "vmul.f32 s2, s2, s0\n",
            "vadd.f32 s2, s2, s25\n",
            "vmov {t}, s1\n",
            "add {t}, {t}, {kb}\n",
            "lsl {t}, {t}, #23\n",
            "vmov s3, {t}\n",
            "vmul.f32 s0, s2, s3\n",
        )
    };
}

/// The asm lines of a sigmoid gate into `$dst`: `s0 = gx + gh` from the
/// gate's two pointers, then `1 / (1 + exp(-s0))`.
macro_rules! sigmoid_gate_asm {
    ($gx:literal, $gh:literal, $dst:literal) => {
        concat!(
            "vldmia ",
            $gx,
            "!, {{s0}}\n",
            "vldmia ",
            $gh,
            "!, {{s1}}\n",
            "vadd.f32 s0, s0, s1\n",
            exp_asm!(neg),
            "vadd.f32 s0, s0, s25\n",
            "vdiv.f32 ",
            $dst,
            ", s25, s0\n",
        )
    };
}

/// [`scalar::gru_update_float`] (the definition), one unit per iteration of
/// one asm loop: z and r as `1 / (1 + e^-(x + h))`, the candidate as
/// `1 - 2 / (e^(2 (xn + r hn)) + 1)`, the state as `(1 - z) cand + z h`.
/// Leaves `gx` and `gh` as they were (the definition overwrites them; no
/// caller reads them after).
pub(crate) fn gru_update(h: &mut [f32], gx: &[f32], gh: &[f32]) {
    let n = h.len();
    if n == 0 || gx.len() < 3 * n || gh.len() < 3 * n {
        return;
    }
    let (gx, gh) = (gx.as_ptr(), gh.as_ptr());
    // SAFETY: the loop runs once per unit of `h` (at least one), reading
    // `gx` and `gh` at the unit, `n` and `2n` further (both hold `3n`
    // values), and reading and writing the unit's state; the constants are
    // 16 aligned f32. The FPU registers it uses are declared clobbered
    // (the compiler saves s16-s31, which calls must keep).
    unsafe {
        asm!(
            "vldmia {t}, {{s16-s31}}",
            "2:",
            sigmoid_gate_asm!("{gxz}", "{ghz}", "s8"),
            sigmoid_gate_asm!("{gxr}", "{ghr}", "s9"),
            // The candidate: s0 = 2 (xn + r hn), then 1 - 2 / (exp(s0) + 1).
            "vldmia {ghn}!, {{s1}}",
            "vldmia {gxn}!, {{s0}}",
            "vmla.f32 s0, s9, s1",
            "vmul.f32 s0, s0, s28",
            exp_asm!(),
            "vadd.f32 s0, s0, s25",
            "vdiv.f32 s0, s28, s0",
            "vsub.f32 s0, s25, s0",
            // h = (1 - z) cand + z h.
            "vldr s1, [{h}]",
            "vsub.f32 s2, s25, s8",
            "vmul.f32 s2, s2, s0",
            "vmla.f32 s2, s8, s1",
            "vstmia {h}!, {{s2}}",
            "cmp {h}, {end}",
            "bne 2b",
            t = inout(reg) GRU_CONSTANTS.0.as_ptr() => _,
            kb = in(reg) 127u32.wrapping_sub(ROUND_MAGIC.to_bits()),
            h = inout(reg) h.as_mut_ptr() => _,
            end = in(reg) h.as_mut_ptr().add(n),
            gxz = inout(reg) gx => _,
            gxr = inout(reg) gx.add(n) => _,
            gxn = inout(reg) gx.add(2 * n) => _,
            ghz = inout(reg) gh => _,
            ghr = inout(reg) gh.add(n) => _,
            ghn = inout(reg) gh.add(2 * n) => _,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s8") _, out("s9") _,
            out("s16") _, out("s17") _, out("s18") _, out("s19") _, out("s20") _, out("s21") _, out("s22") _,
            out("s23") _, out("s24") _, out("s25") _, out("s26") _, out("s27") _, out("s28") _, out("s29") _, out("s30") _,
            out("s31") _,
            options(nostack),
        );
    }
}
