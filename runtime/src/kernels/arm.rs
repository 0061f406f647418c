//! Cortex-M kernels: the DSP extension (Armv7E-M and Armv8-M Mainline:
//! Cortex-M4, M7, M33, M55) and Helium (the M-profile vector extension:
//! Cortex-M55, M85). Chosen at compile time (`runtime/build.rs`).
//!
//! DSP: `SMLAD` multiplies two pairs of 16-bit halves and adds both products
//! to an accumulator. `SXTB16` sign-extends bytes 0 and 2 of a word into its
//! two halves, and with `ROR #8` bytes 1 and 3; so four int8 weights `w` and
//! four inputs `x` give `w0*x0 + w2*x2` and `w1*x1 + w3*x3` in two `SMLAD`s.
//! The inputs are unpacked once per product and shared by four rows (dense)
//! or eight rows (one 8x4 block); the weights are read in place with
//! single-word loads (`LDR` allows any alignment on these cores, and the
//! tensors of an `.egru` file have none).
//!
//! Every kernel gives the scalar kernel's int32 sums exactly (integer sums do
//! not depend on their order); the firmware runs check this under QEMU.

use core::arch::asm;
use core::mem::MaybeUninit;

use super::{scalar, Block8x4};

/// Inputs unpacked per pass of the dense DSP kernel: 64 groups of 4 (256
/// inputs) as 128 words, 512 bytes of stack. Longer rows take several passes.
const CHUNK_GROUPS: usize = 64;

/// Bytes 0 and 2 of `v`, sign-extended into the low and high halves.
#[inline(always)]
fn sxtb16(v: u32) -> u32 {
    let r;
    // SAFETY: register arithmetic only (DSP extension, present on every target
    // this module is compiled for).
    unsafe { asm!("sxtb16 {r}, {v}", r = lateout(reg) r, v = in(reg) v, options(pure, nomem, nostack, preserves_flags)) };
    r
}

/// Bytes 1 and 3 of `v`, sign-extended into the low and high halves.
#[inline(always)]
fn sxtb16_ror8(v: u32) -> u32 {
    let r;
    // SAFETY: register arithmetic only (DSP extension).
    unsafe { asm!("sxtb16 {r}, {v}, ror #8", r = lateout(reg) r, v = in(reg) v, options(pure, nomem, nostack, preserves_flags)) };
    r
}

/// `acc + a.lo * b.lo + a.hi * b.hi` (signed 16-bit halves).
#[inline(always)]
fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    let r;
    // SAFETY: register arithmetic only (DSP extension). It may set the sticky
    // Q flag on overflow, which nothing here reads, so flags are not promised.
    unsafe {
        asm!("smlad {r}, {a}, {b}, {acc}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, acc = in(reg) acc, options(pure, nomem, nostack))
    };
    r
}

