//! The wide layout of int8 weights (format version 3, `--layout arm-dsp`):
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

/// Bytes of a dense `rows` x `cols` matrix in the wide layout (`None` on overflow).
pub fn dense_bytes(rows: usize, cols: usize) -> Option<usize> {
    rows.div_ceil(4).checked_mul(4)?.checked_mul(cols.div_ceil(4))?.checked_mul(GROUP_BYTES)
}

/// Byte offset of value `(r, c)` in a dense wide matrix of `groups` column groups.
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

/// Writes the wide layout of the row-major int8 `rows` x `cols` matrix `q`
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

/// `acc[r] = sum_c w[r][c] * x[c]` for a dense wide matrix of `cols`
/// columns and `acc.len()` rows; inputs past `x` count as zero.
pub fn matvec(w: &[u8], cols: usize, x: &[i8], acc: &mut [i32]) {
    let groups = cols.div_ceil(4);
    for (r, a) in acc.iter_mut().enumerate() {
        let mut sum = 0i32;
        for (c, &xv) in x.iter().enumerate().take(4 * groups) {
            sum += value_at(w, dense_offset(groups, r, c)) as i32 * xv as i32;
        }
        *a = sum;
    }
}

/// `acc[r] = sum_c w[r][c] * x[c]` for a wide block-sparse matrix (blocks
/// whose column group lies beyond `x` are skipped).
pub fn block8x4(m: &Block8x4<'_>, x: &[i8], acc: &mut [i32]) {
    for b in 0..m.row_block_count() {
        let mut sums = [0i32; 8];
        for (g, block) in m.row_block(b) {
            let Some(xs) = x_group(x, g) else {
                continue;
            };
            let block: &[u8] = bytemuck::cast_slice(block);
            for (i, s) in sums.iter_mut().enumerate() {
                *s += xs.iter().enumerate().map(|(j, &xv)| value_at(block, block_offset(i, j)) as i32 * xv as i32).sum::<i32>();
            }
        }
        for (a, s) in acc.iter_mut().skip(8 * b).zip(sums) {
            *a = s;
        }
    }
}
