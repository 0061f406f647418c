//! Validated views of the weight tensors, and the matrix-vector product that
//! every layer uses.

use crate::error::{Error, Result, TensorName};
use crate::fixed::{self, Mul};
use crate::format::TensorDesc;
#[cfg(feature = "arm-dsp-layout")]
use crate::kernels::arm_dsp_layout;
use crate::kernels::{self, Isa};
#[cfg(feature = "block-sparse")]
use crate::kernels::{Block8x4, Block8x4Error};
use crate::le::{f32_at, u32_at};

#[cfg(feature = "float-numerics")]
mod float;
mod rows;
#[cfg(feature = "float-numerics")]
pub(crate) use float::{InputScale, STATE_SCALE};
pub(crate) use rows::RowTable;
pub use rows::{row_entry, RowInput, RowsRef};

/// Scratch memory an int8 product needs.
pub(crate) struct Scratch<'s> {
    /// Quantized input, at least `cols` rounded up to 4, zero-padded.
    pub q: &'s mut [i8],
    /// int32 accumulators, at least `rows`.
    pub acc: &'s mut [i32],
}

/// A weight matrix borrowed from the model bytes, its sizes checked.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a> {
    rows: usize,
    cols: usize,
    data: MatrixData<'a>,
}

#[derive(Debug, Clone, Copy)]
enum MatrixData<'a> {
    /// f32 values, row-major.
    #[cfg(feature = "float-numerics")]
    F32(&'a [u8]),
    /// f16 values, row-major.
    #[cfg(feature = "float-numerics")]
    F16(&'a [u8]),
    Int8 {
        scales: &'a [u8],
        data: &'a [i8],
    },
    /// int8 values in the arm-dsp layout ([`arm_dsp_layout`], format version 3).
    #[cfg(feature = "arm-dsp-layout")]
    Int8ArmDsp {
        scales: &'a [u8],
        data: &'a [u8],
    },
    /// int8 8x4 blocks, portable or arm-dsp layout ([`Block8x4::is_arm_dsp`]).
    #[cfg(feature = "block-sparse")]
    Block8x4 {
        scales: &'a [u8],
        m: Block8x4<'a>,
    },
}

fn expect_len(tensor: TensorName, part: &'static str, found: usize, expected: usize) -> Result<()> {
    if found == expected {
        Ok(())
    } else {
        Err(Error::TensorLength { tensor, part, expected, found })
    }
}

fn checked_bytes(tensor: TensorName, rows: usize, cols: usize, width: usize) -> Result<usize> {
    rows.checked_mul(cols).and_then(|n| n.checked_mul(width)).ok_or(Error::SizeOverflow { tensor })
}

fn check_scales(tensor: TensorName, scales: &[u8], rows: usize) -> Result<()> {
    expect_len(tensor, "scales", scales.len(), checked_bytes(tensor, rows, 1, 4)?)?;
    for row in 0..rows {
        let s = f32_at(scales, row);
        if !(s.is_finite() && s >= 0.0) {
            return Err(Error::BadScale { tensor, row });
        }
    }
    Ok(())
}

impl<'a> Matrix<'a> {
    /// A matrix with no rows (a placeholder before loading fills it in).
    pub(crate) const EMPTY: Matrix<'static> = Matrix { rows: 0, cols: 0, data: MatrixData::Int8 { scales: &[], data: &[] } };

    /// Checks a tensor against the shape the model needs.
    pub(crate) fn from_desc(desc: &TensorDesc<'a>, tensor: TensorName, rows: usize, cols: usize) -> Result<Self> {
        let (fr, fc) = desc.shape();
        if (fr as usize, fc as usize) != (rows, cols) {
            return Err(Error::TensorShape { tensor, expected: (rows as u32, cols as u32), found: (fr, fc) });
        }
        let data = match *desc {
            #[cfg(feature = "float-numerics")]
            TensorDesc::F32 { data, .. } => {
                expect_len(tensor, "data", data.len(), checked_bytes(tensor, rows, cols, 4)?)?;
                MatrixData::F32(data)
            }
            #[cfg(feature = "float-numerics")]
            TensorDesc::F16 { data, .. } => {
                expect_len(tensor, "data", data.len(), checked_bytes(tensor, rows, cols, 2)?)?;
                MatrixData::F16(data)
            }
            TensorDesc::Int8 { scales, data, .. } => {
                check_scales(tensor, scales, rows)?;
                expect_len(tensor, "data", data.len(), checked_bytes(tensor, rows, cols, 1)?)?;
                check_int8_range(tensor, data)?;
                MatrixData::Int8 { scales, data: bytemuck::cast_slice(data) }
            }
            #[cfg(feature = "block-sparse")]
            TensorDesc::Int8Block8x4 { scales, row_blocks, block_cols, blocks, .. } => {
                check_scales(tensor, scales, rows)?;
                let m =
                    Block8x4::new(rows, cols, row_blocks, block_cols, bytemuck::cast_slice(blocks)).map_err(|e| block_error(tensor, e))?;
                check_int8_range(tensor, blocks)?;
                MatrixData::Block8x4 { scales, m }
            }
            #[cfg(feature = "arm-dsp-layout")]
            TensorDesc::Int8ArmDsp { scales, data, .. } => {
                check_scales(tensor, scales, rows)?;
                let bytes = arm_dsp_layout::dense_bytes(rows, cols).ok_or(Error::SizeOverflow { tensor })?;
                expect_len(tensor, "data", data.len(), bytes)?;
                check_arm_dsp_dense(tensor, rows, cols, data)?;
                MatrixData::Int8ArmDsp { scales, data }
            }
            #[cfg(all(feature = "arm-dsp-layout", feature = "block-sparse"))]
            TensorDesc::Int8ArmDspBlock8x4 { scales, row_blocks, block_cols, blocks, .. } => {
                check_scales(tensor, scales, rows)?;
                let m = Block8x4::new_arm_dsp(rows, cols, row_blocks, block_cols, blocks).map_err(|e| block_error(tensor, e))?;
                check_arm_dsp_blocks(tensor, rows, cols, &m)?;
                MatrixData::Block8x4 { scales, m }
            }
            #[cfg(not(feature = "float-numerics"))]
            TensorDesc::F32 { .. } | TensorDesc::F16 { .. } => return Err(Error::NumericsNotBuiltIn { numerics: "float" }),
            #[cfg(not(feature = "arm-dsp-layout"))]
            TensorDesc::Int8ArmDsp { .. } | TensorDesc::Int8ArmDspBlock8x4 { .. } => {
                return Err(Error::LayoutNotBuiltIn { tensor, kind: desc.kind_name(), feature: "arm-dsp-layout" });
            }
            #[cfg(not(feature = "block-sparse"))]
            TensorDesc::Int8Block8x4 { .. } => {
                return Err(Error::LayoutNotBuiltIn { tensor, kind: desc.kind_name(), feature: "block-sparse" });
            }
            #[cfg(all(feature = "arm-dsp-layout", not(feature = "block-sparse")))]
            TensorDesc::Int8ArmDspBlock8x4 { .. } => {
                return Err(Error::LayoutNotBuiltIn { tensor, kind: desc.kind_name(), feature: "block-sparse" });
            }
        };
        Ok(Matrix { rows, cols, data })
    }

    /// Output rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The encoding: `f32`, `f16`, `int8`, `int8-block8x4`, `int8-arm-dsp` or `int8-arm-dsp-block8x4`.
    pub fn kind_name(&self) -> &'static str {
        match self.data {
            #[cfg(feature = "float-numerics")]
            MatrixData::F32(_) => "f32",
            #[cfg(feature = "float-numerics")]
            MatrixData::F16(_) => "f16",
            MatrixData::Int8 { .. } => "int8",
            #[cfg(feature = "arm-dsp-layout")]
            MatrixData::Int8ArmDsp { .. } => "int8-arm-dsp",
            #[cfg(feature = "block-sparse")]
            MatrixData::Block8x4 { m, .. } if m.is_arm_dsp() => "int8-arm-dsp-block8x4",
            #[cfg(feature = "block-sparse")]
            MatrixData::Block8x4 { .. } => "int8-block8x4",
        }
    }

    /// Whether products with this matrix use int8 arithmetic.
    pub fn is_int8(&self) -> bool {
        match self.data {
            #[cfg(feature = "float-numerics")]
            MatrixData::F32(_) | MatrixData::F16(_) => false,
            _ => true,
        }
    }

    /// Whether the matrix is in the arm-dsp layout (format version 3).
    pub fn is_arm_dsp(&self) -> bool {
        match self.data {
            #[cfg(feature = "arm-dsp-layout")]
            MatrixData::Int8ArmDsp { .. } => true,
            #[cfg(feature = "block-sparse")]
            MatrixData::Block8x4 { m, .. } => m.is_arm_dsp(),
            _ => false,
        }
    }

    /// Whether the matrix is stored block-sparse.
    pub fn is_sparse(&self) -> bool {
        match self.data {
            #[cfg(feature = "block-sparse")]
            MatrixData::Block8x4 { .. } => true,
            _ => false,
        }
    }

    /// Multiply-accumulates of one product with this matrix: `rows * cols`
    /// dense, 32 per stored 8x4 block sparse.
    pub fn macs(&self) -> usize {
        match self.data {
            #[cfg(feature = "block-sparse")]
            MatrixData::Block8x4 { m, .. } => m.block_count() * 32,
            _ => self.rows * self.cols,
        }
    }

    /// The int8 product alone, `acc[r] = sum_c W[r][c] * x[c]` in exact
    /// int32 arithmetic with the kernel set `isa`, as a step computes it
    /// before scaling (device benchmarks time it to split a step's cost).
    /// `x` holds `cols` values (zero-padded to a multiple of 4 for a sparse
    /// matrix) in [-127, 127]; `acc` at least `rows`. Returns `false`, and
    /// writes nothing, for a float matrix or buffers too short.
    pub fn product_i8(&self, isa: Isa, x: &[i8], acc: &mut [i32]) -> bool {
        if x.len() < self.cols || acc.len() < self.rows || !isa.is_available() {
            return false;
        }
        self.int8_product(isa, x, &mut acc[..self.rows]).is_some()
    }

    /// `acc = W q` by the kernel of this matrix's encoding, exact int32;
    /// returns the row scales (`None`, writing nothing, for a float matrix).
    /// `q` is zero-padded to a multiple of 4.
    #[inline(always)]
    fn int8_product(&self, isa: Isa, q: &[i8], acc: &mut [i32]) -> Option<&'a [u8]> {
        match self.data {
            MatrixData::Int8 { scales, data } => {
                kernels::matvec_i8(isa, data, self.cols, q, acc);
                Some(scales)
            }
            #[cfg(feature = "arm-dsp-layout")]
            MatrixData::Int8ArmDsp { scales, data } => {
                kernels::matvec_arm_dsp(isa, data, self.cols, q, acc);
                Some(scales)
            }
            #[cfg(feature = "block-sparse")]
            MatrixData::Block8x4 { scales, m } => {
                kernels::block8x4_i8(isa, &m, q, acc);
                Some(scales)
            }
            #[cfg(feature = "float-numerics")]
            MatrixData::F32(_) | MatrixData::F16(_) => None,
        }
    }

    /// Every sum of an int8 product with the matrix is below `2^bits` in
    /// magnitude: a row has at most `4 * ceil(cols / 4)` weights (padding
    /// and sparse column groups included), each in [-127, 127] (the loader
    /// checks), and a weight times an int8 input is below `2^14`.
    pub(crate) fn sum_bits(&self) -> u32 {
        14 + (self.cols.div_ceil(4) * 4).next_power_of_two().trailing_zeros()
    }

    /// Bytes the tensor occupies in the file (values, scales and indices).
    pub fn stored_bytes(&self) -> usize {
        match self.data {
            #[cfg(feature = "float-numerics")]
            MatrixData::F32(d) | MatrixData::F16(d) => d.len(),
            MatrixData::Int8 { scales, data } => scales.len() + data.len(),
            #[cfg(feature = "arm-dsp-layout")]
            MatrixData::Int8ArmDsp { scales, data } => scales.len() + data.len(),
            #[cfg(feature = "block-sparse")]
            MatrixData::Block8x4 { scales, m } => scales.len() + m.stored_bytes(),
        }
    }

    /// Fraction of weights stored (1.0 for dense; stored blocks / all blocks for sparse).
    pub fn density(&self) -> f32 {
        match self.data {
            #[cfg(feature = "block-sparse")]
            MatrixData::Block8x4 { m, .. } => {
                let all = m.row_block_count() * self.cols.div_ceil(4);
                if all == 0 {
                    0.0
                } else {
                    m.block_count() as f32 / all as f32
                }
            }
            _ => 1.0,
        }
    }
}