/// `(a * b + 2^31) >> 32`, the rounded high word of the 64-bit product.
#[inline(always)]
pub(crate) fn smmulr(a: i32, b: i32) -> i32 {
    let r;
    // SAFETY: register arithmetic only (DSP extension).
    unsafe {
        asm!("smmulr {r}, {a}, {b}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, options(pure, nomem, nostack, preserves_flags))
    };
    r
}

/// The asm lines that add `w0*x0 + w2*x2 + w1*x1 + w3*x3` to accumulator
/// `$acc` from the weight word in `{w}` (scratch `{t}`; `{w}` is consumed) and
/// the unpacked input pair `$xe`, `$xo`: two `SXTB16`, two `SMLAD`.
macro_rules! dot4_asm {
    ($acc:literal, $xe:literal, $xo:literal) => {
        concat!(
            "sxtb16 {t}, {w}\n",
            "smlad ",
            $acc,
            ", {t}, ",
            $xe,
            ", ",
            $acc,
            "\n",
            "sxtb16 {w}, {w}, ror #8\n",
            "smlad ",
            $acc,
            ", {w}, ",
            $xo,
            ", ",
            $acc
        )
    };
}

/// Four int8 values at `p` as one little-endian word (one `LDR`, any alignment).
///
/// # Safety
/// `p..p+4` must be readable.
#[inline(always)]
unsafe fn word_at(p: *const i8) -> u32 {
    // SAFETY: the caller guarantees 4 readable bytes; `read_unaligned` has no
    // alignment requirement.
    unsafe { core::ptr::read_unaligned(p as *const u32) }
}

/// Four int8 values of a slice as one word.
#[inline(always)]
fn word(v: &[i8]) -> u32 {
    u32::from_le_bytes([v[0] as u8, v[1] as u8, v[2] as u8, v[3] as u8])
}

/// `w0*x0 + w1*x1 + w2*x2 + w3*x3 + acc` for a weight word and an unpacked input pair.
#[inline(always)]
fn dot4(w: u32, xe: u32, xo: u32, acc: i32) -> i32 {
    smlad(sxtb16_ror8(w), xo, smlad(sxtb16(w), xe, acc))
}

/// Dense int8 product with the DSP extension. `w.len() == acc.len() * cols`,
/// `x.len() == cols` (the dispatcher has clamped both).
pub(crate) fn matvec_i8_dsp(w: &[i8], cols: usize, x: &[i8], acc: &mut [i32]) {
    let rows = acc.len();
    if w.len() < rows * cols || x.len() < cols {
        return scalar::matvec_i8(w, cols, x, acc);
    }
    let groups = cols / 4;
    if groups == 0 {
        acc.iter_mut().for_each(|a| *a = 0);
    }
    let mut buffer = [MaybeUninit::uninit(); 2 * CHUNK_GROUPS];
    let mut g0 = 0;
    while g0 < groups {
        let n = (groups - g0).min(CHUNK_GROUPS);
        let xs = unpack_groups(&x[4 * g0..4 * (g0 + n)], &mut buffer[..2 * n]);
        chunk_rows(w, cols, 4 * g0, xs, acc);
        g0 += n;
    }
    // The last 1-3 columns, when `cols` is not a multiple of 4.
    for c in 4 * groups..cols {
        for (a, row) in acc.iter_mut().zip(w.chunks_exact(cols)) {
            *a += row[c] as i32 * x[c] as i32;
        }
    }
}

/// Adds to every `acc[r]` the products of row `r`'s columns `c0..c0 + 4 * xs.len() / 2`
/// with the unpacked inputs `xs`, four rows at a time.
#[inline(always)]
fn chunk_rows(w: &[i8], cols: usize, c0: usize, xs: &[u32], acc: &mut [i32]) {
    let n = xs.len() / 2;
    let quads = acc.len() / 4;
    let mut p = w[c0..].as_ptr();
    for a in acc.chunks_exact_mut(4) {
        if let Ok(a) = <&mut [i32; 4]>::try_from(a) {
            if c0 == 0 {
                // The first chunk starts the sums (here, not by a memset
                // of the whole vector before: fewer instructions).
                *a = [0; 4];
            }
            // SAFETY: rows r..r+4 exist (`acc.len() * cols <= w.len()`, checked by
            // the caller), columns c0..c0 + 4n lie inside each row, and `xs`
            // holds the n pairs the loop reads.
            unsafe { rows4(p, cols, xs, a) };
        }
        // SAFETY: stays inside `w` or one row past its last quad of rows.
        p = unsafe { p.add(4 * cols) };
    }
    for (r, a) in acc.iter_mut().enumerate().skip(4 * quads) {
        let row = &w[r * cols + c0..r * cols + c0 + 4 * n];
        let start = if c0 == 0 { 0 } else { *a };
        *a = row.chunks_exact(4).zip(xs.chunks_exact(2)).fold(start, |s, (wv, pair)| dot4(word(wv), pair[0], pair[1], s));
    }
}

/// Adds to `acc` the dot products of four rows (at `p`, `p + cols`,
/// `p + 2 cols`, `p + 3 cols`, each `2 * xs.len()` bytes) with the unpacked
/// inputs `xs`.
/// Per group of four columns: one `LDRD` of the input pair, then per row one
/// `LDR`, two `SXTB16` and two `SMLAD`.
///
/// # Safety
/// The four rows' `2 * xs.len()` bytes must be readable; `xs.len()` is even.
#[inline(always)]
unsafe fn rows4(p: *const i8, cols: usize, xs: &[u32], acc: &mut [i32; 4]) {
    if xs.is_empty() {
        return;
    }
    // SAFETY: the caller guarantees the rows; the loop reads `xs` from its
    // start to its end exactly (one pair per iteration, at least one pair);
    // `acc` is 4 aligned i32s. The accumulator pointer is kept on the stack
    // during the loop (its register is the loop's weight word).
    unsafe {
        asm!(
            "ldrd {a0}, {a1}, [{w}]",
            "ldrd {a2}, {a3}, [{w}, #8]",
            "push {{{w}}}",
            "2:",
            "ldrd {xe}, {xo}, [{xp}], #8",
            "ldr {w}, [{p0}, {s}]",
            dot4_asm!("{a1}", "{xe}", "{xo}"),
            "ldr {w}, [{p0}], #4",
            dot4_asm!("{a0}", "{xe}", "{xo}"),
            "ldr {w}, [{p2}, {s}]",
            dot4_asm!("{a3}", "{xe}", "{xo}"),
            "ldr {w}, [{p2}], #4",
            dot4_asm!("{a2}", "{xe}", "{xo}"),
            "cmp {xp}, {xend}",
            "bne 2b",
            "pop {{{w}}}",
            "strd {a0}, {a1}, [{w}]",
            "strd {a2}, {a3}, [{w}, #8]",
            a0 = out(reg) _,
            a1 = out(reg) _,
            a2 = out(reg) _,
            a3 = out(reg) _,
            xe = out(reg) _,
            xo = out(reg) _,
            w = inout(reg) acc.as_mut_ptr() => _,
            t = out(reg) _,
            xp = inout(reg) xs.as_ptr() => _,
            xend = in(reg) xs.as_ptr().add(xs.len()),
            p0 = inout(reg) p => _,
            p2 = inout(reg) p.add(2 * cols) => _,
            s = in(reg) cols,
        );
    }
}

/// Block-sparse int8 product with the DSP extension: each 8x4 block's four
/// inputs are unpacked once and used by its eight rows.
pub(crate) fn block8x4_i8_dsp(m: &Block8x4<'_>, x: &[i8], acc: &mut [i32]) {
    if x.len() < 4 * m.groups() {
        return scalar::block8x4_i8(m, x, acc);
    }
    let (row_blocks, block_cols, blocks) = m.tables();
    let mut start = 0usize;
    for b in 0..m.row_block_count() {
        // SAFETY: `Block8x4::new` checked that `row_blocks` holds
        // `row_block_count + 1` non-decreasing u32 offsets up to the block
        // count, that blocks `start..end` exist (32 bytes and 2 bytes of column
        // group each) and that every column group is below `groups`, so
        // `x[4c..4c+4]` lies inside `x` (length checked above).
        let (end, sums) = unsafe {
            let end = word_at(row_blocks.as_ptr().add(4 * (b + 1)) as *const i8) as usize;
            (end, row_block(blocks.as_ptr().add(32 * start), block_cols.as_ptr().add(2 * start), end - start, x.as_ptr()))
        };
        start = end;
        match acc.get_mut(8 * b..8 * b + 8) {
            Some(dst) => dst.copy_from_slice(&sums),
            None => acc.iter_mut().skip(8 * b).zip(sums).for_each(|(a, s)| *a = s),
        }
    }
}

/// The eight sums of one row block: `count` blocks at `bp` (32 bytes each,
/// row-major 8x4) with column groups (u16 LE) at `cp`, inputs at `x`. Per
/// block: one `LDRH` of the column group, the input word loaded and
/// unpacked once, then per row one `LDR`, two `SXTB16`, two `SMLAD`.
///
/// # Safety
/// The blocks, their column groups and the four inputs of every group must be readable.
#[inline(always)]
unsafe fn row_block(bp: *const i8, cp: *const u8, count: usize, x: *const i8) -> [i32; 8] {
    let mut s = [0i32; 8];
    if count == 0 {
        return s;
    }
    // SAFETY: the caller guarantees the reads. r7 (the frame pointer, not
    // available to operands) is saved on the stack and restored; the input
    // base and the column-table end live on the stack during the loop.
    unsafe {
        asm!(
            "str {t}, [sp, #-4]!",
            "str {w}, [sp, #-4]!",
            "push {{r7}}",
            "movs {a0}, #0",
            "movs {a1}, #0",
            "movs {a2}, #0",
            "movs {a3}, #0",
            "movs {a4}, #0",
            "movs {a5}, #0",
            "movs {a6}, #0",
            "movs {a7}, #0",
            "2:",
            "ldrh {t}, [{cp}], #2",
            "ldr {xo}, [sp, #4]",
            "ldr {xo}, [{xo}, {t}, lsl #2]",
            "sxtb16 r7, {xo}",
            "sxtb16 {xo}, {xo}, ror #8",
            "ldr {w}, [{bp}, #4]",
            dot4_asm!("{a1}", "r7", "{xo}"),
            "ldr {w}, [{bp}, #8]",
            dot4_asm!("{a2}", "r7", "{xo}"),
            "ldr {w}, [{bp}, #12]",
            dot4_asm!("{a3}", "r7", "{xo}"),
            "ldr {w}, [{bp}, #16]",
            dot4_asm!("{a4}", "r7", "{xo}"),
            "ldr {w}, [{bp}, #20]",
            dot4_asm!("{a5}", "r7", "{xo}"),
            "ldr {w}, [{bp}, #24]",
            dot4_asm!("{a6}", "r7", "{xo}"),
            "ldr {w}, [{bp}, #28]",
            dot4_asm!("{a7}", "r7", "{xo}"),
            "ldr {w}, [{bp}], #32",
            dot4_asm!("{a0}", "r7", "{xo}"),
            "ldr {t}, [sp, #8]",
            "cmp {cp}, {t}",
            "bne 2b",
            "pop {{r7}}",
            "add sp, sp, #8",
            a0 = out(reg) s[0],
            a1 = out(reg) s[1],
            a2 = out(reg) s[2],
            a3 = out(reg) s[3],
            a4 = out(reg) s[4],
            a5 = out(reg) s[5],
            a6 = out(reg) s[6],
            a7 = out(reg) s[7],
            bp = inout(reg) bp => _,
            cp = inout(reg) cp => _,
            xo = out(reg) _,
            w = inout(reg) x => _,
            t = inout(reg) cp.add(2 * count) => _,
            options(readonly),
        );
    }
    s
}

/// Unpacks the inputs `x[4g..4g+4]` of `out.len() / 2` column groups (`x`
/// holds `2 * out.len()` values) into the pairs `[x0, x2]`, `[x1, x3]` that
/// `SMLAD` multiplies, and returns them. `out` need not be initialized: the
/// per-call buffer of up to 512 bytes is not zeroed first (a memset that
/// cost more than the unpacking on small products).
/// One asm loop: per group a word load, two `SXTB16` and one `STRD`.
#[inline(always)]
fn unpack_groups<'o>(x: &[i8], out: &'o mut [MaybeUninit<u32>]) -> &'o [u32] {
    let n = out.len().min(x.len() / 2) / 2;
    if n > 0 {
        // SAFETY: reads `4n` bytes of `x` (word loads at any address: these
        // cores allow them for LDR) and writes `2n` words of `out` (a `u32`
        // buffer: 4-aligned, as `STRD` needs); the loop runs `n` (at least
        // 1) times.
        unsafe {
            asm!(
                "2:",
                "ldr {v}, [{x}], #4",
                "sxtb16 {e}, {v}",
                "sxtb16 {o}, {v}, ror #8",
                "strd {e}, {o}, [{out}], #8",
                "cmp {x}, {end}",
                "bne 2b",
                x = inout(reg) x.as_ptr() => _,
                end = in(reg) x.as_ptr().add(4 * n),
                out = inout(reg) out.as_mut_ptr() => _,
                v = out(reg) _,
                e = out(reg) _,
                o = out(reg) _,
                options(nostack),
            );
        }
    }
    // SAFETY: the loop wrote all `2n` values of `out[..2n]` (`n` pairs from
    // `n` groups of `x`); `MaybeUninit<u32>` has the layout of `u32`.
    unsafe { core::slice::from_raw_parts(out.as_ptr().cast::<u32>(), 2 * n) }
}

