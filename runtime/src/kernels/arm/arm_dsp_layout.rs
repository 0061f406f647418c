//! The DSP kernels of the arm-dsp layout ([`crate::kernels::arm_dsp_layout`]): int8
//! weights stored as i16 in `SMLAD` order, so a product loads two weights
//! per word and unpacks only the inputs. Dense: one asm loop walks every
//! quad of four rows (per column group, the input pair once, then per row
//! two `LDR`s and two `SMLAD`s: 17 instructions per 16 MACs, and a loop
//! branch per two groups). 8x4 blocks: one asm loop walks every row block
//! (per block, its inputs loaded and unpacked once, then per row two `LDR`s
//! and two `SMLAD`s: 39 instructions per 32 MACs). Where the weights lie
//! 4-aligned (a file written with aligned sections, 4-aligned in memory),
//! each row's two words come by one `LDRD` instead: 13 instructions per 16
//! MACs dense (24 per 32 for a layer of at most 8 inputs, whose input pairs
//! stay in registers), 32 per 32 in blocks.
//!
//! Every kernel gives the portable kernels' sums exactly; the firmware runs
//! check this under QEMU.

use core::arch::asm;
use core::mem::MaybeUninit;

use super::{unpack_groups, word_at, CHUNK_GROUPS};
use crate::kernels::{arm_dsp_layout, Block8x4};

/// Dense product of a matrix in the arm-dsp layout ([`super::arm_dsp_layout`]) with the
/// DSP extension: per column group, the input pair once, then per row two
/// `LDR`s and two `SMLAD`s; one pointer walks a quad of rows, and one asm
/// loop all the quads of a pass.
pub(crate) fn matvec(w: &[u8], cols: usize, x: &[i8], acc: &mut [i32]) {
    let groups = cols.div_ceil(4);
    let fits = arm_dsp_layout::dense_bytes(acc.len(), cols).is_some_and(|n| n <= w.len());
    if !fits || x.len() < 4 * groups || groups == 0 {
        return arm_dsp_layout::matvec(w, cols, x, acc);
    }
    let mut buffer = [MaybeUninit::uninit(); 2 * CHUNK_GROUPS];
    let quads = acc.len() / 4;
    let mut g0 = 0;
    while g0 < groups {
        let n = (groups - g0).min(CHUNK_GROUPS);
        let xs = unpack_groups(&x[4 * g0..4 * (g0 + n)], &mut buffer[..2 * n]);
        let p = w[32 * g0..].as_ptr();
        let (full, rest) = acc.split_at_mut(4 * quads);
        // The first chunk starts the sums (a chunk of one group from zeros),
        // the others add to them.
        let start = match (g0, n) {
            (0, 1) => {
                full.iter_mut().for_each(|a| *a = 0);
                Start::Add
            }
            (0, _) if n.is_multiple_of(4) && n >= 8 => Start::FreshByFour,
            (0, _) => Start::Fresh,
            _ => Start::Add,
        };
        if n == groups {
            // One pass: the quads' groups follow each other.
            // SAFETY: `w` holds `groups` groups of 32 bytes per quad (checked above).
            unsafe { dot_quads(p, xs, full, start) };
        } else {
            for (k, quad) in full.chunks_exact_mut(4).enumerate() {
                // SAFETY: as above; quad `k`'s groups `g0..g0 + n` lie inside it.
                unsafe { dot_quads(p.add(32 * groups * k), xs, quad, start) };
            }
        }
        // The last 1-3 rows: their quad, padded with zero rows.
        if !rest.is_empty() {
            let mut sums = [0i32; 4];
            if g0 > 0 {
                sums[..rest.len()].copy_from_slice(rest);
            }
            // SAFETY: as above, for the padded last quad.
            unsafe { dot_quads(p.add(32 * groups * quads), xs, &mut sums, Start::Add) };
            rest.copy_from_slice(&sums[..rest.len()]);
        }
        g0 += n;
    }
}

/// How [`dot_quads`] starts each quad's sums and walks its groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Adds to the sums there, two groups per loop iteration.
    Add,
    /// Writes the sums: the first group sets them (`SMUAD`), then two
    /// groups per iteration; at least two groups.
    Fresh,
    /// As `Fresh`, four groups per iteration; a multiple of four groups,
    /// at least eight.
    FreshByFour,
}

