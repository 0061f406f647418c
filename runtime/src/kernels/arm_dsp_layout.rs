//! The arm-dsp layout of int8 weights (format version 3, `--layout arm-dsp`):
//! each value stored as an i16, in the order the Cortex-M DSP extension's
//! `SMLAD` multiplies them, so that a product loads two weights per word and
//! unpacks nothing.
//!
//! The inputs of a column group `x[4g..4g+4]` are unpacked once per product
//! into the halfword pairs `[x0, x2]` and `[x1, x3]` (`SXTB16` and `SXTB16
//! ROR #8`); a group's four weights are stored as the i16 LE slots
//! `[q0, q2, q1, q3]`, so its two words meet those pairs in two `SMLAD`s.
//!
//! - Dense: rows in quads of four. Quad `k` holds rows `4k..4k+4`; for each
//!   column group `g` in order, its four rows' groups follow each other (32
//!   bytes), so one pointer walks a quad's four rows. The last quad is padded
//!   with zero rows, every row with zero columns to a multiple of 4.
//! - 8x4 blocks: 64 bytes per block, its eight rows' groups in row order.
//!
//! Values are the int8 values of the portable layout (in [-127, 127]):
//! products are the same integers, bit for bit. This module defines the
//! layout (offsets, conversion both ways) and the portable kernels.

use super::{x_group, Block8x4};

/// Slot (i16 index within a group of four) of column `j` of the group.
pub const SLOT: [usize; 4] = [0, 2, 1, 3];

/// Bytes of one widened 8x4 block.
pub const BLOCK_BYTES: usize = 64;

/// Bytes of one widened column group of one row.
const GROUP_BYTES: usize = 8;

/// Bytes of a dense `rows` x `cols` matrix in the arm-dsp layout (`None` on overflow).
pub fn dense_bytes(rows: usize, cols: usize) -> Option<usize> {
    rows.div_ceil(4).checked_mul(4)?.checked_mul(cols.div_ceil(4))?.checked_mul(GROUP_BYTES)
}

/// Byte offset of value `(r, c)` in a dense matrix in the arm-dsp layout of `groups` column groups.
pub fn dense_offset(groups: usize, r: usize, c: usize) -> usize {
    (((r / 4) * groups + c / 4) * 4 + r % 4) * GROUP_BYTES + SLOT[c % 4] * 2
}

/// Byte offset of value `(i, j)` (row `i` of 8, column `j` of 4) in a widened block.
pub fn block_offset(i: usize, j: usize) -> usize {
    i * GROUP_BYTES + SLOT[j] * 2
}

/// The i16 LE value at byte `at` of `w` (0 past the end).
#[inline(always)]
pub fn value_at(w: &[u8], at: usize) -> i16 {
    match w.get(at..at.wrapping_add(2)) {
        Some(b) => i16::from_le_bytes([b[0], b[1]]),
        None => 0,
    }
}

/// Writes the arm-dsp layout of the row-major int8 `rows` x `cols` matrix `q`
/// into `out` ([`dense_bytes`] long; padding zeroed). Values past `q` are zero.
pub fn widen_dense(q: &[i8], rows: usize, cols: usize, out: &mut [u8]) {
    out.iter_mut().for_each(|b| *b = 0);
    let groups = cols.div_ceil(4);
    for r in 0..rows {
        for c in 0..cols {
            let v = q.get(r * cols + c).map_or(0, |&v| v as i16);
            if let Some(dst) = out.get_mut(dense_offset(groups, r, c)..).and_then(|d| d.get_mut(..2)) {
                dst.copy_from_slice(&v.to_le_bytes());
            }
        }
    }
}

/// The widened form of one 8x4 block (32 int8 values, row-major).
pub fn widen_block(block: &[i8]) -> [u8; BLOCK_BYTES] {
    let mut out = [0u8; BLOCK_BYTES];
    for i in 0..8 {
        for j in 0..4 {
            let v = block.get(i * 4 + j).map_or(0, |&v| v as i16);
            let at = block_offset(i, j);
            out[at..at + 2].copy_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// The dot product of one widened group (`[q0, q2, q1, q3]`, i16 LE, at
/// least 8 bytes) with four inputs.
#[inline(always)]
fn group_dot(g: &[u8], x: [i32; 4]) -> i32 {
    let v = |slot: usize| g.get(2 * slot..2 * slot + 2).map_or(0, |b| i16::from_le_bytes([b[0], b[1]]) as i32);
    v(SLOT[0]) * x[0] + v(SLOT[1]) * x[1] + v(SLOT[2]) * x[2] + v(SLOT[3]) * x[3]
}

/// The four inputs of column group `g` (zeros past `x`).
#[inline(always)]
fn inputs(x: &[i8], g: usize) -> [i32; 4] {
    core::array::from_fn(|j| x.get(4 * g + j).map_or(0, |&v| v as i32))
}

/// `acc[r] = sum_c w[r][c] * x[c]` for a dense arm-dsp layout matrix of `cols`
/// columns and `acc.len()` rows; inputs past `x` count as zero.
#[inline(never)]
pub fn matvec(w: &[u8], cols: usize, x: &[i8], acc: &mut [i32]) {
    let groups = cols.div_ceil(4);
    for (k, quad) in acc.chunks_mut(4).enumerate() {
        let mut sums = [0i32; 4];
        let quad_w = w.get(k * groups * 32..).unwrap_or(&[]);
        for (g, group_w) in quad_w.chunks_exact(32).take(groups).enumerate() {
            let xs = inputs(x, g);
            for (i, s) in sums.iter_mut().enumerate() {
                *s += group_dot(group_w.get(8 * i..8 * i + 8).unwrap_or(&[]), xs);
            }
        }
        quad.iter_mut().zip(sums).for_each(|(a, s)| *a = s);
    }
}

/// `acc[r] = sum_c w[r][c] * x[c]` for a block-sparse arm-dsp layout matrix (blocks
/// whose column group lies beyond `x` are skipped; portable blocks go to
/// [`super::scalar::block8x4_i8`]).
#[inline(never)]
pub fn block8x4(m: &Block8x4<'_>, x: &[i8], acc: &mut [i32]) {
    if !m.is_arm_dsp() {
        return super::scalar::block8x4_i8(m, x, acc);
    }
    for b in 0..m.row_block_count() {
        let mut sums = [0i32; 8];
        for (g, block) in m.row_block(b) {
            if x_group(x, g).is_none() {
                continue;
            }
            let (xs, block): ([i32; 4], &[u8]) = (inputs(x, g), bytemuck::cast_slice(block));
            for (i, s) in sums.iter_mut().enumerate() {
                *s += group_dot(block.get(8 * i..8 * i + 8).unwrap_or(&[]), xs);
            }
        }
        for (a, s) in acc.iter_mut().skip(8 * b).zip(sums) {
            *a = s;
        }
    }
}