/// The DSP kernels of the arm-dsp layout.
#[cfg(feature = "arm-dsp-layout")]
pub(crate) mod arm_dsp_layout;
/// The integer GRU update and the state's int8 form with the DSP extension.
#[cfg(edgegru_dsp)]
pub(crate) mod dsp_gru;
/// Requantization by row tables with the DSP extension.
#[cfg(edgegru_dsp)]
pub(crate) mod dsp_rows;
/// Helium requantization.
#[cfg(all(edgegru_fpu, feature = "float-numerics"))]
pub(crate) mod fpu_float;

#[cfg(edgegru_helium)]
pub(crate) mod helium_fixed;
/// Helium kernels of the float and hybrid numerics.
#[cfg(edgegru_helium)]
pub(crate) mod helium_float;

/// Helium (M-profile vector extension) kernels: `VMLADAVA.S8` adds the sum
/// of sixteen int8 products to a scalar accumulator. Loops use the
/// Armv8.1-M low-overhead branches with tail predication (`DLSTP`/`LETP`),
/// so a row of any length runs without a scalar tail.
#[cfg(edgegru_helium)]
pub(crate) mod helium {
    use core::arch::asm;

    use super::super::{scalar, Block8x4};

    /// Dense int8 product: four rows share each 16-input vector. Per 16
    /// columns: one input load, then per row one load and one `VMLADAVA`.
    pub(crate) fn matvec_i8(w: &[i8], cols: usize, x: &[i8], acc: &mut [i32]) {
        let rows = acc.len();
        if w.len() < rows * cols || x.len() < cols {
            return scalar::matvec_i8(w, cols, x, acc);
        }
        let pairs = rows / 2;
        // SAFETY: (all four calls) `w` holds `rows` rows of `cols` bytes and `x` `cols`
        // bytes (checked above); `acc` holds `2 * pairs` sums.
        let short = unsafe {
            match cols {
                16 => pairs_x1(w.as_ptr(), x.as_ptr(), acc.as_mut_ptr(), pairs),
                32 => pairs_x2(w.as_ptr(), x.as_ptr(), acc.as_mut_ptr(), pairs),
                48 => pairs_x3(w.as_ptr(), x.as_ptr(), acc.as_mut_ptr(), pairs),
                64 => pairs_x4(w.as_ptr(), x.as_ptr(), acc.as_mut_ptr(), pairs),
                _ => false,
            }
        };
        let done = if short { 2 * pairs } else { 4 * (rows / 4) };
        if !short {
            for (q, a) in acc.chunks_exact_mut(4).enumerate() {
                // SAFETY: rows 4q..4q+4 of `cols` bytes lie inside `w` (checked
                // above); tail-predicated loads read no byte past a row's end.
                a.copy_from_slice(&unsafe { rows4(w.as_ptr().add(4 * q * cols), cols, x.as_ptr()) });
            }
        }
        for (r, a) in acc.iter_mut().enumerate().skip(done) {
            // SAFETY: row r lies inside `w`, `x` holds `cols` values.
            *a = unsafe { row(w.as_ptr().add(r * cols), cols, x.as_ptr()) };
        }
    }

