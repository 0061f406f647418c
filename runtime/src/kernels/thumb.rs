//! Cortex-M cores without the DSP extension (M0, M0+, M3, M23): the dense
//! int8 product as a hand-scheduled Thumb-1 loop. Chosen at compile time
//! (`runtime/build.rs`).
//!
//! These cores have no SIMD, so the work is loads: each input byte is loaded
//! once for three rows (`LDRSB` input, then per row `LDRSB` weight, `MULS`,
//! `ADD`), 4 instructions per multiply-accumulate against the 8 or more the
//! compiler's code takes. The index counts up from `-cols` to 0, so the loop
//! ends on the flags of its increment. Equal to the scalar kernel bit for bit.
//!
//! Requantization by row tables: one asm loop over the rows, each row's
//! 64-bit product built from four `MULS` (these cores have no long
//! multiply) and rounded on its high word, where the definition's general
//! code takes about twice the instructions.

use core::arch::asm;

use super::scalar;
use crate::fixed::Mul;
use crate::tensor::RowsRef;

/// Dense int8 product. `w.len() == acc.len() * cols`, `x.len() == cols`
/// (the dispatcher has clamped both).
pub(crate) fn matvec_i8(w: &[i8], cols: usize, x: &[i8], acc: &mut [i32]) {
    let rows = acc.len();
    if cols == 0 || w.len() < rows * cols || x.len() < cols || cols > i32::MAX as usize {
        return scalar::matvec_i8(w, cols, x, acc);
    }
    for (t, a) in acc.chunks_exact_mut(4).enumerate() {
        // SAFETY: rows 4t..4t+4 of `cols` bytes lie inside `w` and `x` holds
        // `cols` values (checked above).
        let sums = unsafe { rows4(w.as_ptr().add(4 * t * cols), cols, x.as_ptr()) };
        a.copy_from_slice(&sums);
    }
    let mut done = rows / 4 * 4;
    if rows - done == 3 {
        // SAFETY: as above, for the last three rows.
        let sums = unsafe { rows3(w.as_ptr().add(done * cols), cols, x.as_ptr()) };
        acc[done..].copy_from_slice(&sums);
        done = rows;
    }
    if done < rows {
        scalar::matvec_i8(&w[done * cols..], cols, x, &mut acc[done..]);
    }
}

/// One column of [`rows4`]: `x[i]` times each row's `w[i]` into r8, r9,
/// r10, r12; the index (r0) moves on.
macro_rules! rows4_column_asm {
    () => {
        concat!(
            "ldrsb r1, [r2, r0]\n",
            "ldrsb r3, [r4, r0]\n",
            "muls r3, r1, r3\n",
            "add r8, r3\n",
            "ldrsb r3, [r5, r0]\n",
            "muls r3, r1, r3\n",
            "add r9, r3\n",
            "ldrsb r3, [r6, r0]\n",
            "muls r3, r1, r3\n",
            "add r10, r3\n",
            "ldrsb r3, [r7, r0]\n",
            "muls r3, r1, r3\n",
            "add r12, r3\n",
            "adds r0, #1\n",
        )
    };
}

