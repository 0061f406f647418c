//! Helium kernels of the float and hybrid numerics, four values per vector:
//! an int8 product's sums back to f32, the f32 inputs of a product to int8
//! and their largest magnitude, and the GRU update with its exponentials.
//! The same IEEE operations in the same order as the definitions (no fused
//! multiply-add); the divisions of the gate formulas, which MVE lacks, are
//! the FPU's, one lane at a time.
//!
//! MVE's float arithmetic flushes subnormals to zero and gives the default
//! NaN, where the FPU (and every other core) keeps them. So each kernel
//! makes sure its operands cannot lead there, and leaves the call to the
//! definition otherwise (NaNs, infinities, values near the ends of the f32
//! range: never in a trained model's step): the sums-to-f32 loop tracks its
//! operands' magnitudes as it goes (the definition redoes a call with one
//! out of range); the GRU update checks its operands in one pass first
//! (about one instruction a value); the inputs-to-int8 loop needs only its
//! multiplier in range (a flushed input or product rounds to the same 0);
//! the largest magnitude is an integer maximum on the bits.

use core::arch::asm;

use super::super::scalar;
use crate::math;

/// Scales, the input scale and biases within `[2^-50, 2^50]` or zero: then
/// every product and sum of [`dequantize_add`] is zero, at least `2^-123`
/// or infinite, never subnormal or NaN.
const OPERAND_RANGE: (u32, u32) = (77 << 23, 177 << 23);

/// [`scalar::dequantize_add`], four rows per group, the last `rows % 4` by
/// the definition. The loop also keeps the largest and the smallest
/// magnitude of the scales and biases it reads; unless every one (and the
/// input scale) is zero or within [`OPERAND_RANGE`], the definition does the
/// whole call again.
pub(crate) fn dequantize_add(acc: &[i32], scales: &[u8], sx: f32, bias: &[u8], out: &mut [f32]) {
    let rows = out.len().min(acc.len()).min(scales.len() / 4).min(bias.len() / 4);
    let groups = rows / 4;
    if groups == 0 || !zero_or_within(sx.to_bits(), OPERAND_RANGE) {
        return dequantize_add_by_definition(acc, scales, sx, bias, out);
    }
    let (mut least, mut most) = (u32::MAX, 0u32);
    // SAFETY: groups * 4 <= rows values of `acc` and `out` and rows * 4
    // bytes of `scales` and `bias` exist (`rows` is clamped to each); the
    // loop runs `groups` (at least 1) times, each reading and writing one
    // group; q4 and q5 are declared clobbered (the compiler saves them).
    unsafe {
        asm!(
            "vmov.i32 q4, #0",
            "vmov.i8 q5, #0xff",
            "dls lr, {n}",
            "2:",
            "vldrw.u32 q0, [{acc}], #16",
            "vcvt.f32.s32 q0, q0",
            "vldrb.u8 q1, [{sp}], #16",
            "vldrb.u8 q2, [{bp}], #16",
            "vmul.f32 q3, q1, {sx}",
            "vmul.f32 q0, q0, q3",
            "vadd.f32 q0, q0, q2",
            "vstrw.32 q0, [{out}], #16",
            // The magnitudes' running maximum (q4) and minimum less one (q5).
            "vbic.i32 q1, #0x80000000",
            "vbic.i32 q2, #0x80000000",
            "vmax.u32 q4, q4, q1",
            "vmax.u32 q4, q4, q2",
            "vsub.i32 q1, q1, {one}",
            "vsub.i32 q2, q2, {one}",
            "vmin.u32 q5, q5, q1",
            "vmin.u32 q5, q5, q2",
            "le lr, 2b",
            "vmaxv.u32 {most}, q4",
            "vminv.u32 {least}, q5",
            acc = inout(reg) acc.as_ptr() => _,
            sp = inout(reg) scales.as_ptr() => _,
            bp = inout(reg) bias.as_ptr() => _,
            out = inout(reg) out.as_mut_ptr() => _,
            n = in(reg) groups,
            sx = in(reg) sx.to_bits(),
            one = in(reg) 1u32,
            most = inout(reg) most,
            least = inout(reg) least,
            out("lr") _,
            out("q0") _,
            out("q1") _,
            out("q2") _,
            out("q3") _,
            out("q4") _,
            out("q5") _,
            options(nostack),
        );
    }
    let done = 4 * groups;
    let tail_plain = |t: &[u8]| t[4 * done..4 * rows].chunks_exact(4).all(|w| zero_or_within(word(w), OPERAND_RANGE));
    if extremes_within(least, most, OPERAND_RANGE) && tail_plain(scales) && tail_plain(bias) {
        dequantize_add_by_definition(&acc[done..rows], &scales[4 * done..], sx, &bias[4 * done..], &mut out[done..rows]);
    } else {
        dequantize_add_by_definition(acc, scales, sx, bias, out);
    }
}