/// The asm lines of one column group of a quad in the arm-dsp layout: the input pair, then
/// the four rows' two words each (`{p}` advances 32 bytes).
macro_rules! group_asm {
    () => {
        concat!(
            "ldrd {xe}, {xo}, [{xp}], #8\n",
            "ldr {w}, [{p}, #4]\n",
            "smlad {a0}, {w}, {xo}, {a0}\n",
            "ldr {w}, [{p}, #8]\n",
            "smlad {a1}, {w}, {xe}, {a1}\n",
            "ldr {w}, [{p}, #12]\n",
            "smlad {a1}, {w}, {xo}, {a1}\n",
            "ldr {w}, [{p}, #16]\n",
            "smlad {a2}, {w}, {xe}, {a2}\n",
            "ldr {w}, [{p}, #20]\n",
            "smlad {a2}, {w}, {xo}, {a2}\n",
            "ldr {w}, [{p}, #24]\n",
            "smlad {a3}, {w}, {xe}, {a3}\n",
            "ldr {w}, [{p}, #28]\n",
            "smlad {a3}, {w}, {xo}, {a3}\n",
            "ldr {w}, [{p}], #32\n",
            "smlad {a0}, {w}, {xe}, {a0}"
        )
    };
}

/// [`group_asm`] for a quad's first group: `SMUAD` sets each sum.
macro_rules! first_group_asm {
    () => {
        concat!(
            "ldrd {xe}, {xo}, [{xp}], #8\n",
            "ldr {w}, [{p}, #4]\n",
            "smuad {a0}, {w}, {xo}\n",
            "ldr {w}, [{p}, #8]\n",
            "smuad {a1}, {w}, {xe}\n",
            "ldr {w}, [{p}, #12]\n",
            "smlad {a1}, {w}, {xo}, {a1}\n",
            "ldr {w}, [{p}, #16]\n",
            "smuad {a2}, {w}, {xe}\n",
            "ldr {w}, [{p}, #20]\n",
            "smlad {a2}, {w}, {xo}, {a2}\n",
            "ldr {w}, [{p}, #24]\n",
            "smuad {a3}, {w}, {xe}\n",
            "ldr {w}, [{p}, #28]\n",
            "smlad {a3}, {w}, {xo}, {a3}\n",
            "ldr {w}, [{p}], #32\n",
            "smlad {a0}, {w}, {xe}, {a0}"
        )
    };
}