/// Dot products of the four rows at `p`, `p + cols`, `p + 2 cols`, `p + 3
/// cols` with `x`: 14 instructions per column for 4 multiply-adds, and the
/// loop's branch once per two columns when `cols` is even.
///
/// # Safety
/// The four rows and `x` must hold `cols` (at least 1) readable bytes each.
#[inline(always)]
unsafe fn rows4(p: *const i8, cols: usize, x: *const i8) -> [i32; 4] {
    let (a0, a1, a2, a3): (i32, i32, i32, i32);
    macro_rules! rows4_loop {
        ($body:expr) => {
            asm!(
                "push {{r6, r7}}",
                "mov r6, r3",
                "subs r7, r3, r5",
                "adds r7, r3, r7",
                "movs r3, #0",
                "mov r8, r3",
                "mov r9, r3",
                "mov r10, r3",
                "mov r12, r3",
                "2:",
                $body,
                "bne 2b",
                "pop {{r6, r7}}",
                "mov r0, r8",
                "mov r1, r9",
                "mov r2, r10",
                "mov r3, r12",
                inout("r0") -(cols as i32) => a0,
                out("r1") a1,
                inout("r2") x.add(cols) => a2,
                inout("r3") p.add(3 * cols) => a3,
                in("r4") p.add(cols),
                in("r5") p.add(2 * cols),
                out("r8") _,
                out("r9") _,
                out("r10") _,
                out("r12") _,
                options(readonly),
            )
        };
    }
    // SAFETY: the loop reads bytes `end - cols .. end` of each row and of `x`
    // (the index runs from -cols to -1, two at a time only when `cols` is
    // even, so it ends at 0 either way), which the caller guarantees. Every
    // low register is an operand or a row pointer: r6 and r7 (which the
    // compiler reserves) are saved, take the ends of the third and fourth
    // rows (r3, and r3 plus the row length r3 - r5), and are restored; the
    // sums live in r8-r10 and r12 (declared clobbered) and come back through
    // low registers.
    unsafe {
        if cols.is_multiple_of(2) {
            rows4_loop!(concat!(rows4_column_asm!(), rows4_column_asm!()));
        } else {
            rows4_loop!(rows4_column_asm!());
        }
    }
    [a0, a1, a2, a3]
}

/// Dot products of the rows at `p`, `p + cols`, `p + 2 cols` with `x`.
///
/// # Safety
/// The three rows and `x` must hold `cols` (at least 1) readable bytes each.
#[inline(always)]
unsafe fn rows3(p: *const i8, cols: usize, x: *const i8) -> [i32; 3] {
    let (a0, a1, a2): (i32, i32, i32);
    // SAFETY: the loop reads bytes `end - cols .. end` of each row and of `x`
    // (the index runs from -cols to -1), which the caller guarantees. The
    // registers are named because Thumb-1 loads need low registers; r6
    // (reserved by the compiler) holds the third row and is saved and
    // restored; the sums live in r8-r10 (declared clobbered) and come back
    // through low registers.
    unsafe {
        asm!(
            "push {{r6}}",
            "mov r6, r3",
            "movs r3, #0",
            "mov r8, r3",
            "mov r9, r3",
            "mov r10, r3",
            "2:",
            "ldrsb r1, [r2, r0]",
            "ldrsb r3, [r4, r0]",
            "muls r3, r1, r3",
            "add r8, r3",
            "ldrsb r3, [r5, r0]",
            "muls r3, r1, r3",
            "add r9, r3",
            "ldrsb r3, [r6, r0]",
            "muls r3, r1, r3",
            "add r10, r3",
            "adds r0, #1",
            "bne 2b",
            "pop {{r6}}",
            "mov r0, r8",
            "mov r1, r9",
            "mov r2, r10",
            inout("r0") -(cols as i32) => a0,
            out("r1") a1,
            inout("r2") x.add(cols) => a2,
            inout("r3") p.add(3 * cols) => _,
            in("r4") p.add(cols),
            in("r5") p.add(2 * cols),
            out("r8") _,
            out("r9") _,
            out("r10") _,
            options(readonly),
        );
    }
    [a0, a1, a2]
}

/// Requantization by a product's row table (see
/// [`crate::kernels::requantize_table`]). When every row's shift is within
/// reach ([`RowsRef::within_reach`]: a sum shifted up by `32 - shift` fits
/// an i32), a run of rows takes the asm loop while each scaled sum lies
/// within the reach where no clamp changes it
/// ([`RowsRef::unclamped_reach`]); the first row that does not is done by
/// the definition, and a new run starts after it. Otherwise every row is
/// the definition's.
pub(crate) fn requantize_table(acc: &mut [i32], t: RowsRef<'_>, step: Option<Mul>, limit: i32) {
    if t.within_reach(step) {
        scalar::requantize_table_in_runs(acc, t, step, limit, t.unclamped_reach(limit), rows_run)
    } else {
        scalar::requantize_table(acc, t, step, limit)
    }
}