/// [`scalar::dequantize_add`], one copy (the definition is inlined where
/// it is called, for the hosts' vector loops).
#[inline(never)]
fn dequantize_add_by_definition(acc: &[i32], scales: &[u8], sx: f32, bias: &[u8], out: &mut [f32]) {
    scalar::dequantize_add(acc, scales, sx, bias, out)
}

/// [`scalar::max_abs`] on the bits: for values that are not NaN the order
/// of `|v|` is the order of its bits less the sign, so an integer maximum
/// (NaNs, whose bits lie above infinity's, taken as zero) gives the same
/// value, four per vector; the last `len % 4` by the definition.
pub(crate) fn max_abs(x: &[f32]) -> f32 {
    let groups = x.len() / 4;
    let mut most = 0u32;
    if groups > 0 {
        // SAFETY: reads `4 * groups <= x.len()` values of `x`, `groups` >= 1.
        unsafe {
            asm!(
                "vmov.i32 q1, #0",
                "vmov.i32 q2, #0",
                "dls lr, {n}",
                "2:",
                "vldrw.u32 q0, [{p}], #16",
                "vbic.i32 q0, #0x80000000",
                "vcmp.u32 hi, q0, {inf}",
                "vpsel q0, q2, q0",
                "vmax.u32 q1, q1, q0",
                "le lr, 2b",
                "vmaxv.u32 {most}, q1",
                p = inout(reg) x.as_ptr() => _,
                n = in(reg) groups,
                inf = in(reg) f32::INFINITY.to_bits(),
                most = inout(reg) most,
                out("lr") _,
                out("q0") _,
                out("q1") _,
                out("q2") _,
                options(nostack, readonly),
            );
        }
    }
    let rest = scalar::max_abs(&x[4 * groups..]);
    let most = f32::from_bits(most);
    if rest > most {
        rest
    } else {
        most
    }
}

/// [`scalar::quantize_f32`], four values per vector, the last `len % 4` by
/// the definition. NaN products are found by comparing each with itself,
/// whatever NaN MVE made of them; the flushing of subnormal inputs and
/// products changes nothing while `inv` is zero or normal and at most
/// `2^100` (a subnormal input times at most `2^100` rounds to 0 either way),
/// else the definition does it.
pub(crate) fn quantize_f32(x: &[f32], inv: f32, q: &mut [i8]) {
    let n = x.len().min(q.len());
    let groups = n / 4;
    if groups == 0 || !zero_or_within(inv.to_bits(), (1 << 23, 227 << 23)) {
        return quantize_by_definition(x, inv, q);
    }
    // SAFETY: reads `4 * groups <= n` values of `x` and writes as many bytes
    // of `q`, `groups` >= 1.
    unsafe {
        asm!(
            "vmov.i32 q2, #0",
            "vdup.32 q3, {hi}",
            "vneg.f32 q4, q3",
            "dls lr, {n}",
            "2:",
            "vldrw.u32 q0, [{x}], #16",
            "vmul.f32 q0, q0, {inv}",
            "vcmp.f32 eq, q0, q0",
            "vpsel q0, q0, q2",
            "vminnm.f32 q0, q0, q3",
            "vmaxnm.f32 q0, q0, q4",
            "vadd.f32 q0, q0, {magic}",
            "vsub.i32 q0, q0, {magic}",
            "vstrb.32 q0, [{q}], #4",
            "le lr, 2b",
            x = inout(reg) x.as_ptr() => _,
            q = inout(reg) q.as_mut_ptr() => _,
            n = in(reg) groups,
            inv = in(reg) inv.to_bits(),
            hi = in(reg) 127.0f32.to_bits(),
            magic = in(reg) math::ROUND_MAGIC.to_bits(),
            out("lr") _,
            out("q0") _,
            out("q2") _,
            out("q3") _,
            out("q4") _,
            options(nostack),
        );
    }
    quantize_by_definition(&x[4 * groups..n], inv, &mut q[4 * groups..n]);
}

