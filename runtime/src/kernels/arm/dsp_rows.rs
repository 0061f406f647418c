//! Requantization by row tables (format version 5) with the DSP extension:
//! each row's multiplier, shift and Q.12 bias are read as they are, so a
//! row costs a multiply-high, a rounding shift and two clamps.

use core::arch::asm;

use super::super::scalar;
use crate::fixed::Mul;
use crate::tensor::RowsRef;

/// Requantization by a product's row table (see
/// [`crate::kernels::requantize_table`]). A run of rows takes the short path
/// in assembly while each row's shift is in `0..=63`, a shift of at most 32
/// leaves the sum shifted up inside an i32, and neither the product nor the
/// sum saturates; the first row that does not is done by the definition,
/// and a new run starts after it.
pub(crate) fn requantize_table(acc: &mut [i32], t: RowsRef<'_>, step: Option<Mul>, limit: i32) {
    scalar::requantize_table_in_runs(acc, t, step, limit, rows_run)
}

/// One run of rows ([`scalar::TableRun`]): the loop for rows whose input
/// scale the file fixes, or the one for rows whose input scale is set per step.
///
/// # Safety
/// As [`scalar::TableRun`].
unsafe fn rows_run(acc: *mut i32, tables: [*const u8; 3], rows: usize, step: Option<Mul>, limit: i32) -> usize {
    // SAFETY: the caller's promise is each loop's.
    unsafe {
        match step {
            None => fixed_run(acc, tables, rows, limit),
            Some(to_act) => per_step_run(acc, tables, rows, to_act, limit),
        }
    }
}

/// The asm lines that apply the multiplier `{x}` with right shift `{y}`
/// (in `0..=63`) to the sum `{a}`, rounding to nearest: `SMMULR` on the sum
/// shifted up by `32 - shift` (a sum that does not fit shifted branches to
/// `9f`), or `SMMLA` adding `2^(shift - 33)` (made by `$half`, from `{z}` =
/// `shift - 32`, into `{y}`) and an arithmetic shift by `shift - 32`. Each
/// path then has its own copy of `$tail` (the bias, the checks, the store
/// and the loop), so that neither branches to the other's.
macro_rules! apply_row_asm {
    ($half:expr, $tail:expr) => {
        concat!(
            "subs {z}, {y}, #32\n",
            "bgt 3f\n",
            "rsbs {z}, {z}, #0\n",
            "lsl {y}, {a}, {z}\n",
            "asr {z}, {y}, {z}\n",
            "cmp {z}, {a}\n",
            "bne 9f\n",
            "smmulr {a}, {y}, {x}\n",
            $tail,
            "b 9f\n",
            "3:\n",
            $half,
            "smmla {a}, {a}, {x}, {y}\n",
            "asrs {a}, {a}, {z}\n",
            $tail,
            "9:"
        )
    };
}

/// The end of a row: `{a}` checked against `[-{l}, {l}]` (outside: `9f`),
/// the row's bias (at `{bp}`, post-incremented) added and checked again,
/// `{a}` stored at `{op}` (post-incremented); the loop goes on to `2b`
/// until `{end}`. The check: `{a} + {l} <= {l2}` (`{l2}` = 2 `{l}`),
/// unsigned, in one compare (a sum that wraps lands outside too).
macro_rules! row_tail_asm {
    () => {
        concat!(
            "add {y}, {a}, {l}\n",
            "cmp {y}, {l2}\n",
            "bhi 9f\n",
            "ldr {x}, [{bp}], #4\n",
            "add {a}, {a}, {x}\n",
            "add {y}, {a}, {l}\n",
            "cmp {y}, {l2}\n",
            "bhi 9f\n",
            "str {a}, [{op}], #4\n",
            "cmp {op}, {end}\n",
            "bne 2b\n",
        )
    };
}

/// Rows whose input scale the file fixes: the table's multiplier and shift
/// as they are. Returns how many rows took the short path.
///
/// # Safety
/// `rows >= 1`; `rows` entries must be readable at each table pointer
/// (multipliers, shifts, biases) and writable at `acc`.
#[inline(always)]
unsafe fn fixed_run(acc: *mut i32, [mp, sp, bp]: [*const u8; 3], rows: usize, limit: i32) -> usize {
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
            apply_row_asm!(concat!("sub {y}, {z}, #1\n", "lsl {y}, {one}, {y}\n"), row_tail_asm!()),
            a = out(reg) _,
            x = out(reg) _,
            y = out(reg) _,
            z = out(reg) _,
            op = inout(reg) acc => done,
            mp = inout(reg) mp => _,
            sp = inout(reg) sp => _,
            bp = inout(reg) bp => _,
            end = in(reg) end,
            l = in(reg) limit,
            l2 = in(reg) 2 * limit as u32,
            one = in(reg) 1u32,
            options(nostack),
        );
    }
    (done as usize - acc as usize) / 4
}

/// Rows whose input scale is set per step: each multiplier is the rounded
/// high word of the table's word (the significand shifted up by 8) times `m`,
/// `(significand * m + 2^23) >> 24` and each shift the step's plus the
/// table's (one outside `0..=63` leaves the short path). The step's shift
/// waits on the stack, so that a register holds twice the limit. Returns
/// how many rows took the short path.
///
/// # Safety
/// As [`fixed_run`].
#[inline(always)]
unsafe fn per_step_run(acc: *mut i32, [mp, sp, bp]: [*const u8; 3], rows: usize, to_act: Mul, limit: i32) -> usize {
    let end = acc.wrapping_add(rows);
    let (m, c) = to_act.parts();
    let done: *mut i32;
    // SAFETY: as in `fixed_run`; the stack holds the step's shift (8 bytes,
    // keeping its alignment) until the loop ends.
    unsafe {
        asm!(
            "sub sp, sp, #8",
            "str {z}, [sp]",
            "2:",
            "ldr {x}, [{mp}], #4",
            "umull {z}, {x}, {x}, {m}",
            "adds {z}, {z}, #0x80000000",
            "adc {x}, {x}, #0",
            "ldrsb {y}, [{sh}], #1",
            "ldr {z}, [sp]",
            "add {y}, {y}, {z}",
            "cmp {y}, #63",
            "bhi 9f",
            "ldr {a}, [{op}]",
            apply_row_asm!(concat!("movs {y}, #1\n", "lsls {y}, {y}, {z}\n", "lsrs {y}, {y}, #1\n"), row_tail_asm!()),
            "\n",
            "add sp, sp, #8",
            a = out(reg) _,
            x = out(reg) _,
            y = out(reg) _,
            z = inout(reg) c => _,
            op = inout(reg) acc => done,
            mp = inout(reg) mp => _,
            sh = inout(reg) sp => _,
            bp = inout(reg) bp => _,
            end = in(reg) end,
            m = in(reg) m,
            l = in(reg) limit,
            l2 = in(reg) 2 * limit as u32,
        );
    }
    (done as usize - acc as usize) / 4
}