    /// Rows of 16, 32, 48 or 64 inputs: the whole input vector stays in
    /// q4-q7 and the rows follow each other in memory, so the loop is only
    /// the weight loads and the `VMLADAV`s, two rows per iteration (one
    /// `STRD`, one `LE`). Returns `true` after writing `2 * pairs` sums.
    macro_rules! pairs_in_registers {
        ($name:ident, $x:literal, [$($load_x:literal),*], [$($row:literal),*]) => {
            /// See [`pairs_in_registers`].
            ///
            /// # Safety
            /// `2 * pairs` rows and the input vector must be readable, `acc` writable for `2 * pairs` sums.
            #[inline(never)]
            unsafe fn $name(w: *const i8, x: *const i8, acc: *mut i32, pairs: usize) -> bool {
                if pairs == 0 {
                    return true;
                }
                // SAFETY: the caller guarantees the reads and writes; q0-q7
                // and lr are declared clobbered (the compiler saves q4-q7).
                unsafe {
                    asm!(
                        $($load_x,)*
                        "dls lr, {pairs}",
                        "2:",
                        $($row,)*
                        "strd r0, r2, [{acc}], #8",
                        "le lr, 2b",
                        xp = in(reg) x,
                        pairs = in(reg) pairs,
                        acc = inout(reg) acc => _,
                        w = inout(reg) w => _,
                        out("r0") _,
                        out("r2") _,
                        out("lr") _,
                        out("q0") _,
                        out("q1") _,
                        out("q4") _,
                        out("q5") _,
                        out("q6") _,
                        out("q7") _,
                        options(nostack),
                    );
                }
                let _ = $x;
                true
            }
        };
    }