/// The dot products of `sums.len() / 4` consecutive quads of rows
/// (arm-dsp layout) at `p` with the unpacked input pairs `xs` (one group of
/// 32 bytes per pair and quad), added to `sums` or written there as `start`
/// says. An odd count of groups left for the two-group loop enters it at
/// its second group.
///
/// # Safety
/// `sums.len() / 4` quads of `xs.len() / 2` groups of 32 bytes must be
/// readable at `p`; `xs.len()` is even and not zero, and holds as many
/// groups as `start` needs; `sums.len()` is a multiple of 4.
// One copy of the three loops (each call site would otherwise hold all three).
#[inline(never)]
unsafe fn dot_quads(p: *const u8, xs: &[u32], sums: &mut [i32], start: Start) {
    if sums.is_empty() || xs.is_empty() {
        return;
    }
    if (p as usize).is_multiple_of(4) {
        // SAFETY: the caller's promise, and `p` is 4-aligned.
        return unsafe { dot_quads_paired(p, xs, sums, start) };
    }
    // The quad loop: `$head` starts a quad's sums and walks into `$body`,
    // whose iterations end at `cmp`.
    macro_rules! quads {
        ($head:expr, $body:expr) => {
            asm!(
                "2:",
                "sub {xp}, {xend}, {n8}",
                $head,
                "4:",
                $body,
                "cmp {xp}, {xend}",
                "bne 4b",
                "strd {a0}, {a1}, [{d}], #8",
                "strd {a2}, {a3}, [{d}], #8",
                "cmp {d}, {dend}",
                "bne 2b",
                a0 = out(reg) _,
                a1 = out(reg) _,
                a2 = out(reg) _,
                a3 = out(reg) _,
                xe = out(reg) _,
                xo = out(reg) _,
                w = out(reg) _,
                xp = out(reg) _,
                p = inout(reg) p => _,
                xend = in(reg) xs.as_ptr().add(xs.len()),
                n8 = in(reg) 4 * xs.len(),
                d = inout(reg) sums.as_mut_ptr() => _,
                dend = in(reg) sums.as_mut_ptr().add(sums.len()),
                options(nostack),
            )
        };
    }
    // SAFETY: the caller guarantees the weights and the group counts; each
    // quad reads `xs` from its start to its end exactly, and reads (`Add`)
    // and writes its four sums.
    unsafe {
        match start {
            Start::Add => quads!(
                concat!("ldrd {a0}, {a1}, [{d}]\n", "ldrd {a2}, {a3}, [{d}, #8]\n", "tst {n8}, #8\n", "bne 3f"),
                concat!(group_asm!(), "\n3:\n", group_asm!())
            ),
            // Odd groups (bit 3 of `{n8}`, 8 bytes a group) leave an even count after the first.
            Start::Fresh => {
                quads!(concat!(first_group_asm!(), "\ntst {n8}, #8\n", "beq 3f"), concat!(group_asm!(), "\n3:\n", group_asm!()))
            }
            Start::FreshByFour => quads!(
                concat!(first_group_asm!(), "\n", group_asm!(), "\n", group_asm!(), "\n", group_asm!()),
                concat!(group_asm!(), "\n", group_asm!(), "\n", group_asm!(), "\n", group_asm!())
            ),
        }
    }
}

/// The asm lines of one row's two words (4-aligned at `$addr`) times the
/// input pair in `$xe` and `$xo`, by one `LDRD` into `{w}` and `{t}`:
/// added to `$acc`, or (`first`) setting it (`SMUAD`).
macro_rules! pair_row_asm {
    ($acc:literal, $addr:literal, $xe:literal, $xo:literal) => {
        concat!(
            "ldrd {w}, {t}, ",
            $addr,
            "\n",
            "smlad ",
            $acc,
            ", {w}, ",
            $xe,
            ", ",
            $acc,
            "\n",
            "smlad ",
            $acc,
            ", {t}, ",
            $xo,
            ", ",
            $acc,
            "\n"
        )
    };
    (first $acc:literal, $addr:literal, $xe:literal, $xo:literal) => {
        concat!("ldrd {w}, {t}, ", $addr, "\n", "smuad ", $acc, ", {w}, ", $xe, "\n", "smlad ", $acc, ", {t}, ", $xo, ", ", $acc, "\n")
    };
}

/// [`group_asm`] (`first`: [`first_group_asm`]) for 4-aligned weights: each
/// row's two words by one `LDRD` (13 instructions per 16 MACs).
macro_rules! pair_group_asm {
    ($($first:ident)?) => {
        concat!(
            "ldrd {xe}, {xo}, [{xp}], #8\n",
            pair_row_asm!($($first)? "{a1}", "[{p}, #8]", "{xe}", "{xo}"),
            pair_row_asm!($($first)? "{a2}", "[{p}, #16]", "{xe}", "{xo}"),
            pair_row_asm!($($first)? "{a3}", "[{p}, #24]", "{xe}", "{xo}"),
            pair_row_asm!($($first)? "{a0}", "[{p}], #32", "{xe}", "{xo}"),
        )
    };
}