/// [`scalar::quantize_f32`], one copy.
#[inline(never)]
fn quantize_by_definition(x: &[f32], inv: f32, q: &mut [i8]) {
    scalar::quantize_f32(x, inv, q)
}

/// The little-endian word of four bytes (a chunk of exactly four: tighter
/// code in the check loops than an indexed [`crate::le::u32_at`]).
#[inline(always)]
fn word(w: &[u8]) -> u32 {
    u32::from_le_bytes([w[0], w[1], w[2], w[3]])
}

/// [`zero_or_within`] for every value of a set, from the set's smallest
/// `|v| - 1` (`least`) and largest `|v|` (`most`), as the vector loops keep them.
#[inline(always)]
fn extremes_within(least: u32, most: u32, (lo, hi): (u32, u32)) -> bool {
    least >= lo - 1 && most <= hi
}

/// Whether `|v|` (the bits of an f32) is zero or within `[lo, hi]`: `|v| - 1`
/// (unsigned: zero wraps to the top) at least `lo - 1`, and `|v|` at most `hi`.
#[inline(always)]
fn zero_or_within(v: u32, (lo, hi): (u32, u32)) -> bool {
    let m = v & 0x7fff_ffff;
    m.wrapping_sub(1) >= lo - 1 && m <= hi
}

/// [`zero_or_within`] for every f32 (little-endian, any alignment) in `t`:
/// sixteen bytes per vector, the running minimum of `|v| - 1` and maximum of
/// `|v|` kept per lane and reduced at the end.
fn all_zero_or_within(t: &[u8], range: (u32, u32)) -> bool {
    let groups = t.len() / 16;
    let (mut least, mut most) = (u32::MAX, 0u32);
    if groups > 0 {
        // SAFETY: reads `16 * groups <= t.len()` bytes from `t`, `groups` >= 1.
        unsafe {
            asm!(
                "vmov.i32 q1, #0",
                "vmov.i8 q2, #0xff",
                "dls lr, {n}",
                "2:",
                "vldrb.u8 q0, [{p}], #16",
                "vbic.i32 q0, #0x80000000",
                "vmax.u32 q1, q1, q0",
                "vsub.i32 q0, q0, {one}",
                "vmin.u32 q2, q2, q0",
                "le lr, 2b",
                "vmaxv.u32 {most}, q1",
                "vminv.u32 {least}, q2",
                p = inout(reg) t.as_ptr() => _,
                n = in(reg) groups,
                one = in(reg) 1u32,
                most = inout(reg) most,
                least = inout(reg) least,
                out("lr") _,
                out("q0") _,
                out("q1") _,
                out("q2") _,
                options(nostack, readonly),
            );
        }
    }
    let rest = t[16 * groups..].chunks_exact(4).all(|w| zero_or_within(word(w), range));
    rest && extremes_within(least, most, range)
}

/// Pre-activations and states within `[2^-60, 2^60]` or zero: their sums are
/// zero or at least `2^-83`, and the gate formulas' vector operations stay
/// normal (the products that may not, `z * h`, are the FPU's).
const GATE_RANGE: (u32, u32) = (67 << 23, 187 << 23);

/// The constants of the exponential and the gate formulas, in the order
/// the assembly reads them (byte offsets in the comments).
static CONSTANTS: [f32; 13] = [
    -87.0, // 0: the input's clamp
    88.0,  // 4
    math::LOG2E,
    math::ROUND_MAGIC, // 12
    math::LN2_HI,      // 16
    math::LN2_LO,      // 20
    1.0 / 720.0,       // 24: the series' coefficients
    1.0 / 120.0,       // 28
    1.0 / 24.0,        // 32
    1.0 / 6.0,         // 36
    0.5,               // 40
    1.0,               // 44
    // 48, as bits: t's bits less these are n + 127, the biased exponent of 2^n
    f32::from_bits(math::ROUND_MAGIC.to_bits() - 127),
];

