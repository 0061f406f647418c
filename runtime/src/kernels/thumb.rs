//! Cortex-M cores without the DSP extension (M0, M0+, M3, M23): the dense
//! int8 product as a hand-scheduled Thumb-1 loop. Chosen at compile time
//! (`runtime/build.rs`).
//!
//! These cores have no SIMD, so the work is loads: each input byte is loaded
//! once for three rows (`LDRSB` input, then per row `LDRSB` weight, `MULS`,
//! `ADD`), 4 instructions per multiply-accumulate against the 8 or more the
//! compiler's code takes. The index counts up from `-cols` to 0, so the loop
//! ends on the flags of its increment. Equal to the scalar kernel bit for bit.

use core::arch::asm;

use super::scalar;

/// Dense int8 product. `w.len() == acc.len() * cols`, `x.len() == cols`
/// (the dispatcher has clamped both).
pub(crate) fn matvec_i8(w: &[i8], cols: usize, x: &[i8], acc: &mut [i32]) {
    let rows = acc.len();
    if cols == 0 || w.len() < rows * cols || x.len() < cols || cols > i32::MAX as usize {
        return scalar::matvec_i8(w, cols, x, acc);
    }
    let triples = rows / 3;
    for (t, a) in acc.chunks_exact_mut(3).enumerate() {
        // SAFETY: rows 3t..3t+3 of `cols` bytes lie inside `w` and `x` holds
        // `cols` values (checked above).
        let sums = unsafe { rows3(w.as_ptr().add(3 * t * cols), cols, x.as_ptr()) };
        a.copy_from_slice(&sums);
    }
    let done = 3 * triples;
    scalar::matvec_i8(&w[done * cols..], cols, x, &mut acc[done..]);
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