/// [`dot_quads`] for weights at a 4-aligned address (`LDRD` needs it on
/// these cores): the same loops with each row's two words loaded at once.
/// The second load register costs the loop its registers for the group
/// count and the sums' end, which live on the stack (two loads a quad).
///
/// # Safety
/// As [`dot_quads`], and `p` is 4-aligned.
#[inline(never)]
unsafe fn dot_quads_paired(p: *const u8, xs: &[u32], sums: &mut [i32], start: Start) {
    if start == Start::Fresh && xs.len() == 4 {
        // SAFETY: the caller's promise, for two groups.
        return unsafe { two_group_quads(p, xs, sums) };
    }
    // The quad loop, as in `dot_quads`: [sp] holds 8 bytes per group,
    // [sp, #4] the sums' end; the flags of `tst` (an odd count of groups)
    // survive the head's loads and multiplies.
    macro_rules! quads {
        ($head:expr, $body:expr) => {
            asm!(
                "strd {a0}, {a1}, [sp, #-8]!",
                "2:",
                "ldr {w}, [sp]",
                "sub {xp}, {xend}, {w}",
                "tst {w}, #8",
                $head,
                "4:",
                $body,
                "cmp {xp}, {xend}",
                "bne 4b",
                "strd {a0}, {a1}, [{d}], #8",
                "strd {a2}, {a3}, [{d}], #8",
                "ldr {w}, [sp, #4]",
                "cmp {d}, {w}",
                "bne 2b",
                "add sp, sp, #8",
                a0 = inout(reg) 4 * xs.len() => _,
                a1 = inout(reg) sums.as_mut_ptr().add(sums.len()) => _,
                a2 = out(reg) _,
                a3 = out(reg) _,
                xe = out(reg) _,
                xo = out(reg) _,
                w = out(reg) _,
                t = out(reg) _,
                xp = out(reg) _,
                p = inout(reg) p => _,
                xend = in(reg) xs.as_ptr().add(xs.len()),
                d = inout(reg) sums.as_mut_ptr() => _,
            )
        };
    }
    // SAFETY: as in `dot_quads`; `LDRD` reads weights at 4-aligned
    // addresses only (`p` is, and every offset is a multiple of 8); the two
    // words pushed are popped before the end.
    unsafe {
        match start {
            Start::Add => quads!(
                concat!("ldrd {a0}, {a1}, [{d}]\n", "ldrd {a2}, {a3}, [{d}, #8]\n", "bne 3f"),
                concat!(pair_group_asm!(), "\n3:\n", pair_group_asm!())
            ),
            Start::Fresh => quads!(concat!(pair_group_asm!(first), "beq 3f"), concat!(pair_group_asm!(), "\n3:\n", pair_group_asm!())),
            Start::FreshByFour => quads!(
                concat!(pair_group_asm!(first), pair_group_asm!(), pair_group_asm!(), pair_group_asm!()),
                concat!(pair_group_asm!(), pair_group_asm!(), pair_group_asm!(), pair_group_asm!())
            ),
        }
    }
}

/// [`dot_quads_paired`] of two groups from zeros (a layer of at most 8
/// inputs, such as a sensor's features): both input pairs stay in
/// registers for every quad, which is then 24 instructions for 32 MACs
/// and its stores, with no inner loop.
///
/// # Safety
/// As [`dot_quads_paired`], with `xs.len() == 4`.
#[inline(never)]
unsafe fn two_group_quads(p: *const u8, xs: &[u32], sums: &mut [i32]) {
    // SAFETY: `sums.len() / 4` quads of two 32-byte groups are readable at
    // the 4-aligned `p` (the caller's promise); `xs` holds two pairs; each
    // iteration writes one quad's four sums.
    unsafe {
        asm!(
            "ldrd {xe0}, {xo0}, [{w}]",
            "ldrd {xe1}, {xo1}, [{w}, #8]",
            "2:",
            pair_row_asm!(first "{a1}", "[{p}, #8]", "{xe0}", "{xo0}"),
            pair_row_asm!(first "{a2}", "[{p}, #16]", "{xe0}", "{xo0}"),
            pair_row_asm!(first "{a3}", "[{p}, #24]", "{xe0}", "{xo0}"),
            pair_row_asm!(first "{a0}", "[{p}], #32", "{xe0}", "{xo0}"),
            pair_row_asm!("{a1}", "[{p}, #8]", "{xe1}", "{xo1}"),
            pair_row_asm!("{a2}", "[{p}, #16]", "{xe1}", "{xo1}"),
            pair_row_asm!("{a3}", "[{p}, #24]", "{xe1}", "{xo1}"),
            pair_row_asm!("{a0}", "[{p}], #32", "{xe1}", "{xo1}"),
            "strd {a0}, {a1}, [{d}], #8",
            "strd {a2}, {a3}, [{d}], #8",
            "cmp {d}, {dend}",
            "bne 2b",
            a0 = out(reg) _,
            a1 = out(reg) _,
            a2 = out(reg) _,
            a3 = out(reg) _,
            xe0 = out(reg) _,
            xo0 = out(reg) _,
            xe1 = out(reg) _,
            xo1 = out(reg) _,
            w = inout(reg) xs.as_ptr() => _,
            t = out(reg) _,
            p = inout(reg) p => _,
            d = inout(reg) sums.as_mut_ptr() => _,
            dend = in(reg) sums.as_mut_ptr().add(sums.len()),
            options(nostack),
        );
    }
}