/// `q0 = e^q0` by [`crate::math::exp`]'s operations (clamp, Cody-Waite
/// reduction, degree-6 series, scaling by the exponent's bits), with q1-q3
/// as temporaries and `{c}` loaded from the constants at `{k}`.
macro_rules! exp_asm {
    () => {
        concat!(
            // x = clamp(x, -87, 88); NaN stays (an unordered compare is false).
            "ldr {c}, [{k}, #0]\n",
            "vdup.32 q1, {c}\n",
            "vcmp.f32 lt, q0, {c}\n",
            "vpsel q0, q1, q0\n",
            "ldr {c}, [{k}, #4]\n",
            "vdup.32 q1, {c}\n",
            "vcmp.f32 gt, q0, {c}\n",
            "vpsel q0, q1, q0\n",
            // t = x * log2(e) + 1.5 * 2^23 (q1); n = t - 1.5 * 2^23 (q2).
            "ldr {c}, [{k}, #8]\n",
            "vmul.f32 q1, q0, {c}\n",
            "ldr {c}, [{k}, #12]\n",
            "vadd.f32 q1, q1, {c}\n",
            "vsub.f32 q2, q1, {c}\n",
            // r = (x - n * ln2_hi) - n * ln2_lo (q0).
            "ldr {c}, [{k}, #16]\n",
            "vmul.f32 q3, q2, {c}\n",
            "vsub.f32 q0, q0, q3\n",
            "ldr {c}, [{k}, #20]\n",
            "vmul.f32 q3, q2, {c}\n",
            "vsub.f32 q0, q0, q3\n",
            // The series, innermost term first (q2).
            "ldr {c}, [{k}, #24]\n",
            "vmul.f32 q2, q0, {c}\n",
            "ldr {c}, [{k}, #28]\n",
            "vadd.f32 q2, q2, {c}\n",
            "vmul.f32 q2, q2, q0\n",
            "ldr {c}, [{k}, #32]\n",
            "vadd.f32 q2, q2, {c}\n",
            "vmul.f32 q2, q2, q0\n",
            "ldr {c}, [{k}, #36]\n",
            "vadd.f32 q2, q2, {c}\n",
            "vmul.f32 q2, q2, q0\n",
            "ldr {c}, [{k}, #40]\n",
            "vadd.f32 q2, q2, {c}\n",
            "vmul.f32 q2, q2, q0\n",
            "ldr {c}, [{k}, #44]\n",
            "vadd.f32 q2, q2, {c}\n",
            "vmul.f32 q2, q2, q0\n",
            "vadd.f32 q2, q2, {c}\n",
            // e^x = series * 2^n, 2^n built from t's low bits.
            "ldr {c}, [{k}, #48]\n",
            "vsub.i32 q1, q1, {c}\n",
            "vshl.i32 q1, q1, #23\n",
            "vmul.f32 q0, q2, q1\n",
        )
    };
}

/// `q0 = 1 / (1 + q0)`, leaving 1.0 in `{c}`: the sigmoid's last step.
macro_rules! sigmoid_finish_asm {
    () => {
        concat!(
            "ldr {c}, [{k}, #44]\n",
            "vadd.f32 q0, q0, {c}\n",
            "vmov s4, {c}\n",
            "vdiv.f32 s0, s4, s0\n",
            "vdiv.f32 s1, s4, s1\n",
            "vdiv.f32 s2, s4, s2\n",
            "vdiv.f32 s3, s4, s3\n",
        )
    };
}