    pairs_in_registers!(
        pairs_x1,
        1,
        ["vldrb.s8 q4, [{xp}]"],
        ["vldrb.s8 q0, [{w}], #16", "vmladav.s8 r0, q0, q4", "vldrb.s8 q1, [{w}], #16", "vmladav.s8 r2, q1, q4"]
    );
    pairs_in_registers!(
        pairs_x2,
        2,
        ["vldrb.s8 q4, [{xp}]", "vldrb.s8 q5, [{xp}, #16]"],
        [
            "vldrb.s8 q0, [{w}], #16",
            "vmladav.s8 r0, q0, q4",
            "vldrb.s8 q1, [{w}], #16",
            "vmladava.s8 r0, q1, q5",
            "vldrb.s8 q0, [{w}], #16",
            "vmladav.s8 r2, q0, q4",
            "vldrb.s8 q1, [{w}], #16",
            "vmladava.s8 r2, q1, q5"
        ]
    );
    pairs_in_registers!(
        pairs_x3,
        3,
        ["vldrb.s8 q4, [{xp}]", "vldrb.s8 q5, [{xp}, #16]", "vldrb.s8 q6, [{xp}, #32]"],
        [
            "vldrb.s8 q0, [{w}], #16",
            "vmladav.s8 r0, q0, q4",
            "vldrb.s8 q1, [{w}], #16",
            "vmladava.s8 r0, q1, q5",
            "vldrb.s8 q0, [{w}], #16",
            "vmladava.s8 r0, q0, q6",
            "vldrb.s8 q1, [{w}], #16",
            "vmladav.s8 r2, q1, q4",
            "vldrb.s8 q0, [{w}], #16",
            "vmladava.s8 r2, q0, q5",
            "vldrb.s8 q1, [{w}], #16",
            "vmladava.s8 r2, q1, q6"
        ]
    );
    pairs_in_registers!(
        pairs_x4,
        4,
        ["vldrb.s8 q4, [{xp}]", "vldrb.s8 q5, [{xp}, #16]", "vldrb.s8 q6, [{xp}, #32]", "vldrb.s8 q7, [{xp}, #48]"],
        [
            "vldrb.s8 q0, [{w}], #16",
            "vmladav.s8 r0, q0, q4",
            "vldrb.s8 q1, [{w}], #16",
            "vmladava.s8 r0, q1, q5",
            "vldrb.s8 q0, [{w}], #16",
            "vmladava.s8 r0, q0, q6",
            "vldrb.s8 q1, [{w}], #16",
            "vmladava.s8 r0, q1, q7",
            "vldrb.s8 q0, [{w}], #16",
            "vmladav.s8 r2, q0, q4",
            "vldrb.s8 q1, [{w}], #16",
            "vmladava.s8 r2, q1, q5",
            "vldrb.s8 q0, [{w}], #16",
            "vmladava.s8 r2, q0, q6",
            "vldrb.s8 q1, [{w}], #16",
            "vmladava.s8 r2, q1, q7"
        ]
    );