/// Block-sparse product of a matrix in the arm-dsp layout with the DSP
/// extension: each block's four inputs unpacked once, then per row two
/// `LDR`s and two `SMLAD`s; one asm loop walks the row blocks.
pub(crate) fn block8x4(m: &Block8x4<'_>, x: &[i8], acc: &mut [i32]) {
    if x.len() < 4 * m.groups() {
        return arm_dsp_layout::block8x4(m, x, acc);
    }
    let (row_blocks, block_cols, blocks) = m.tables();
    let count = m.row_block_count();
    let full = (acc.len() / 8).min(count);
    let (bp, cp, rb) = (blocks.as_ptr() as *const u8, block_cols.as_ptr(), row_blocks.as_ptr());
    // 64-byte blocks: all 4-aligned when the first is.
    let rows = if (bp as usize).is_multiple_of(4) { row_blocks_arm_dsp_paired } else { row_blocks_arm_dsp };
    // SAFETY: `Block8x4::new_arm_dsp` checked that `row_blocks` holds `count + 1`
    // non-decreasing u32 offsets from 0 up to the block count, that the
    // blocks exist (64 bytes and 2 bytes of column group each) and that
    // every column group is below `groups`, so `x[4g..4g+4]` lies inside `x`
    // (length checked above). Row blocks `0..full` have their eight sums
    // inside `acc`; the last, partial one goes through `sums`.
    unsafe {
        let acc_ptr = acc.as_mut_ptr();
        if full > 0 {
            rows(bp, cp, cp, rb.add(4), x.as_ptr(), acc_ptr, acc_ptr.add(8 * full));
        }
        if full < count && acc.len() > 8 * full {
            let start = word_at(rb.add(4 * full) as *const i8) as usize;
            let mut sums = [0i32; 8];
            let (bp, cp_start) = (bp.add(arm_dsp_layout::BLOCK_BYTES * start), cp.add(2 * start));
            rows(bp, cp_start, cp, rb.add(4 * (full + 1)), x.as_ptr(), sums.as_mut_ptr(), sums.as_mut_ptr().add(8));
            acc.iter_mut().skip(8 * full).zip(sums).for_each(|(a, s)| *a = s);
        }
    }
}

/// The asm lines of row `$i` of a block in the arm-dsp layout at `{bp}` (two words at byte
/// `8 * $i`) into accumulator `$acc`, inputs in r7 (`[x0, x2]`) and `{xo}`:
/// added to it, or (`first`) setting it (`SMUAD`).
macro_rules! row_asm {
    ($acc:literal, $even:literal, $odd:literal) => {
        concat!("ldr {w}, [{bp}, #", $even, "]\n", "smlad ", $acc, ", {w}, r7, ", $acc, "\n", row_odd_asm!($acc, $odd))
    };
    (first $acc:literal, $even:literal, $odd:literal) => {
        concat!("ldr {w}, [{bp}, #", $even, "]\n", "smuad ", $acc, ", {w}, r7\n", row_odd_asm!($acc, $odd))
    };
}

/// The second word of a row of a block (see [`row_asm`]), added to `$acc`.
macro_rules! row_odd_asm {
    ($acc:literal, $odd:literal) => {
        concat!("ldr {w}, [{bp}, #", $odd, "]\n", "smlad ", $acc, ", {w}, {xo}, ", $acc)
    };
}