impl<'a> Matrix<'a> {
    /// Row `r` of a dense int8 matrix and the bits of its f32 scale; `None`
    /// for other encodings or a row out of range.
    pub(crate) fn int8_row(&self, r: usize) -> Option<(&[i8], u32)> {
        match self.data {
            MatrixData::Int8 { scales, data } => {
                let row = data.get(r.checked_mul(self.cols)?..)?.get(..self.cols)?;
                Some((row, u32_at(scales, r)))
            }
            // Unreachable in a build with no other encoding.
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The f32 LE scales of an int8 matrix, one per row (`None` for a float matrix).
    pub(crate) fn scales(&self) -> Option<&'a [u8]> {
        match self.data {
            MatrixData::Int8 { scales, .. } => Some(scales),
            #[cfg(feature = "arm-dsp-layout")]
            MatrixData::Int8ArmDsp { scales, .. } => Some(scales),
            #[cfg(feature = "block-sparse")]
            MatrixData::Block8x4 { scales, .. } => Some(scales),
            #[cfg(feature = "float-numerics")]
            MatrixData::F32(_) | MatrixData::F16(_) => None,
        }
    }

    /// Integer numerics: `out = W q * scale + bias` in Q.[`fixed::ACT_FRAC`],
    /// each value saturated to `[-limit, limit]`. `q` is an int8 input (zero-padded
    /// to a multiple of 4) whose real value is `q * x_mul`. Float matrices give zeros
    /// (the loader never pairs them with integer numerics).
    ///
    /// With the product's row table (format versions 5 and 6) the rows are
    /// requantized from it: the same bits, without decoding f32 values.
    #[inline(never)]
    pub(crate) fn matvec_fixed(&self, isa: Isa, q: &[i8], x_mul: Mul, requant: Requant<'_, '_>, limit: i32, out: &mut [i32]) {
        let out_len = self.rows.min(out.len());
        let out = &mut out[..out_len];
        let Some(scales) = self.int8_product(isa, q, out) else {
            out.iter_mut().for_each(|o| *o = 0);
            return;
        };
        // The loader checked that `scales`, `bias` and a table hold a value per row.
        let to_act = fixed::to_act(x_mul);
        match requant.table {
            Some(TableRows { table, product, from, per_step }) => {
                kernels::requantize_table(isa, out, table.part(product, from, out_len), per_step.then_some(to_act), limit)
            }
            None => kernels::requantize(isa, out, scales, requant.bias.bytes(), to_act, limit),
        }
    }
}

/// How a product's sums become outputs: by the matrix's scales and the
/// f32 bias, or by its part of the row tables (format versions 5 and 6).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Requant<'t, 'a> {
    /// The f32 bias (used with the matrix's f32 scales when there are no tables).
    pub bias: &'t Vector<'a>,
    /// The product's rows in the model's row tables.
    pub table: Option<TableRows<'t, 'a>>,
}