    /// Dot products of the rows at `p`, `p + cols`, `p + 2 cols`, `p + 3 cols` with `x`.
    ///
    /// # Safety
    /// The four rows and `x` must hold `cols` readable bytes each.
    #[inline(always)]
    unsafe fn rows4(p: *const i8, cols: usize, x: *const i8) -> [i32; 4] {
        let (mut a0, mut a1, mut a2, mut a3) = (0i32, 0i32, 0i32, 0i32);
        if cols == 0 {
            return [0; 4];
        }
        // SAFETY: tail predication limits every load to the `cols` bytes the
        // caller guarantees; q0-q3 and lr are declared clobbered.
        unsafe {
            asm!(
                "dlstp.8 lr, {n}",
                "2:",
                "vldrb.s8 q0, [{xp}], #16",
                "vldrb.s8 q1, [{p0}], #16",
                "vmladava.s8 r0, q1, q0",
                "vldrb.s8 q2, [{p1}], #16",
                "vmladava.s8 r2, q2, q0",
                "vldrb.s8 q3, [{p2}], #16",
                "vmladava.s8 r4, q3, q0",
                "vldrb.s8 q1, [{p3}], #16",
                "vmladava.s8 r8, q1, q0",
                "letp lr, 2b",
                n = in(reg) cols,
                xp = inout(reg) x => _,
                p0 = inout(reg) p => _,
                p1 = inout(reg) p.add(cols) => _,
                p2 = inout(reg) p.add(2 * cols) => _,
                p3 = inout(reg) p.add(3 * cols) => _,
                inout("r0") a0,
                inout("r2") a1,
                inout("r4") a2,
                inout("r8") a3,
                out("lr") _,
                out("q0") _,
                out("q1") _,
                out("q2") _,
                out("q3") _,
                options(readonly, nostack),
            );
        }
        [a0, a1, a2, a3]
    }

