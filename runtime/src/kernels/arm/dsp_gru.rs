//! The GRU update of the integer-only numerics on the DSP cores (M4, M7,
//! M33): one asm loop over the units, each gate's table lookup and
//! interpolation in straight-line code (a word load gives both neighbouring
//! entries; the index saturates at the table's last step, whose two entries
//! are both 32767, which is the definition's value past the table). And the
//! state's int8 form, four values per group of packed 16- and 8-bit
//! instructions, and a dense layer's outputs as int8; on cores with an FPU,
//! the state's f32 form.

use core::arch::asm;

use super::super::scalar;
use crate::fixed::{Mul, TANH_Q15};

/// `{y}` = `tanh_q15({x}, frac)` with `frac - 5` = `$below` and `$round` =
/// `2^($below - 1)`, `{x}` kept; `{a}`, `{i}`, `{l}` clobbered. As the
/// definition: `|x|` splits into a table index and a remainder; the two
/// entries around it, interpolated and rounded; the sign put back.
macro_rules! tanh_asm {
    ($x:literal, $y:literal, $below:literal, $round:literal) => {
        concat!(
            "eor {a}, ",
            $x,
            ", ",
            $x,
            ", asr #31\n",
            "sub {a}, {a}, ",
            $x,
            ", asr #31\n",
            "lsr {i}, {a}, #",
            $below,
            "\n",
            "usat {i}, #8, {i}\n",
            "ldr {l}, [{tbl}, {i}, lsl #1]\n",
            "sxth ",
            $y,
            ", {l}\n",
            "rsb {l}, ",
            $y,
            ", {l}, asr #16\n",
            "ubfx {i}, {a}, #0, #",
            $below,
            "\n",
            "mul {l}, {l}, {i}\n",
            "add {l}, {l}, #",
            $round,
            "\n",
            "add ",
            $y,
            ", ",
            $y,
            ", {l}, asr #",
            $below,
            "\n",
            "eor ",
            $y,
            ", ",
            $y,
            ", ",
            $x,
            ", asr #31\n",
            "sub ",
            $y,
            ", ",
            $y,
            ", ",
            $x,
            ", asr #31\n",
        )
    };
}

/// The GRU update ([`scalar::gru_update_fixed`], the definition): every unit
/// in one asm loop.
pub(crate) fn gru_update(h: &mut [i16], gx: &[i32], gh: &[i32]) {
    let n = h.len();
    if n == 0 || gx.len() < 3 * n || gh.len() < 3 * n || 4 * n > i32::MAX as usize {
        return scalar::gru_update_fixed(h, gx, gh);
    }
    // SAFETY: the loop runs once per unit of `h` (at least one), reading
    // `gx` and `gh` at the unit, `n` and `2n` further (both hold `3n`
    // values), the table at indices up to 256 (the index saturates at 255,
    // and the word load reads entries 255 and 256 of its 257), and writing
    // the unit's state.
    unsafe {
        asm!(
            "2:",
            // r = (32768 + tanh((xr + hr) / 2) + 1) >> 1, into {y}.
            "ldr {x}, [{gx}, {off}]",
            "ldr {y}, [{gh}, {off}]",
            "add {x}, {x}, {y}",
            tanh_asm!("{x}", "{y}", "8", "128"),
            "add {y}, {y}, {half}",
            "asr {y}, {y}, #1",
            // The candidate tanh(xn + (r * hn + 2^14) >> 15), into {y}.
            "ldr {x}, [{gh}, {off}, lsl #1]",
            "mul {y}, {y}, {x}",
            "add {y}, {y}, #16384",
            "ldr {x}, [{gx}, {off}, lsl #1]",
            "add {x}, {x}, {y}, asr #15",
            tanh_asm!("{x}", "{y}", "7", "64"),
            // z likewise, into {z}; its loads move on to the next unit.
            "ldr {x}, [{gx}], #4",
            "ldr {z}, [{gh}], #4",
            "add {x}, {x}, {z}",
            tanh_asm!("{x}", "{z}", "8", "128"),
            "add {z}, {z}, {half}",
            "asr {z}, {z}, #1",
            // h = cand + (z (h - cand) + 2^14) >> 15, within ±32767.
            "ldrsh {x}, [{h}]",
            "sub {x}, {x}, {y}",
            "mul {x}, {z}, {x}",
            "add {x}, {x}, #16384",
            "add {x}, {y}, {x}, asr #15",
            "ssat {x}, #16, {x}",
            "cmn {x}, #32768",
            "it eq",
            "addeq {x}, {x}, #1",
            "strh {x}, [{h}], #2",
            "cmp {h}, {end}",
            "bne 2b",
            h = inout(reg) h.as_mut_ptr() => _,
            end = in(reg) h.as_mut_ptr().add(n),
            gx = inout(reg) gx.as_ptr() => _,
            gh = inout(reg) gh.as_ptr() => _,
            off = in(reg) 4 * n,
            tbl = in(reg) TANH_Q15.as_ptr(),
            half = in(reg) 32769,
            x = out(reg) _,
            y = out(reg) _,
            z = out(reg) _,
            a = out(reg) _,
            i = out(reg) _,
            l = out(reg) _,
            options(nostack),
        );
    }
}