/// A product's rows in a model's row tables.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TableRows<'t, 'a> {
    /// The model's tables.
    pub table: &'t RowTable<'a>,
    /// Which product (in step order).
    pub product: usize,
    /// Its first row in the tables.
    pub from: usize,
    /// Whether its input scale is set per step.
    pub per_step: bool,
}

/// int8 weights are symmetric: -128 never occurs (the SIMD kernels rely on it).
fn check_int8_range(tensor: TensorName, data: &[u8]) -> Result<()> {
    match data.iter().position(|&b| b == 0x80) {
        Some(index) => Err(Error::Int8OutOfRange { tensor, index }),
        None => Ok(()),
    }
}

#[cfg(feature = "arm-dsp-layout")]
/// A dense arm-dsp layout matrix holds values in [-127, 127] and zeros wherever its
/// quads and groups pad it (the kernels read the padding).
fn check_arm_dsp_dense(tensor: TensorName, rows: usize, cols: usize, data: &[u8]) -> Result<()> {
    let groups = cols.div_ceil(4);
    for r in 0..rows.div_ceil(4) * 4 {
        for c in 0..4 * groups {
            let at = arm_dsp_layout::dense_offset(groups, r, c);
            check_arm_dsp_value(tensor, data, at, r < rows && c < cols)?;
        }
    }
    Ok(())
}