    /// The dot product of one row at `p` with `x`.
    ///
    /// # Safety
    /// The row and `x` must hold `cols` readable bytes each.
    #[inline(always)]
    unsafe fn row(p: *const i8, cols: usize, x: *const i8) -> i32 {
        let mut a = 0i32;
        if cols == 0 {
            return 0;
        }
        // SAFETY: as for `rows4`, one row.
        unsafe {
            asm!(
                "dlstp.8 lr, {n}",
                "2:",
                "vldrb.s8 q0, [{xp}], #16",
                "vldrb.s8 q1, [{p0}], #16",
                "vmladava.s8 r0, q1, q0",
                "letp lr, 2b",
                n = in(reg) cols,
                xp = inout(reg) x => _,
                p0 = inout(reg) p => _,
                inout("r0") a,
                out("lr") _,
                out("q0") _,
                out("q1") _,
                options(readonly, nostack),
            );
        }
        a
    }

    /// Offsets of four consecutive 8x4 blocks (32 bytes each).
    static BLOCK_OFFSETS: [u32; 4] = [0, 32, 64, 96];

    /// Block-sparse int8 product: four blocks of a row block at a time, the
    /// row of each block gathered into one vector (`VLDRW` gather) against
    /// the four blocks' inputs (a gather by column group), one `VMLADAVA`
    /// per row. Rows 0-3 and 4-7 of a row block are two passes.
    pub(crate) fn block8x4_i8(m: &Block8x4<'_>, x: &[i8], acc: &mut [i32]) {
        if x.len() < 4 * m.groups() {
            return scalar::block8x4_i8(m, x, acc);
        }
        let (_, block_cols, blocks) = m.tables();
        for b in 0..m.row_block_count() {
            let range = m.blocks_of(b);
            let mut s = [0i32; 8];
            if !range.is_empty() {
                // SAFETY: `Block8x4::new` checked that blocks `range` exist and
                // that their column groups index inside `x` (length checked
                // above); tail predication gathers only existing blocks.
                unsafe {
                    let (bp, cp) = (blocks.as_ptr().add(32 * range.start), block_cols.as_ptr().add(2 * range.start));
                    s[..4].copy_from_slice(&half::<0>(bp, cp, range.len(), x.as_ptr()));
                    s[4..].copy_from_slice(&half::<16>(bp, cp, range.len(), x.as_ptr()));
                }
            }
            match acc.get_mut(8 * b..8 * b + 8) {
                Some(dst) => dst.copy_from_slice(&s),
                None => acc.iter_mut().skip(8 * b).zip(s).for_each(|(a, v)| *a = v),
            }
        }
    }