/// The asm lines of one block: its column group's four inputs loaded and
/// unpacked into r7 and `{xo}`, then its eight rows into `{a0}`..`{a7}`
/// (`$first`: `first`, the row block's first block, setting them, or
/// nothing); `{bp}` advances 64 bytes, `{cp}` 2.
macro_rules! block_asm {
    ($($first:ident)?) => {
        concat!(
            "ldrh {w}, [{cp}], #2\n",
            "ldr {xo}, [sp]\n",
            "ldr {xo}, [{xo}, {w}, lsl #2]\n",
            "sxtb16 r7, {xo}\n",
            "sxtb16 {xo}, {xo}, ror #8\n",
            row_asm!($($first)? "{a1}", "8", "12"), "\n",
            row_asm!($($first)? "{a2}", "16", "20"), "\n",
            row_asm!($($first)? "{a3}", "24", "28"), "\n",
            row_asm!($($first)? "{a4}", "32", "36"), "\n",
            row_asm!($($first)? "{a5}", "40", "44"), "\n",
            row_asm!($($first)? "{a6}", "48", "52"), "\n",
            row_asm!($($first)? "{a7}", "56", "60"), "\n",
            "ldr {w}, [{bp}, #4]\n",
            row_a0_asm!($($first)?),
            "ldr {w}, [{bp}], #64\n",
            "smlad {a0}, {w}, r7, {a0}\n",
        )
    };
}

/// Row 0's first word of a block (its second advances `{bp}`), into `{a0}`.
macro_rules! row_a0_asm {
    () => {
        "smlad {a0}, {w}, {xo}, {a0}\n"
    };
    (first) => {
        "smuad {a0}, {w}, {xo}\n"
    };
}

/// The asm loop over row blocks of [`row_blocks_arm_dsp`] and
/// [`row_blocks_arm_dsp_paired`]: `$first` and `$block` are a row block's
/// first block and the others; `$keep_end` keeps the end of the row
/// block's column groups (`{t}`) where `$at_end` compares `{cp}` with it.
/// r7 (the frame pointer, not available to operands) is saved on the
/// stack and restored; the loop's other state lives on the stack: [sp]
/// inputs, [sp, #4] the row-block ends, [sp, #8] the column-group table,
/// [sp, #12] and [sp, #16] the destination and its end, [sp, #20] a slot
/// for `$keep_end`.
macro_rules! row_blocks_loop {
    ($bp:expr, $cp:expr, $cpb:expr, $rb:expr, $x:expr, $d:expr, $dend:expr; $first:expr, $block:expr, $keep_end:expr, $at_end:expr) => {
        asm!(
            "push {{r7}}",
            "sub sp, sp, #4",
            "str {a0}, [sp, #-4]!",
            "str {xo}, [sp, #-4]!",
            "str {a1}, [sp, #-4]!",
            "str {a2}, [sp, #-4]!",
            "str {w}, [sp, #-4]!",
            "5:",
            "ldr {w}, [sp, #4]",
            "ldr {t}, [{w}], #4",
            "str {w}, [sp, #4]",
            "ldr {w}, [sp, #8]",
            "add {t}, {w}, {t}, lsl #1",
            $keep_end,
            // A row block's first block sets its sums; one without blocks
            // is zero (6:).
            "cmp {cp}, {t}",
            "beq 6f",
            $first,
            $at_end,
            "beq 3f",
            "2:",
            $block,
            $at_end,
            "bne 2b",
            "3:",
            "ldr {w}, [sp, #12]",
            "strd {a0}, {a1}, [{w}], #8",
            "strd {a2}, {a3}, [{w}], #8",
            "strd {a4}, {a5}, [{w}], #8",
            "strd {a6}, {a7}, [{w}], #8",
            "str {w}, [sp, #12]",
            "ldr {t}, [sp, #16]",
            "cmp {w}, {t}",
            "bne 5b",
            "b 7f",
            "6:",
            "movs {a0}, #0",
            "movs {a1}, #0",
            "movs {a2}, #0",
            "movs {a3}, #0",
            "movs {a4}, #0",
            "movs {a5}, #0",
            "movs {a6}, #0",
            "movs {a7}, #0",
            "b 3b",
            "7:",
            "add sp, sp, #24",
            "pop {{r7}}",
            a0 = inout(reg) $dend => _,
            a1 = inout(reg) $cpb => _,
            a2 = inout(reg) $rb => _,
            a3 = out(reg) _,
            a4 = out(reg) _,
            a5 = out(reg) _,
            a6 = out(reg) _,
            a7 = out(reg) _,
            bp = inout(reg) $bp => _,
            cp = inout(reg) $cp => _,
            xo = inout(reg) $d => _,
            w = inout(reg) $x => _,
            t = out(reg) _,
        )
    };
}

