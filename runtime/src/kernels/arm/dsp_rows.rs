//! Requantization by row tables (format versions 5 and 6) with the DSP extension:
//! each row's multiplier, shift and Q.12 bias are read as they are, so a
//! row costs a multiply-high (with the bias as its high word where the
//! shift is at most 32), a rounding shift and one range check (the
//! loader's shift ranges and the product's bound on its sums spare the
//! check that a sum shifted up still fits; its largest bias, the second
//! clamp).

use core::arch::asm;

use super::super::scalar;
use crate::fixed::Mul;
use crate::tensor::RowsRef;

/// Requantization by a product's row table (see
/// [`crate::kernels::requantize_table`]). When every row's shift (plus
/// the step's) lies in `sum_bits + 1..=63` ([`RowsRef::within_reach`],
/// from the loader's shift ranges and the product's bound on its sums), a
/// run of rows takes the short path in assembly while each scaled sum plus
/// its bias lies within the reach where no clamp changes it
/// ([`RowsRef::unclamped_reach_with_bias`]); the first row that does not is done by
/// the definition, and a new run starts after it. Otherwise every row is
/// the definition's.
pub(crate) fn requantize_table(acc: &mut [i32], t: RowsRef<'_>, step: Option<Mul>, limit: i32) {
    if t.within_reach(step) {
        scalar::requantize_table_in_runs(acc, t, step, limit, t.unclamped_reach_with_bias(limit), rows_run)
    } else {
        scalar::requantize_table(acc, t, step, limit)
    }
}

/// One run of rows ([`scalar::TableRun`]): the loop for rows whose input
/// scale the file fixes, or the one for rows whose input scale is set per
/// step. Every row's shift is within reach (see [`requantize_table`]).
///
/// # Safety
/// As [`scalar::TableRun`].
unsafe fn rows_run(acc: *mut i32, tables: [*const u8; 3], rows: usize, step: Option<Mul>, reach: i32) -> usize {
    // SAFETY: the caller's promise is each loop's.
    unsafe {
        match step {
            None => fixed_run(acc, tables, rows, reach),
            Some(to_act) => per_step_run(acc, tables, rows, to_act, reach),
        }
    }
}

/// The asm lines that apply the multiplier `{x}` with right shift `s` (in
/// `1..=63`, given as `{z}` = `32 - s`, flags set by the instruction that
/// made it) to the sum `{a}`, rounding to nearest, and add the row's bias
/// (at `{bp}`, post-incremented): for `s <= 32`, `SMMLAR` on the sum
/// shifted up by `32 - s` (it fits: the shift is within reach) with the
/// bias as its high word (exact: the bias has no low bits to round);
/// otherwise the high word `h` of the product by `SMMUL`, then
/// `((h >> (s - 33)) + 1) >> 1`, which is `(h + 2^(s - 33)) >> (s - 32)`
/// (`s - 33` is `!{z}`), plus the bias. Each path then has its own copy of
/// `$tail` (the check, the store and the loop), so that neither branches
/// to the other's.
macro_rules! apply_row_asm {
    ($tail:expr) => {
        concat!(
            "bmi 3f\n",
            "lsl {a}, {a}, {z}\n",
            "ldr {y}, [{bp}], #4\n",
            "smmlar {a}, {a}, {x}, {y}\n",
            $tail,
            "b 9f\n",
            "3:\n",
            "mvn {y}, {z}\n",
            "smmul {a}, {a}, {x}\n",
            "asr {a}, {a}, {y}\n",
            "add {a}, {a}, #1\n",
            "asr {a}, {a}, #1\n",
            "ldr {x}, [{bp}], #4\n",
            "add {a}, {a}, {x}\n",
            $tail,
            "9:"
        )
    };
}

/// The end of a row: `{a}` (the scaled sum plus its bias) checked against
/// `[-{l}, {l}]` (`{l}` the run's reach with the bias,
/// [`RowsRef::unclamped_reach_with_bias`]: within it no clamp changes the
/// row; outside: `9f`, the row not stored), stored at `{op}`
/// (post-incremented); the loop goes on to `2b` until `{end}`. The check:
/// `{a} + {l} <= 2 {l}`, unsigned, in one compare (a sum that wraps lands
/// outside too).
macro_rules! row_tail_asm {
    () => {
        concat!("add {y}, {a}, {l}\n", "cmp {y}, {l}, lsl #1\n", "bhi 9f\n", "str {a}, [{op}], #4\n", "cmp {op}, {end}\n", "bne 2b\n",)
    };
}

/// Rows whose input scale the file fixes: the table's multiplier and shift
/// as they are. Returns how many rows took the short path.
///
/// # Safety
/// `rows >= 1`; `rows` entries must be readable at each table pointer
/// (multipliers, shifts, biases) and writable at `acc`.
#[inline(always)]
unsafe fn fixed_run(acc: *mut i32, [mp, sp, bp]: [*const u8; 3], rows: usize, reach: i32) -> usize {
    let end = acc.wrapping_add(rows);
    let done: *mut i32;
    // SAFETY: the loop reads and writes rows `acc..end` only, one per
    // iteration, and stops at `end` (at least one row, per the caller).
    unsafe {
        asm!(
            "2:",
            "ldr {a}, [{op}]",
            "ldr {x}, [{mp}], #4",
            "ldrsb {y}, [{sp}], #1",
            "rsbs {z}, {y}, #32",
            apply_row_asm!(row_tail_asm!()),
            a = out(reg) _,
            x = out(reg) _,
            y = out(reg) _,
            z = out(reg) _,
            op = inout(reg) acc => done,
            mp = inout(reg) mp => _,
            sp = inout(reg) sp => _,
            bp = inout(reg) bp => _,
            end = in(reg) end,
            l = in(reg) reach,
            options(nostack),
        );
    }
    (done as usize - acc as usize) / 4
}

/// Rows whose input scale is set per step: each multiplier is the rounded
/// high word of the table's word (the significand shifted up by 8) times `m`,
/// `(significand * m + 2^23) >> 24` (the high word plus the low word's top
/// bit), and each shift the step's plus the table's (`32 - shift` is
/// `{k}` = `32 -` the step's, less the table's). Returns how many rows took
/// the short path.
///
/// # Safety
/// As [`fixed_run`].
#[inline(always)]
unsafe fn per_step_run(acc: *mut i32, [mp, sp, bp]: [*const u8; 3], rows: usize, to_act: Mul, reach: i32) -> usize {
    let end = acc.wrapping_add(rows);
    let (m, c) = to_act.parts();
    let done: *mut i32;
    // SAFETY: as in `fixed_run`.
    unsafe {
        asm!(
            "2:",
            "ldr {x}, [{mp}], #4",
            "umull {z}, {x}, {x}, {m}",
            "add {x}, {x}, {z}, lsr #31",
            "ldrsb {y}, [{sh}], #1",
            "ldr {a}, [{op}]",
            "subs {z}, {k}, {y}",
            apply_row_asm!(row_tail_asm!()),
            a = out(reg) _,
            x = out(reg) _,
            y = out(reg) _,
            z = out(reg) _,
            op = inout(reg) acc => done,
            mp = inout(reg) mp => _,
            sh = inout(reg) sp => _,
            bp = inout(reg) bp => _,
            end = in(reg) end,
            m = in(reg) m,
            k = in(reg) 32i32.wrapping_sub(c),
            l = in(reg) reach,
            options(nostack),
        );
    }
    (done as usize - acc as usize) / 4
}