/// [`scalar::quantize_state`], four values per group: `QADD16` adds the
/// rounding 2^7 to two values at once (saturating, where the definition's
/// clamp would bring them back anyway), the high byte of each is the value
/// shifted down by 8, and `SSUB8`/`SEL` raise a -128 to -127; the last
/// `n % 4` by the definition.
pub(crate) fn quantize_state(h: &[i16], q: &mut [i8]) {
    let n = h.len().min(q.len());
    let groups = n / 4;
    if groups > 0 {
        // SAFETY: reads `4 * groups <= n` values of `h` and writes as many
        // bytes of `q` (word loads and stores at any alignment: these cores
        // allow them for LDR and STR).
        unsafe {
            asm!(
                "2:",
                "ldr {a}, [{h}], #4",
                "ldr {b}, [{h}], #4",
                "qadd16 {a}, {a}, {round}",
                "qadd16 {b}, {b}, {round}",
                "uxtb16 {a}, {a}, ror #8",
                "uxtb16 {b}, {b}, ror #8",
                "orr {a}, {a}, {a}, lsr #8",
                "orr {b}, {b}, {b}, lsr #8",
                "pkhbt {a}, {a}, {b}, lsl #16",
                "ssub8 {b}, {a}, {least}",
                "sel {a}, {a}, {least}",
                "str {a}, [{q}], #4",
                "subs {n}, {n}, #1",
                "bne 2b",
                h = inout(reg) h.as_ptr() => _,
                q = inout(reg) q.as_mut_ptr() => _,
                n = inout(reg) groups => _,
                a = out(reg) _,
                b = out(reg) _,
                round = in(reg) 0x0080_0080u32,
                least = in(reg) 0x8181_8181u32,
                options(nostack),
            );
        }
    }
    let done = 4 * groups;
    scalar::quantize_state(&h[done..n], &mut q[done..n]);
}

/// [`scalar::state_to_f32`] on a core with an FPU, four values per
/// iteration: each pair of values one word, split by `SXTH` and a shift,
/// and converted by the fixed-point form of `VCVT` (15 fraction bits: the
/// division by 2^15, exact for every i16); the last `n % 4` by the
/// definition.
#[cfg(edgegru_fpu)]
pub(crate) fn state_to_f32(h: &[i16], out: &mut [f32]) {
    let n = h.len().min(out.len());
    let done = n / 4 * 4;
    if done > 0 {
        // SAFETY: reads `done` values of `h` (word loads at any even
        // address: these cores allow them for LDR) and writes as many of
        // `out`; the loop runs `done / 4` (at least 1) times; the FPU
        // registers it uses are declared clobbered.
        unsafe {
            asm!(
                "2:",
                "ldr {a}, [{h}], #4",
                "ldr {c}, [{h}], #4",
                "sxth {b}, {a}",
                "asr {a}, {a}, #16",
                "sxth {d}, {c}",
                "asr {c}, {c}, #16",
                "vmov s0, s1, {b}, {a}",
                "vmov s2, s3, {d}, {c}",
                "vcvt.f32.s32 s0, s0, #15",
                "vcvt.f32.s32 s1, s1, #15",
                "vcvt.f32.s32 s2, s2, #15",
                "vcvt.f32.s32 s3, s3, #15",
                "vstmia {o}!, {{s0-s3}}",
                "cmp {o}, {end}",
                "bne 2b",
                h = inout(reg) h.as_ptr() => _,
                o = inout(reg) out.as_mut_ptr() => _,
                end = in(reg) out.as_mut_ptr().add(done),
                a = out(reg) _,
                b = out(reg) _,
                c = out(reg) _,
                d = out(reg) _,
                out("s0") _, out("s1") _, out("s2") _, out("s3") _,
                options(nostack),
            );
        }
    }
    scalar::state_to_f32(&h[done..n], &mut out[done..n]);
}

/// [`scalar::scale_to_int8`] for a multiplier whose shift is in `33..=62`
/// (a dense layer's outputs whose largest magnitude is above about a
/// thousandth in Q.12: every trained model's), one value per `SMMLA` (the
/// rounding added to the high word) and shift; the definition otherwise.
pub(crate) fn scale_to_int8(d: &[i32], mul: Mul, q: &mut [i8]) {
    let (m, shift) = mul.parts();
    let n = d.len().min(q.len());
    if n == 0 || !(33..=62).contains(&shift) {
        return scalar::scale_to_int8(d, mul, q);
    }
    let k = shift - 32;
    // SAFETY: reads `n` (at least 1) values of `d` and writes `n` bytes of `q`.
    unsafe {
        asm!(
            "2:",
            "ldr {v}, [{d}], #4",
            "smmla {v}, {v}, {m}, {round}",
            "asr {v}, {v}, {k}",
            "ssat {v}, #8, {v}",
            "cmn {v}, #128",
            "it eq",
            "addeq {v}, {v}, #1",
            "strb {v}, [{q}], #1",
            "subs {n}, {n}, #1",
            "bne 2b",
            d = inout(reg) d.as_ptr() => _,
            q = inout(reg) q.as_mut_ptr() => _,
            n = inout(reg) n => _,
            v = out(reg) _,
            m = in(reg) m,
            round = in(reg) 1u32 << (k - 1),
            k = in(reg) k,
            options(nostack),
        );
    }
}
