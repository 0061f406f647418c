//! Validated views of the weight tensors, and the matrix-vector product that
//! every layer uses.

use crate::error::{Error, Result, TensorName};
use crate::fixed::{self, Mul};
use crate::format::TensorDesc;
use crate::kernels::{self, arm_dsp_layout, Block8x4, Block8x4Error, Isa};
use crate::le::{f32_at, u32_at};

/// How the input vector of an int8 product is quantized.
#[derive(Debug, Clone, Copy)]
pub(crate) enum InputScale {
    /// `scale = max|x| / 127`, per call.
    Dynamic,
    /// A fixed scale (the GRU state lies in (-1, 1): `1/127`).
    Fixed(f32),
}

/// Scale used for the GRU state `h`, whose values lie in (-1, 1).
pub(crate) const STATE_SCALE: f32 = 1.0 / 127.0;

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
    F32(&'a [u8]),
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
    pub(crate) const EMPTY: Matrix<'static> = Matrix { rows: 0, cols: 0, data: MatrixData::F32(&[]) };

    /// Checks a tensor against the shape the model needs.
    pub(crate) fn from_desc(desc: &TensorDesc<'a>, tensor: TensorName, rows: usize, cols: usize) -> Result<Self> {
        let (fr, fc) = desc.shape();
        if (fr as usize, fc as usize) != (rows, cols) {
            return Err(Error::TensorShape { tensor, expected: (rows as u32, cols as u32), found: (fr, fc) });
        }
        let data = match *desc {
            TensorDesc::F32 { data, .. } => {
                expect_len(tensor, "data", data.len(), checked_bytes(tensor, rows, cols, 4)?)?;
                MatrixData::F32(data)
            }
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
            #[cfg(feature = "arm-dsp-layout")]
            TensorDesc::Int8ArmDspBlock8x4 { scales, row_blocks, block_cols, blocks, .. } => {
                check_scales(tensor, scales, rows)?;
                let m = Block8x4::new_arm_dsp(rows, cols, row_blocks, block_cols, blocks).map_err(|e| block_error(tensor, e))?;
                check_arm_dsp_blocks(tensor, rows, cols, &m)?;
                MatrixData::Block8x4 { scales, m }
            }
            #[cfg(not(feature = "arm-dsp-layout"))]
            TensorDesc::Int8ArmDsp { .. } | TensorDesc::Int8ArmDspBlock8x4 { .. } => {
                return Err(Error::LayoutNotBuiltIn { tensor, kind: desc.kind_name() });
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
            MatrixData::F32(_) => "f32",
            MatrixData::F16(_) => "f16",
            MatrixData::Int8 { .. } => "int8",
            #[cfg(feature = "arm-dsp-layout")]
            MatrixData::Int8ArmDsp { .. } => "int8-arm-dsp",
            MatrixData::Block8x4 { m, .. } if m.is_arm_dsp() => "int8-arm-dsp-block8x4",
            MatrixData::Block8x4 { .. } => "int8-block8x4",
        }
    }

    /// Whether products with this matrix use int8 arithmetic.
    pub fn is_int8(&self) -> bool {
        !matches!(self.data, MatrixData::F32(_) | MatrixData::F16(_))
    }

    /// Whether the matrix is in the arm-dsp layout (format version 3).
    pub fn is_arm_dsp(&self) -> bool {
        match self.data {
            #[cfg(feature = "arm-dsp-layout")]
            MatrixData::Int8ArmDsp { .. } => true,
            MatrixData::Block8x4 { m, .. } => m.is_arm_dsp(),
            _ => false,
        }
    }

    /// Whether the matrix is stored block-sparse.
    pub fn is_sparse(&self) -> bool {
        matches!(self.data, MatrixData::Block8x4 { .. })
    }

    /// Multiply-accumulates of one product with this matrix: `rows * cols`
    /// dense, 32 per stored 8x4 block sparse.
    pub fn macs(&self) -> usize {
        match self.data {
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
            MatrixData::Block8x4 { scales, m } => {
                kernels::block8x4_i8(isa, &m, q, acc);
                Some(scales)
            }
            MatrixData::F32(_) | MatrixData::F16(_) => None,
        }
    }

    /// Bytes the tensor occupies in the file (values, scales and indices).
    pub fn stored_bytes(&self) -> usize {
        match self.data {
            MatrixData::F32(d) | MatrixData::F16(d) => d.len(),
            MatrixData::Int8 { scales, data } => scales.len() + data.len(),
            #[cfg(feature = "arm-dsp-layout")]
            MatrixData::Int8ArmDsp { scales, data } => scales.len() + data.len(),
            MatrixData::Block8x4 { scales, m } => scales.len() + m.stored_bytes(),
        }
    }

    /// Fraction of weights stored (1.0 for dense; stored blocks / all blocks for sparse).
    pub fn density(&self) -> f32 {
        match self.data {
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

    /// Writes row `r`, dequantized to f32, into `out[..cols]`.
    // Inlined where the element-wise loops vectorize (x86-64, aarch64: into
    // each instruction-set variant of the step); one copy elsewhere, where
    // code size matters more (Cortex-M).
    #[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), inline(always))]
    #[cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64")), inline(never))]
    pub(crate) fn row_into(&self, r: usize, out: &mut [f32]) {
        let n = self.cols.min(out.len());
        let start = r.saturating_mul(self.cols);
        match self.data {
            MatrixData::F32(d) => {
                for (c, o) in out[..n].iter_mut().enumerate() {
                    *o = f32_at(d, start + c);
                }
            }
            MatrixData::F16(d) => {
                for (c, o) in out[..n].iter_mut().enumerate() {
                    let i = (start + c) * 2;
                    *o = d.get(i..i + 2).map_or(0.0, |b| half::f16::from_le_bytes([b[0], b[1]]).to_f32());
                }
            }
            MatrixData::Int8 { scales, data } => {
                let s = f32_at(scales, r);
                for (c, o) in out[..n].iter_mut().enumerate() {
                    *o = data.get(start + c).map_or(0.0, |&q| q as f32 * s);
                }
            }
            #[cfg(feature = "arm-dsp-layout")]
            MatrixData::Int8ArmDsp { scales, data } => {
                let (s, groups) = (f32_at(scales, r), self.cols.div_ceil(4));
                for (c, o) in out[..n].iter_mut().enumerate() {
                    *o = arm_dsp_layout::value_at(data, arm_dsp_layout::dense_offset(groups, r, c)) as f32 * s;
                }
            }
            MatrixData::Block8x4 { scales, m } => {
                let s = f32_at(scales, r);
                out[..n].iter_mut().for_each(|o| *o = 0.0);
                let i = r % 8;
                for (g, block) in m.row_block(r / 8) {
                    let c0 = g.saturating_mul(4);
                    for j in 0..4 {
                        let q = if m.is_arm_dsp() {
                            arm_dsp_layout::value_at(bytemuck::cast_slice(block), arm_dsp_layout::block_offset(i, j))
                        } else {
                            block.get(i * 4 + j).map_or(0, |&q| q as i16)
                        };
                        if let Some(o) = out[..n].get_mut(c0.saturating_add(j)) {
                            *o = q as f32 * s;
                        }
                    }
                }
            }
        }
    }

    /// `out = W x + bias` over `out[..rows]`, with int8 products quantizing `x` as `scale` says.
    // Inlined where the element-wise loops vectorize (x86-64, aarch64: into
    // each instruction-set variant of the step); one copy elsewhere, where
    // code size matters more (Cortex-M).
    #[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), inline(always))]
    #[cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64")), inline(never))]
    pub(crate) fn matvec(&self, isa: Isa, x: &[f32], scale: InputScale, bias: &Vector<'_>, scratch: &mut Scratch<'_>, out: &mut [f32]) {
        let x = &x[..self.cols.min(x.len())];
        let out_len = self.rows.min(out.len());
        let out = &mut out[..out_len];
        match self.data {
            MatrixData::F32(d) => {
                kernels::matvec_f32(isa, d, self.cols, x, out);
                bias.add_to(out);
            }
            MatrixData::F16(d) => {
                kernels::matvec_f16(d, self.cols, x, out);
                bias.add_to(out);
            }
            _ => {
                let sx = quantize_into(x, scale, scratch.q);
                let padded = (x.len().div_ceil(4) * 4).min(scratch.q.len());
                let acc_len = out_len.min(scratch.acc.len());
                let acc = &mut scratch.acc[..acc_len];
                if let Some(scales) = self.int8_product(isa, &scratch.q[..padded], acc) {
                    dequantize_add(acc, scales, sx, bias, out);
                }
            }
        }
    }
}

impl Matrix<'_> {
    /// Row `r` of a dense int8 matrix and the bits of its f32 scale; `None`
    /// for other encodings or a row out of range.
    pub(crate) fn int8_row(&self, r: usize) -> Option<(&[i8], u32)> {
        match self.data {
            MatrixData::Int8 { scales, data } => {
                let row = data.get(r.checked_mul(self.cols)?..)?.get(..self.cols)?;
                Some((row, u32_at(scales, r)))
            }
            _ => None,
        }
    }

    /// Integer numerics: `out = W q * scale + bias` in Q.[`fixed::ACT_FRAC`],
    /// each value saturated to `[-limit, limit]`. `q` is an int8 input (zero-padded
    /// to a multiple of 4) whose real value is `q * x_mul`. Float matrices give zeros
    /// (the loader never pairs them with integer numerics).
    pub(crate) fn matvec_fixed(&self, isa: Isa, q: &[i8], x_mul: Mul, bias: &Vector<'_>, limit: i32, out: &mut [i32]) {
        let out_len = self.rows.min(out.len());
        let out = &mut out[..out_len];
        let Some(scales) = self.int8_product(isa, q, out) else {
            out.iter_mut().for_each(|o| *o = 0);
            return;
        };
        // The loader checked that `scales` and `bias` hold a value per row.
        let to_act = x_mul.times(Mul::pow2(fixed::ACT_FRAC as i32));
        kernels::requantize(isa, out, scales, bias.bytes(), to_act, limit);
    }
}

/// `out[r] = acc[r] * (scale[r] * sx) + bias[r]`, two roundings as two
/// separate steps would make (no fused multiply-add), in one pass.
#[inline(always)]
fn dequantize_add(acc: &[i32], scales: &[u8], sx: f32, bias: &Vector<'_>, out: &mut [f32]) {
    let rows = out.len().min(acc.len()).min(scales.len() / 4).min(bias.0.len() / 4);
    for (((o, &a), s), b) in out[..rows].iter_mut().zip(acc).zip(scales.chunks_exact(4)).zip(bias.0.chunks_exact(4)) {
        *o = a as f32 * (f32::from_le_bytes([s[0], s[1], s[2], s[3]]) * sx) + f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

/// The largest `|v|` of `x` that is not NaN (0 if none). On targets with
/// SIMD, eight running maxima combined at the end: the same value as one
/// sequential fold (a maximum does not depend on the order), but the loop
/// vectorizes; elsewhere (Cortex-M) the fold itself, which is smaller code.
#[inline(always)]
fn max_abs(x: &[f32]) -> f32 {
    let keep_larger = |m: f32, v: f32| if v > m { v } else { m };
    if !cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        return x.iter().fold(0.0f32, |m, &v| keep_larger(m, v.abs()));
    }
    let mut lanes = [0.0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (m, &v) in lanes.iter_mut().zip(chunk) {
            *m = keep_larger(*m, v.abs());
        }
    }
    let lanes_max = lanes.iter().fold(0.0f32, |m, &v| keep_larger(m, v));
    rest.iter().fold(lanes_max, |m, &v| keep_larger(m, v.abs()))
}

/// Quantizes `x` into `q` (values in [-127, 127], the rest of `q` up to a
/// multiple of 4 zeroed) and returns the scale: `x[i] ~= q[i] * scale`.
#[inline(always)]
pub(crate) fn quantize_into(x: &[f32], scale: InputScale, q: &mut [i8]) -> f32 {
    let s = match scale {
        InputScale::Fixed(s) => s,
        InputScale::Dynamic => {
            let max = max_abs(x);
            // NaN inputs leave max untouched; an infinite input gives scale 1.
            if max > 0.0 && max.is_finite() {
                max / 127.0
            } else {
                1.0
            }
        }
    };
    let inv = 1.0 / s;
    for (qi, &v) in q.iter_mut().zip(x) {
        // Clamp, then round half to even; NaN gives 0.
        *qi = crate::math::round_half_even_i32(v * inv, 127.0) as i8;
    }
    let padded = x.len().div_ceil(4) * 4;
    if let Some(pad) = q.get_mut(x.len()..padded.min(q.len())) {
        pad.iter_mut().for_each(|v| *v = 0);
    }
    s
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

#[cfg(feature = "arm-dsp-layout")]
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
    fn sizes_that_overflow_are_errors() {
        assert_eq!(checked_bytes(TensorName::Dense(0), usize::MAX / 2, 3, 1), Err(Error::SizeOverflow { tensor: TensorName::Dense(0) }));
        assert_eq!(checked_bytes(TensorName::Dense(0), usize::MAX / 8, 1, 16), Err(Error::SizeOverflow { tensor: TensorName::Dense(0) }));
        assert_eq!(checked_bytes(TensorName::Dense(0), 3, 5, 4), Ok(60));
    }

    #[test]
    fn max_abs_equals_a_sequential_fold() {
        let mut rng = crate::sampling::Rng::new(9);
        for len in [0usize, 1, 7, 8, 9, 64, 113, 256, 257] {
            for special in [None, Some(f32::NAN), Some(f32::INFINITY), Some(f32::NEG_INFINITY), Some(-0.0)] {
                let mut x: [f32; 257] = core::array::from_fn(|_| (rng.next_f32() - 0.5) * 8.0);
                if let (Some(v), true) = (special, len > 0) {
                    x[len / 2] = v;
                    x[len - 1] = v;
                }
                let x = &x[..len];
                let want = x.iter().fold(0.0f32, |m, v| if v.abs() > m { v.abs() } else { m });
                assert_eq!(max_abs(x).to_bits(), want.to_bits(), "len {len}, {special:?}");
            }
        }
    }

    #[test]
    fn quantized_inputs_never_hold_minus_128() {
        let x = [-1.0, 1.0, -0.999, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0];
        let mut q = [99i8; 8];
        let s = quantize_into(&x, InputScale::Fixed(STATE_SCALE), &mut q);
        assert_eq!(s, STATE_SCALE);
        assert_eq!(q, [-127, 127, -127, 0, 127, -127, 0, 0]);
        let s = quantize_into(&[0.5, -2.0, 1.0], InputScale::Dynamic, &mut q);
        assert_eq!(s, 2.0 / 127.0);
        assert_eq!(&q[..4], &[32, -127, 64, 0]);
    }
}
