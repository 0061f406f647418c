//! Row tables (format versions 5 and 6): each integer product's requantization per
//! output row, ready to use, so that a step does not decode f32 scales and
//! biases row by row. A table is derived from the matrix's scales and bias
//! (which stay in the file) by one rule, [`row_entry`]; the loader checks
//! every entry against it, so a table gives the same bits as the scales.

use crate::error::{Error, Result, TensorName};
use crate::fixed::{self, Mul};
use crate::format::{RowTables, MAX_PRODUCTS};
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
    /// What the loader found of each product's rows (see [`Known`]).
    known: [Known; MAX_PRODUCTS],
}

/// What is known of a product's rows: the least and greatest shift, the
/// bound on its sums (see `Matrix::sum_bits`) and a bound on its biases'
/// magnitudes (see [`BiasBound`]). Five bytes: the C library's model
/// storage holds a [`Model`].
#[derive(Debug, Clone, Copy)]
struct Known {
    shift_range: (i8, i8),
    sum_bits: u8,
    bias_bound: BiasBound,
}

impl Known {
    /// Nothing known.
    const NOTHING: Known = Known { shift_range: (i8::MIN, i8::MAX), sum_bits: 32, bias_bound: BiasBound::NONE };
}

/// A bound on a product's bias magnitudes in two bytes: `units << shift`,
/// rounded up from the largest magnitude (at most 1/128 above it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BiasBound {
    units: u8,
    shift: u8,
}

impl BiasBound {
    /// No bound.
    const NONE: BiasBound = BiasBound { units: u8::MAX, shift: u8::MAX };

    /// The least bound of this form at or above `max`.
    fn at_least(max: u32) -> Self {
        let mut shift = (u32::BITS - max.leading_zeros()).saturating_sub(8);
        if max.div_ceil(1 << shift) > u8::MAX as u32 {
            shift += 1;
        }
        BiasBound { units: max.div_ceil(1 << shift) as u8, shift: shift as u8 }
    }

    /// The bound (`u32::MAX`: none).
    fn value(self) -> u32 {
        if self == Self::NONE {
            u32::MAX
        } else {
            ((self.units as u64) << self.shift).min(u32::MAX as u64) as u32
        }
    }
}

/// One product's part of the tables: what its requantization kernel reads,
/// and what is known of its rows, so that a kernel may choose a loop
/// without a per-row check: the least and greatest shift, and a bound on
/// the sums.
#[derive(Debug, Clone, Copy)]
pub struct RowsRef<'a> {
    /// u32 LE per row.
    pub multipliers: &'a [u8],
    /// i8 per row.
    pub shifts: &'a [u8],
    /// i32 LE per row.
    pub biases: &'a [u8],
    /// No shift is outside this range (the loader's, or [`RowsRef::new`]'s, finding).
    pub(crate) shift_range: (i8, i8),
    /// Every sum is below `2^sum_bits` in magnitude (32: nothing is known).
    pub(crate) sum_bits: u32,
    /// No bias is larger than this in magnitude (a bound the loader
    /// rounds up, or the largest one).
    pub(crate) bias_max: u32,
}

impl<'a> RowsRef<'a> {
    /// Tables as they are (four bytes per row of multipliers and biases, one
    /// of shifts), their shift range and largest bias found by looking,
    /// nothing known of the sums.
    pub fn new(multipliers: &'a [u8], shifts: &'a [u8], biases: &'a [u8]) -> Self {
        let shift_range = shifts.iter().fold((i8::MAX, i8::MIN), |(lo, hi), &s| (lo.min(s as i8), hi.max(s as i8)));
        let bias_max = biases.chunks_exact(4).map(|b| u32_at(b, 0) as i32).fold(0, |m, b| m.max(b.unsigned_abs()));
        RowsRef { multipliers, shifts, biases, shift_range, sum_bits: 32, bias_max }
    }

    /// How far a scaled sum may reach (in magnitude) with no clamp of the
    /// requantization changing it: within `[-reach, reach]`, neither the
    /// scaled sum nor it plus its row's bias leaves `[-limit, limit]`, so
    /// the output is their plain sum. `None` where a bias is beyond the
    /// limit (or the limit negative).
    pub fn unclamped_reach(&self, limit: i32) -> Option<i32> {
        (limit as u32).checked_sub(self.bias_max).filter(|_| limit >= 0).map(|r| r as i32)
    }