/// `r0` = the little-endian word at the byte pointer in the high register
/// `$ptr`, which advances by 4 (the tables need not be word-aligned, and
/// these cores have no unaligned word loads); `r6` and `$tmp` clobbered.
macro_rules! load_word_asm {
    ($ptr:literal, $tmp:literal) => {
        concat!(
            "mov r6, ",
            $ptr,
            "\n",
            "ldrb r0, [r6, #0]\n",
            "ldrb ",
            $tmp,
            ", [r6, #1]\n",
            "lsls ",
            $tmp,
            ", ",
            $tmp,
            ", #8\n",
            "orrs r0, ",
            $tmp,
            "\n",
            "ldrb ",
            $tmp,
            ", [r6, #2]\n",
            "lsls ",
            $tmp,
            ", ",
            $tmp,
            ", #16\n",
            "orrs r0, ",
            $tmp,
            "\n",
            "ldrb ",
            $tmp,
            ", [r6, #3]\n",
            "lsls ",
            $tmp,
            ", ",
            $tmp,
            ", #24\n",
            "orrs r0, ",
            $tmp,
            "\n",
            "adds r6, #4\n",
            "mov ",
            $ptr,
            ", r6\n",
        )
    };
}

/// [`load_word_asm`] for a 4-aligned pointer: one word load (a table of a
/// model that lies 4-aligned in memory, at an aligned offset in it: format
/// version 6 puts the multipliers and biases there).
macro_rules! load_word_aligned_asm {
    ($ptr:literal, $tmp:literal) => {
        concat!("mov r6, ", $ptr, "\n", "ldm r6!, {{r0}}\n", "mov ", $ptr, ", r6\n")
    };
}

/// The 64-bit product of the signed `$x` and the unsigned `$m` (below
/// 2^31): high word in `$x`, low word in `$lo`; `$m`, `$xl`, `$ml`
/// clobbered. With `x = xh 2^16 + xl` and `m = mh 2^16 + ml` (low halves
/// unsigned): `xl ml`, then `xh ml` and `xl mh` shifted up by 16, each
/// carried into `xh mh`.
macro_rules! mul_wide_asm {
    ($x:literal, $m:literal, $xl:literal, $ml:literal, $lo:literal) => {
        concat!(
            "uxth ", $xl, ", ", $x, "\n", "asrs ", $x, ", ", $x, ", #16\n", "uxth ", $ml, ", ", $m, "\n", "lsrs ", $m, ", ", $m, ", #16\n",
            "movs ", $lo, ", ", $xl, "\n", "muls ", $lo, ", ", $ml, ", ", $lo, "\n", "muls ", $xl, ", ", $m, ", ", $xl, "\n", "muls ", $ml,
            ", ", $x, ", ", $ml, "\n", "muls ", $x, ", ", $m, ", ", $x, "\n", "lsls ", $m, ", ", $ml, ", #16\n", "asrs ", $ml, ", ", $ml,
            ", #16\n", "adds ", $lo, ", ", $lo, ", ", $m, "\n", "adcs ", $x, ", ", $ml, "\n", "lsls ", $m, ", ", $xl, ", #16\n", "lsrs ",
            $xl, ", ", $xl, ", #16\n", "adds ", $lo, ", ", $lo, ", ", $m, "\n", "adcs ", $x, ", ", $xl, "\n",
        )
    };
}