    /// Sums of four rows (byte offset `ROW` = 0 for rows 0-3, 16 for rows
    /// 4-7) over `count` blocks at `bp` with column groups at `cp`.
    ///
    /// # Safety
    /// `count` blocks and column groups must be readable, and every group's
    /// four inputs inside `x`.
    #[inline(always)]
    unsafe fn half<const ROW: usize>(bp: *const i8, cp: *const u8, count: usize, x: *const i8) -> [i32; 4] {
        let (mut a0, mut a1, mut a2, mut a3) = (0i32, 0i32, 0i32, 0i32);
        // SAFETY: tail predication (32-bit lanes, one per block) limits the
        // column-group load and both gathers to the `count` blocks.
        unsafe {
            asm!(
                "vldrw.u32 q3, [{offsets}]",
                "vadd.i32 q3, q3, {bp}",
                "dlstp.32 lr, {n}",
                "2:",
                "vldrh.u32 q2, [r1], #8",
                "vldrw.u32 q1, [{xp}, q2, uxtw #2]",
                "vldrw.u32 q0, [q3, #{r0}]",
                "vmladava.s8 r0, q0, q1",
                "vldrw.u32 q0, [q3, #{r1}]",
                "vmladava.s8 r2, q0, q1",
                "vldrw.u32 q0, [q3, #{r2}]",
                "vmladava.s8 r4, q0, q1",
                "vldrw.u32 q0, [q3, #{r3}]",
                "vmladava.s8 r8, q0, q1",
                "vadd.i32 q3, q3, {step}",
                "letp lr, 2b",
                offsets = in(reg) BLOCK_OFFSETS.as_ptr(),
                bp = in(reg) bp,
                n = in(reg) count,
                inout("r1") cp => _,
                xp = in(reg) x,
                step = in(reg) 128u32,
                r0 = const ROW,
                r1 = const ROW + 4,
                r2 = const ROW + 8,
                r3 = const ROW + 12,
                inout("r0") a0,
                inout("r2") a1,
                inout("r4") a2,
                inout("r8") a3,
                out("lr") _,
                out("q0") _,
                out("q1") _,
                out("q2") _,
                out("q3") _,
                options(readonly, nostack),
            );
        }
        [a0, a1, a2, a3]
    }
}