    /// [`RowsRef::unclamped_reach`] for a check after the bias is added:
    /// where a scaled sum plus its bias lies within `[-reach, reach]` (this
    /// reach, less the largest bias again), the scaled sum lies within the
    /// unclamped reach, so the output is that plain sum. `None` where it
    /// would be negative.
    pub fn unclamped_reach_with_bias(&self, limit: i32) -> Option<i32> {
        self.unclamped_reach(limit)?.checked_sub_unsigned(self.bias_max).filter(|r| *r >= 0)
    }

    /// The same rows, with the promise that every sum requantized with them
    /// is below `2^bits` in magnitude (the sums of `n` products of int8
    /// pairs are, for `n * 2^14 <= 2^bits`). A kernel may then leave out
    /// its per-row overflow check: a sum that breaks the promise gets a
    /// wrong output (never a read or write outside the slices).
    pub fn with_sum_bits(self, bits: u32) -> Self {
        RowsRef { sum_bits: bits.min(32), ..self }
    }

    /// Rows `from..to` (empty parts where the tables are shorter), with
    /// what is known of these rows.
    pub fn rows(&self, from: usize, to: usize) -> RowsRef<'a> {
        let bytes = |s: &'a [u8], w: usize| s.get(from.saturating_mul(w)..to.saturating_mul(w)).unwrap_or(&[]);
        RowsRef { multipliers: bytes(self.multipliers, 4), shifts: bytes(self.shifts, 1), biases: bytes(self.biases, 4), ..*self }
    }

    /// Whether each row's shift (plus the shift of `step`, the input's
    /// multiplier when it is set per step) lies in `sum_bits + 1..=63`:
    /// then a sum shifted up by `32 - shift` (when that is positive) still
    /// fits an i32, and a shift above 32 leaves a rounding term below
    /// `2^31`, so the DSP kernel's short loop may run the rows.
    pub fn within_reach(&self, step: Option<Mul>) -> bool {
        let c = step.map_or(0, |s| s.parts().1);
        let (lo, hi) = (self.shift_range.0 as i32 + c, self.shift_range.1 as i32 + c);
        lo > self.sum_bits as i32 && hi <= 63
    }
}