/// The per-step row's multiplier and shift from the table's entry (`r0` the
/// significand shifted up by 8, `r2` the shift's offset) and the step's
/// multiplier `M = mh 2^16 + ml` and shift `C` (on the stack at 8, 12 and
/// 16): `(significand * M + 2^23) >> 24` and `offset + C`, as
/// [`Mul::scaled_by_significand`]. With the significand `a 2^16 + b`:
/// `a mh 2^8 + ((a ml + b mh + (b ml >> 16) + 2^7) >> 8)`, every partial sum
/// below 2^32 (`a < 2^8`, `mh < 2^15`): four `MULS`, no carries.
macro_rules! per_step_row_asm {
    () => {
        concat!(
            "lsrs r0, r0, #8\n",
            "uxth r3, r0\n",
            "lsrs r0, r0, #16\n",
            "ldr r1, [sp, #8]\n",
            "ldr r4, [sp, #12]\n",
            "movs r6, r0\n",
            "muls r6, r1, r6\n",
            "muls r0, r4, r0\n",
            "muls r1, r3, r1\n",
            "muls r3, r4, r3\n",
            "lsrs r3, r3, #16\n",
            "adds r0, r0, r1\n",
            "adds r0, r0, r3\n",
            "adds r0, #128\n",
            "lsrs r0, r0, #8\n",
            "lsls r6, r6, #8\n",
            "adds r0, r0, r6\n",
            "ldr r4, [sp, #16]\n",
            "adds r2, r2, r4\n",
        )
    };
}

/// `r1` within `[-reach, reach]` (reach and twice it on the stack at 0 and
/// 4), else a branch to `9f`: `r1 + reach <= 2 reach`, unsigned.
macro_rules! check_reach_thumb_asm {
    () => {
        concat!("ldr r4, [sp, #0]\n", "adds r4, r4, r1\n", "ldr r6, [sp, #4]\n", "cmp r4, r6\n", "bhi 9f\n")
    };
}

/// The row loop: `$multiplier` turns the table's word in `r0` and shift in
/// `r2` into the row's multiplier and shift; then the sum at `r5` is scaled
/// (shift 33 to 63: the high word of the product, rounded by shifts; 1 to
/// 32: the sum shifted up first, the high word rounded by the low word's
/// top bit), checked against the reach, the bias added, and stored. A sum
/// outside the reach branches to `9f` with `r5` at the row.
macro_rules! table_rows_asm {
    ($multiplier:expr, $load_word:ident) => {
        concat!(
            // The constants to the stack, the table pointers and the end to
            // high registers (Thumb-1 operands must be low registers).
            "push {{r6}}\n",
            "sub sp, #20\n",
            "ldm r0!, {{r1, r2, r3, r4}}\n",
            "mov r6, sp\n",
            "stm r6!, {{r1, r2, r3, r4}}\n",
            "ldm r0!, {{r1}}\n",
            "str r1, [r6]\n",
            "ldm r0!, {{r1, r2, r3, r4}}\n",
            "mov r8, r1\n",
            "mov r9, r2\n",
            "mov r10, r3\n",
            "mov r12, r4\n",
            "2:\n",
            $load_word!("r8", "r1"),
            "mov r6, r9\n",
            "ldrb r2, [r6]\n",
            "sxtb r2, r2\n",
            "adds r6, #1\n",
            "mov r9, r6\n",
            $multiplier,
            "ldr r1, [r5]\n",
            "movs r3, #32\n",
            "subs r3, r3, r2\n",
            "bmi 3f\n",
            // Shift 1 to 32: the sum shifted up by 32 - shift (it fits: within reach).
            "lsls r1, r3\n",
            mul_wide_asm!("r1", "r0", "r2", "r4", "r6"),
            "lsrs r6, r6, #31\n",
            "adds r1, r1, r6\n",
            "b 4f\n",
            // Shift 33 to 63 (r3 = 32 - shift): ((hi >> (shift - 33)) + 1) >> 1,
            // which is (hi + 2^(k-1)) >> k for k = shift - 32; shift - 33 = !r3.
            "3:\n",
            mul_wide_asm!("r1", "r0", "r2", "r4", "r6"),
            "mvns r3, r3\n",
            "asrs r1, r3\n",
            "adds r1, #1\n",
            "asrs r1, r1, #1\n",
            "4:\n",
            check_reach_thumb_asm!(),
            $load_word!("r10", "r2"),
            "adds r1, r1, r0\n",
            "str r1, [r5]\n",
            "adds r5, #4\n",
            "cmp r5, r12\n",
            // (The loop is longer than a conditional branch reaches.)
            "beq 9f\n",
            "b 2b\n",
            "9:\n",
            "add sp, #20\n",
            "pop {{r6}}\n",
        )
    };
}