/// [`scalar::gru_update_float`], four units per group of MVE instructions;
/// the last `n % 4` units by the definition (unit by unit, as the whole
/// call where an operand is outside [`GATE_RANGE`]). Leaves `gx` and `gh` as they
/// were (the definition overwrites them; callers hold them as scratch).
pub(crate) fn gru_update(h: &mut [f32], gx: &mut [f32], gh: &mut [f32]) {
    let n = h.len();
    if gx.len() < 3 * n || gh.len() < 3 * n {
        return;
    }
    let plain = |v: &[f32]| {
        // SAFETY: the bytes of `v`'s values, read (any bit pattern is a u8).
        let b = unsafe { core::slice::from_raw_parts(v.as_ptr().cast::<u8>(), 4 * v.len()) };
        all_zero_or_within(b, GATE_RANGE)
    };
    if !(plain(h) && plain(&gx[..3 * n]) && plain(&gh[..3 * n])) {
        return scalar::gru_update_float_from(h, gx, gh, 0);
    }
    let main = n / 4 * 4;
    for i in (0..main).step_by(4) {
        // SAFETY: units i..i+4 exist in `h` and in each third of `gx` and `gh` (checked above).
        unsafe { units4(h.as_mut_ptr().add(i), gx.as_ptr().add(i), gh.as_ptr().add(i), n) };
    }
    scalar::gru_update_float_from(h, gx, gh, main);
}

/// Four units at `h`, their pre-activations at `gx` and `gh` (z, then r
/// `n` further, then n `2n` further).
///
/// # Safety
/// `h` must be readable and writable for 4 f32; `gx` and `gh` readable for
/// 4 f32 at offsets 0, `n` and `2n`.
#[inline(always)]
unsafe fn units4(h: *mut f32, gx: *const f32, gh: *const f32, n: usize) {
    // SAFETY: the caller guarantees the reads and the write; the constants
    // are 13 f32 at `k`; q0-q7 are declared clobbered (the compiler saves q4-q7).
    unsafe {
        asm!(
            // z = 1 / (1 + e^-(xz + hz)), kept in q7.
            "vldrw.u32 q0, [{gx}]",
            "vldrw.u32 q1, [{gh}]",
            "vadd.f32 q0, q0, q1",
            "vneg.f32 q0, q0",
            exp_asm!(),
            sigmoid_finish_asm!(),
            "vmov q7, q0",
            // r = 1 / (1 + e^-(xr + hr)), kept in q6.
            "add {gx}, {gx}, {off}",
            "add {gh}, {gh}, {off}",
            "vldrw.u32 q0, [{gx}]",
            "vldrw.u32 q1, [{gh}]",
            "vadd.f32 q0, q0, q1",
            "vneg.f32 q0, q0",
            exp_asm!(),
            sigmoid_finish_asm!(),
            "vmov q6, q0",
            // The candidate 1 - 2 / (e^(2 (xn + r * hn)) + 1).
            "add {gx}, {gx}, {off}",
            "add {gh}, {gh}, {off}",
            "vldrw.u32 q0, [{gx}]",
            "vldrw.u32 q1, [{gh}]",
            "vmul.f32 q1, q6, q1",
            "vadd.f32 q0, q0, q1",
            "vadd.f32 q0, q0, q0",
            exp_asm!(),
            "ldr {c}, [{k}, #44]",
            "vadd.f32 q0, q0, {c}",
            "vmov.f32 s4, #2.0",
            "vdiv.f32 s0, s4, s0",
            "vdiv.f32 s1, s4, s1",
            "vdiv.f32 s2, s4, s2",
            "vdiv.f32 s3, s4, s3",
            "vdup.32 q1, {c}",
            "vsub.f32 q0, q1, q0",
            // h = (1 - z) * cand + z * h; z * h may be subnormal and the
            // sum keep it: those two by the FPU.
            "vsub.f32 q1, q1, q7",
            "vmul.f32 q1, q1, q0",
            "vldrw.u32 q2, [{h}]",
            "vmul.f32 s8, s28, s8",
            "vmul.f32 s9, s29, s9",
            "vmul.f32 s10, s30, s10",
            "vmul.f32 s11, s31, s11",
            "vadd.f32 s4, s4, s8",
            "vadd.f32 s5, s5, s9",
            "vadd.f32 s6, s6, s10",
            "vadd.f32 s7, s7, s11",
            "vstrw.32 q1, [{h}]",
            h = in(reg) h,
            gx = inout(reg) gx => _,
            gh = inout(reg) gh => _,
            off = in(reg) 4 * n,
            k = in(reg) CONSTANTS.as_ptr(),
            c = out(reg) _,
            out("q0") _,
            out("q1") _,
            out("q2") _,
            out("q3") _,
            out("q6") _,
            out("q7") _,
            options(nostack),
        );
    }
}