/// The sums of consecutive row blocks of arm-dsp layout blocks, eight per row block,
/// written from `d` up to `dend`: blocks from `bp` (64 bytes each), column
/// groups (u16 LE) from `cp`, the table of column groups starting at `cpb`,
/// each row block's end (u32 LE block numbers) from `rb`, inputs at `x`.
///
/// # Safety
/// `dend - d` is a positive multiple of 8; for each of its row blocks,
/// `rb` holds the end, and the blocks up to it, their column groups and
/// the four inputs of every group are readable; `d..dend` is writable and
/// 4-aligned.
// One copy for both call sites.
#[inline(never)]
unsafe fn row_blocks_arm_dsp(bp: *const u8, cp: *const u8, cpb: *const u8, rb: *const u8, x: *const i8, d: *mut i32, dend: *mut i32) {
    // SAFETY: the caller guarantees the reads and the writes; the stack
    // words the loop pushes are popped before it ends.
    unsafe { row_blocks_loop!(bp, cp, cpb, rb, x, d, dend; block_asm!(first), block_asm!(), "", "cmp {cp}, {t}") }
}

/// [`block_asm`] for 4-aligned blocks: each row's two words by one `LDRD`
/// into `{w}` and `{t}` (29 instructions per 32 MACs).
macro_rules! pair_block_asm {
    ($($first:ident)?) => {
        concat!(
            "ldrh {w}, [{cp}], #2\n",
            "ldr {xo}, [sp]\n",
            "ldr {xo}, [{xo}, {w}, lsl #2]\n",
            "sxtb16 r7, {xo}\n",
            "sxtb16 {xo}, {xo}, ror #8\n",
            pair_row_asm!($($first)? "{a1}", "[{bp}, #8]", "r7", "{xo}"),
            pair_row_asm!($($first)? "{a2}", "[{bp}, #16]", "r7", "{xo}"),
            pair_row_asm!($($first)? "{a3}", "[{bp}, #24]", "r7", "{xo}"),
            pair_row_asm!($($first)? "{a4}", "[{bp}, #32]", "r7", "{xo}"),
            pair_row_asm!($($first)? "{a5}", "[{bp}, #40]", "r7", "{xo}"),
            pair_row_asm!($($first)? "{a6}", "[{bp}, #48]", "r7", "{xo}"),
            pair_row_asm!($($first)? "{a7}", "[{bp}, #56]", "r7", "{xo}"),
            pair_row_asm!($($first)? "{a0}", "[{bp}], #64", "r7", "{xo}"),
        )
    };
}

/// [`row_blocks_arm_dsp`] for blocks at a 4-aligned address (`LDRD` needs
/// it on these cores): each row's two words loaded at once. `{t}` is the
/// second load register, so the end of a row block's column groups is
/// kept on the stack (one load a block).
///
/// # Safety
/// As [`row_blocks_arm_dsp`], and `bp` is 4-aligned.
#[inline(never)]
unsafe fn row_blocks_arm_dsp_paired(
    bp: *const u8,
    cp: *const u8,
    cpb: *const u8,
    rb: *const u8,
    x: *const i8,
    d: *mut i32,
    dend: *mut i32,
) {
    // SAFETY: as in `row_blocks_arm_dsp`; `LDRD` reads blocks at 4-aligned
    // addresses only (`bp` is, and blocks are 64 bytes).
    unsafe {
        row_blocks_loop!(bp, cp, cpb, rb, x, d, dend;
            pair_block_asm!(first), pair_block_asm!(), "str {t}, [sp, #20]", "ldr {w}, [sp, #20]\ncmp {cp}, {w}")
    }
}