/// One run of rows ([`super::scalar::TableRun`]): rows `acc..acc + rows` by
/// their table entries until one leaves the loop's cases; returns how many
/// it did (`rows` if all).
///
/// # Safety
/// As [`super::scalar::TableRun`].
unsafe fn rows_run(acc: *mut i32, [mp, sp, bp]: [*const u8; 3], rows: usize, step: Option<Mul>, reach: i32) -> usize {
    let end = acc.wrapping_add(rows);
    let (m, c) = step.map_or((0, 0), |s| s.parts());
    // The loop's constants (reach, twice it, the step's multiplier in
    // halves and its shift), then the table pointers and the end of the sums.
    let args = [reach as u32, 2 * reach as u32, m >> 16, m & 0xffff, c as u32, mp as u32, sp as u32, bp as u32, end as u32];
    let done: *mut i32;
    // The loop with its operands, for one way to make a row's multiplier and
    // one way to read the tables' words.
    macro_rules! rows_loop {
        ($multiplier:expr, $load_word:ident) => {
            asm!(
                table_rows_asm!($multiplier, $load_word),
                inout("r0") args.as_ptr() => _,
                out("r1") _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                inout("r5") acc => done,
                out("r8") _,
                out("r9") _,
                out("r10") _,
                out("r12") _,
            )
        };
    }
    // Word loads need both word tables 4-aligned (each entry is 4 bytes, so
    // every row's are then); otherwise each word is read byte by byte.
    let aligned = (mp as usize | bp as usize).is_multiple_of(4);
    // SAFETY: the loop reads the entries of rows `acc..end` and reads and
    // writes those sums, one row per iteration, and stops at `end` (at least
    // one row, per the caller); it reads `args`; r6, which the compiler
    // reserves, is saved and restored; the stack holds 24 bytes meanwhile.
    // Word loads only at 4-aligned addresses (`aligned`).
    unsafe {
        match (step, aligned) {
            (None, true) => rows_loop!(concat!("lsls r0, r0, #1\n", "lsrs r0, r0, #1\n"), load_word_aligned_asm),
            (None, false) => rows_loop!(concat!("lsls r0, r0, #1\n", "lsrs r0, r0, #1\n"), load_word_asm),
            (Some(_), true) => rows_loop!(per_step_row_asm!(), load_word_aligned_asm),
            (Some(_), false) => rows_loop!(per_step_row_asm!(), load_word_asm),
        }
    }
    (done as usize - acc as usize) / 4
}

/// [`scalar::scale_to_int8`] for a multiplier whose shift is in `33..=62`
/// (see the DSP kernel's note): each value's high word of the product from
/// [`mul_wide_asm`]'s four `MULS`, rounded and shifted; the definition
/// otherwise.
pub(crate) fn scale_to_int8(d: &[i32], mul: Mul, q: &mut [i8]) {
    let (m, shift) = mul.parts();
    if !(33..=62).contains(&shift) {
        return scalar::scale_to_int8(d, mul, q);
    }
    let (k, round) = (shift - 32, 1i32 << (shift - 33));
    for (qi, &v) in q.iter_mut().zip(d) {
        let hi: i32;
        // SAFETY: register arithmetic only.
        unsafe {
            asm!(
                mul_wide_asm!("{x}", "{m}", "{xl}", "{ml}", "{lo}"),
                x = inout(reg) v => hi,
                m = inout(reg) m => _,
                xl = out(reg) _,
                ml = out(reg) _,
                lo = out(reg) _,
                options(pure, nomem, nostack),
            );
        }
        // |hi| < 2^30: the sum cannot overflow.
        *qi = ((hi + round) >> k).clamp(-127, 127) as i8;
    }
}
