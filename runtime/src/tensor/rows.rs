//! Row tables (format version 5): each integer product's requantization per
//! output row, ready to use, so that a step does not decode f32 scales and
//! biases row by row. A table is derived from the matrix's scales and bias
//! (which stay in the file) by one rule, [`row_entry`]; the loader checks
//! every entry against it, so a table gives the same bits as the scales.

use crate::error::{Error, Result, TensorName};
use crate::fixed::{self, Mul};
use crate::format::RowTables;
use crate::le::u32_at;
use crate::model::Model;

/// Where the scale of the int8 vector a product reads comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowInput {
    /// Fixed by the file (the state, or features with the file's scale): the
    /// multiplier `to_act` (the input scale times `2^ACT_FRAC`) is folded
    /// into each row's multiplier.
    Fixed(Mul),
    /// Set per step (an embedding row's scale, the scale of a dense layer's
    /// outputs): the table holds each scale's significand (shifted up by 8,
    /// to the top of the word) and exponent.
    PerStep,
}

/// Row `r` of a table for a scale and bias given by their f32 bits: the
/// multiplier word, the shift and the bias in Q.12 (saturated to
/// `[-limit, limit]`). `Fixed`: the row's [`Mul`] with its shift kept within
/// `-33..=63` (outside, [`Mul::apply`] gives the same: saturated, or zero). `PerStep`:
/// the significand shifted up by 8 (a step's multiplier `m` then gives the
/// row's as the rounded high word of `word * m`) and `-exponent - 24` (see
/// [`Mul::scaled_by_significand`]).
#[inline(never)]
pub fn row_entry(scale_bits: u32, bias_bits: u32, input: RowInput, limit: i32) -> (u32, i8, i32) {
    let bias = fixed::f32_bits_to_fixed(bias_bits, fixed::ACT_FRAC, limit);
    match input {
        RowInput::Fixed(to_act) => {
            let (m, shift) = to_act.scaled_by_f32_bits(scale_bits).parts();
            (m, shift.clamp(-33, 63) as i8, bias)
        }
        RowInput::PerStep => {
            let (mant, exp) = fixed::split_f32(scale_bits);
            // exp lies in -149..=104, so the offset fits an i8.
            (mant << 8, (-exp - 24) as i8, bias)
        }
    }
}

/// A model's row tables (every product's rows back to back, in step
/// order), every entry checked against its matrix's scale and bias.
#[derive(Debug, Clone, Copy)]
pub struct RowTable<'a> {
    /// u32 LE per row (see [`row_entry`]).
    multipliers: &'a [u8],
    /// i8 per row.
    shifts: &'a [u8],
    /// i32 LE per row.
    biases: &'a [u8],
}

/// One product's part of the tables: what its requantization kernel reads.
#[derive(Debug, Clone, Copy)]
pub struct RowsRef<'a> {
    /// u32 LE per row.
    pub multipliers: &'a [u8],
    /// i8 per row.
    pub shifts: &'a [u8],
    /// i32 LE per row.
    pub biases: &'a [u8],
}

impl<'a> RowTable<'a> {
    /// Checks `desc` against the products, in step order: one entry per
    /// row of each, equal to [`row_entry`] of the row's scale and bias.
    pub(crate) fn check(desc: &RowTables<'a>, model: &Model<'_>) -> Result<Self> {
        let rows: usize = model.products().map(|p| p.matrix.rows()).sum();
        let table = RowTable { multipliers: desc.multipliers, shifts: desc.shifts, biases: desc.biases };
        let lengths = [("multipliers", desc.multipliers.len(), 4), ("shifts", desc.shifts.len(), 1), ("biases", desc.biases.len(), 4)];
        let tensor = model.product(0).map_or(TensorName::Output, |p| p.tensor);
        for (part, found, width) in lengths {
            let expected = rows.saturating_mul(width);
            if found != expected {
                return Err(Error::TensorLength { tensor, part, expected, found });
            }
        }
        let mut at = 0;
        for p in model.products() {
            let (scales, bias) = (p.matrix.scales().unwrap_or(&[]), p.bias.bytes());
            for r in 0..p.matrix.rows() {
                if table.entry(at + r) != row_entry(u32_at(scales, r), u32_at(bias, r), p.input, p.limit) {
                    return Err(Error::RowTable { tensor: p.tensor, row: r });
                }
            }
            at += p.matrix.rows();
        }
        Ok(table)
    }