impl<'a> RowTable<'a> {
    /// Checks `desc` against the products, in step order: one entry per
    /// row of each, equal to [`row_entry`] of the row's scale and bias.
    pub(crate) fn check(desc: &RowTables<'a>, model: &Model<'_>) -> Result<Self> {
        let rows: usize = model.products().map(|p| p.matrix.rows()).sum();
        let table =
            RowTable { multipliers: desc.multipliers, shifts: desc.shifts, biases: desc.biases, known: [Known::NOTHING; MAX_PRODUCTS] };
        let lengths = [("multipliers", desc.multipliers.len(), 4), ("shifts", desc.shifts.len(), 1), ("biases", desc.biases.len(), 4)];
        let tensor = model.product(0).map_or(TensorName::Output, |p| p.tensor);
        for (part, found, width) in lengths {
            let expected = rows.saturating_mul(width);
            if found != expected {
                return Err(Error::TensorLength { tensor, part, expected, found });
            }
        }
        let mut table = table;
        let mut at = 0;
        for (i, p) in model.products().enumerate() {
            let (scales, bias) = (p.matrix.scales().unwrap_or(&[]), p.bias.bytes());
            let (mut range, mut bias_max) = ((i8::MAX, i8::MIN), 0u32);
            for r in 0..p.matrix.rows() {
                let entry = table.entry(at + r);
                if entry != row_entry(u32_at(scales, r), u32_at(bias, r), p.input, p.limit) {
                    return Err(Error::RowTable { tensor: p.tensor, row: r });
                }
                range = (range.0.min(entry.1), range.1.max(entry.1));
                bias_max = bias_max.max(entry.2.unsigned_abs());
            }
            if let Some(k) = table.known.get_mut(i) {
                *k = Known { shift_range: range, sum_bits: p.matrix.sum_bits() as u8, bias_bound: BiasBound::at_least(bias_max) };
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

    /// Rows `from..from + rows` (empty where the tables are shorter), the
    /// rows of product `product`: with its shift range and its bound on its sums.
    pub(crate) fn part(&self, product: usize, from: usize, rows: usize) -> RowsRef<'a> {
        let end = from.saturating_add(rows);
        let bytes = |s: &'a [u8], w: usize| s.get(from * w..end * w).unwrap_or(&[]);
        let known = self.known.get(product).copied().unwrap_or(Known::NOTHING);
        RowsRef {
            multipliers: bytes(self.multipliers, 4),
            shifts: bytes(self.shifts, 1),
            biases: bytes(self.biases, 4),
            shift_range: known.shift_range,
            sum_bits: known.sum_bits as u32,
            bias_max: known.bias_bound.value(),
        }
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
    fn rows_are_within_reach_only_where_every_shift_is() {
        let shifts = [30u8, 33, 25, (-3i8) as u8, 40];
        let rows = RowsRef::new(&[], &shifts, &[]);
        assert_eq!(rows.shift_range, (-3, 40));
        // Nothing known of the sums: never.
        assert!(!rows.within_reach(None));
        // Without the negative shift: the least shift must exceed the sums' bits.
        let rows = RowsRef::new(&[], &shifts[..3], &[]);
        assert_eq!(rows.shift_range, (25, 33));
        assert!(rows.with_sum_bits(24).within_reach(None));
        assert!(!rows.with_sum_bits(25).within_reach(None));
        // A step's shift moves the range: 2^-1 is 2^30 with shift 31, so 33 + 31 > 63.
        assert!(!rows.with_sum_bits(20).within_reach(Some(Mul::pow2(-1))));
        assert!(rows.with_sum_bits(20).within_reach(Some(Mul::pow2(29))));
        assert!(!rows.with_sum_bits(20).within_reach(Some(Mul::pow2(35))));
        // A part of the rows keeps what is known of them.
        assert_eq!(rows.with_sum_bits(20).rows(1, 2).shifts, &shifts[1..2]);
        assert!(rows.with_sum_bits(20).rows(1, 2).within_reach(None));
        // No rows: nothing to check.
        assert!(RowsRef::new(&[], &[], &[]).with_sum_bits(0).within_reach(None));
    }

    #[test]
    fn a_bias_bound_is_at_least_the_largest_bias_and_close_to_it() {
        for v in (0..70_000).chain([1 << 23, (1 << 24) - 1, 0x7fff_ffff, 0x8000_0000, u32::MAX]) {
            let bound = BiasBound::at_least(v).value();
            assert!(bound >= v && bound - v <= v / 128, "{v}: {bound}");
        }
        assert_eq!(BiasBound::at_least(0).value(), 0);
        assert_eq!(BiasBound::NONE.value(), u32::MAX);
    }

    #[test]
    fn within_the_unclamped_reach_a_row_is_its_scaled_sum_plus_its_bias() {
        let limit = fixed::PRE_ACT_LIMIT;
        let biases: Vec<u8> = [-9000i32, 120, 4321, -17].iter().flat_map(|b| b.to_le_bytes()).collect();
        let rows = RowsRef::new(&[], &[], &biases);
        let reach = rows.unclamped_reach(limit).unwrap();
        assert_eq!(reach, limit - 9000);
        // Just past the reach a clamp changes the row (the definition's
        // output is not the plain sum), within it none does.
        let one = Mul::pow2(0);
        for b in [-9000, 120, 4321, -17] {
            for scaled in [-reach, -1, 0, 1, reach] {
                assert_eq!(fixed::requantize_by_table(one, scaled, b, limit), scaled + b);
            }
        }
        assert_ne!(fixed::requantize_by_table(one, reach + 1, 9000, limit), reach + 1 + 9000);
        // A bias beyond the limit: no reach (the definition clamps every row).
        let far: Vec<u8> = (limit + 1).to_le_bytes().to_vec();
        assert_eq!(RowsRef::new(&[], &[], &far).unclamped_reach(limit), None);
        assert_eq!(RowsRef::new(&[], &[], &far).unclamped_reach(limit + 1), Some(0));
        assert_eq!(rows.unclamped_reach(-1), None);
        // Checked after the bias: a sum with its bias within this reach had its
        // scaled sum within the reach above, so it is the plain sum again.
        let after = rows.unclamped_reach_with_bias(limit).unwrap();
        assert_eq!(after, limit - 2 * 9000);
        for b in [-9000, 120, 4321, -17] {
            for with_bias in [-after, -1, 0, 1, after] {
                let scaled = with_bias - b;
                assert!(scaled.abs() <= reach);
                assert_eq!(fixed::requantize_by_table(one, scaled, b, limit), with_bias);
            }
        }
        // Twice the largest bias beyond the limit: no reach.
        let half: Vec<u8> = (limit / 2 + 1).to_le_bytes().to_vec();
        assert_eq!(RowsRef::new(&[], &[], &half).unclamped_reach_with_bias(limit), None);
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