#[cfg(all(feature = "arm-dsp-layout", feature = "block-sparse"))]
/// An arm-dsp layout block holds values in [-127, 127], and zeros in rows and columns
/// past the matrix.
fn check_arm_dsp_blocks(tensor: TensorName, rows: usize, cols: usize, m: &Block8x4<'_>) -> Result<()> {
    let mut first = 0;
    for b in 0..m.row_block_count() {
        for (k, (g, block)) in m.row_block(b).enumerate() {
            let block: &[u8] = bytemuck::cast_slice(block);
            for (i, j) in (0..8).flat_map(|i| (0..4).map(move |j| (i, j))) {
                let inside = 8 * b + i < rows && 4 * g + j < cols;
                check_arm_dsp_value(tensor, block, arm_dsp_layout::block_offset(i, j), inside)
                    .map_err(|_| Error::ArmDspValue { tensor, index: (first + k) * 32 + arm_dsp_layout::block_offset(i, j) / 2 })?;
            }
        }
        first += m.blocks_of(b).len();
    }
    Ok(())
}

#[cfg(feature = "arm-dsp-layout")]
fn check_arm_dsp_value(tensor: TensorName, data: &[u8], at: usize, inside: bool) -> Result<()> {
    let v = arm_dsp_layout::value_at(data, at);
    if (inside && (-127..=127).contains(&v)) || v == 0 {
        Ok(())
    } else {
        Err(Error::ArmDspValue { tensor, index: at / 2 })
    }
}