    /// Entry `r` (counting every product's rows): the multiplier word, the
    /// shift and the bias.
    fn entry(&self, r: usize) -> (u32, i8, i32) {
        let shift = self.shifts.get(r).map_or(0, |&s| s as i8);
        (u32_at(self.multipliers, r), shift, u32_at(self.biases, r) as i32)
    }

    /// Rows `from..from + rows` (empty where the tables are shorter).
    pub(crate) fn part(&self, from: usize, rows: usize) -> RowsRef<'a> {
        let end = from.saturating_add(rows);
        let bytes = |s: &'a [u8], w: usize| s.get(from * w..end * w).unwrap_or(&[]);
        RowsRef { multipliers: bytes(self.multipliers, 4), shifts: bytes(self.shifts, 1), biases: bytes(self.biases, 4) }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// Scales from every corner of f32: zero, subnormal, tiny, usual, huge.
    fn scales() -> Vec<u32> {
        let mut v: Vec<u32> = [0.0f32, 1e-45, 3e-39, 1e-30, 1e-9, 1.0 / 127.0, 0.0123, 0.5, 1.0, 3.75, 1e5, 1e30, 3.0e38]
            .iter()
            .map(|f| f.to_bits())
            .collect();
        let mut x = 0x1234_5678u32;
        for _ in 0..400 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // Finite, non-negative: exponent field below 255.
            let bits = x & 0x7fff_ffff;
            if bits >> 23 != 0xff {
                v.push(bits);
            }
        }
        v
    }

    #[test]
    fn a_table_entry_gives_the_bits_of_the_f32_scale_and_bias() {
        let accs = [0, 1, -1, 2, 77, -4096, 123_456, -987_654, 2_000_000, -16_129 * 64, i32::MAX / 3, i32::MIN / 3];
        let biases = [0.0f32, 0.4, -1.7, 15.99, -3000.0, 1e-6, 1e9];
        let inputs =
            [Mul::pow2(5), Mul::from_f32_bits(0.0371f32.to_bits()).times(Mul::pow2(12)), Mul::pow2(-40), Mul::pow2(31), Mul::pow2(70)];
        for limit in [fixed::PRE_ACT_LIMIT, fixed::LOGIT_LIMIT, 127, 1 << 30] {
            for &s in &scales() {
                for b in biases {
                    for to_act in inputs {
                        let fixed_row = row_entry(s, b.to_bits(), RowInput::Fixed(to_act), limit);
                        let step_row = row_entry(s, b.to_bits(), RowInput::PerStep, limit);
                        for acc in accs {
                            let want = fixed::requantize_row(to_act, acc, s, b.to_bits(), limit);
                            let (m, shift, bias) = fixed_row;
                            let got = fixed::requantize_by_table(Mul::from_parts(m, shift as i32), acc, bias, limit);
                            assert_eq!(got, want, "fixed: scale {s:#x}, bias {b}, acc {acc}, to_act {to_act:?}");
                            let (mant, offset, bias) = step_row;
                            let mul = to_act.scaled_by_significand(mant >> 8, offset as i32);
                            let got = fixed::requantize_by_table(mul, acc, bias, limit);
                            assert_eq!(got, want, "per step: scale {s:#x}, bias {b}, acc {acc}, to_act {to_act:?}");
                        }
                    }
                }
            }
        }
    }
}