#[cfg(feature = "block-sparse")]
fn block_error(tensor: TensorName, e: Block8x4Error) -> Error {
    match e {
        Block8x4Error::Length { part, expected, found } => Error::TensorLength { tensor, part, expected, found },
        Block8x4Error::Overflow => Error::SizeOverflow { tensor },
        Block8x4Error::Index { row_block, value, limit } => Error::SparseIndex { tensor, row_block, value, limit },
    }
}

/// An f32 vector (a bias) borrowed from the model bytes.
#[derive(Debug, Clone, Copy)]
pub struct Vector<'a>(&'a [u8]);

impl<'a> Vector<'a> {
    /// An empty vector (a placeholder before loading fills it in).
    pub(crate) const EMPTY: Vector<'static> = Vector(&[]);

    /// Checks length and that every value is finite.
    pub(crate) fn from_bytes(bytes: &'a [u8], tensor: TensorName, len: usize) -> Result<Self> {
        expect_len(tensor, "data", bytes.len(), checked_bytes(tensor, len, 1, 4)?)?;
        if let Some(row) = (0..len).find(|&i| !f32_at(bytes, i).is_finite()) {
            return Err(Error::NonFinite { tensor, index: row });
        }
        Ok(Vector(bytes))
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.0.len() / 4
    }

    /// Whether the vector is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Value `i` (0.0 past the end).
    pub fn get(&self, i: usize) -> f32 {
        f32_at(self.0, i)
    }

    /// The values as f32 LE bytes.
    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.0
    }

    /// `out[i] += self[i]`.
    #[cfg(feature = "float-numerics")]
    #[inline(always)]
    pub(crate) fn add_to(&self, out: &mut [f32]) {
        for (o, b) in out.iter_mut().zip(self.0.chunks_exact(4)) {
            *o += f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sums_of_a_product_are_within_its_bound() {
        for cols in [1usize, 3, 4, 5, 16, 17, 64, 100, 256, 1000, 4096] {
            let m = Matrix { rows: 1, cols, data: MatrixData::Int8 { scales: &[], data: &[] } };
            // The largest sum: every padded column a weight of 127 times an input of -128.
            let worst = (cols.div_ceil(4) * 4) as u64 * 127 * 128;
            assert!(worst < 1 << m.sum_bits(), "cols {cols}: {worst} reaches 2^{}", m.sum_bits());
            assert!(m.sum_bits() <= 14 + 1 + cols.ilog2() + 2, "cols {cols}: a loose bound");
        }
    }

    #[test]
    fn sizes_that_overflow_are_errors() {
        assert_eq!(checked_bytes(TensorName::Dense(0), usize::MAX / 2, 3, 1), Err(Error::SizeOverflow { tensor: TensorName::Dense(0) }));
        assert_eq!(checked_bytes(TensorName::Dense(0), usize::MAX / 8, 1, 16), Err(Error::SizeOverflow { tensor: TensorName::Dense(0) }));
        assert_eq!(checked_bytes(TensorName::Dense(0), 3, 5, 4), Ok(60));
    }
}
