//! The float side of a matrix: rows as f32 (embeddings), and `W x + b` over
//! an f32 vector (float weights, or int8 weights with the input quantized
//! per call). Built with the `float-numerics` feature (hosts always).

use super::{Matrix, MatrixData, Scratch, Vector};
use crate::kernels::{self, Isa};
use crate::le::f32_at;

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

impl Matrix<'_> {
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
                    *o = kernels::arm_dsp_layout::value_at(data, kernels::arm_dsp_layout::dense_offset(groups, r, c)) as f32 * s;
                }
            }
            #[cfg(feature = "block-sparse")]
            MatrixData::Block8x4 { scales, m } => {
                let s = f32_at(scales, r);
                out[..n].iter_mut().for_each(|o| *o = 0.0);
                let i = r % 8;
                for (g, block) in m.row_block(r / 8) {
                    let c0 = g.saturating_mul(4);
                    for j in 0..4 {
                        let q = if m.is_arm_dsp() {
                            kernels::arm_dsp_layout::value_at(bytemuck::cast_slice(block), kernels::arm_dsp_layout::block_offset(i, j))
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
                let sx = quantize_into(isa, x, scale, scratch.q);
                let padded = (x.len().div_ceil(4) * 4).min(scratch.q.len());
                let acc_len = out_len.min(scratch.acc.len());
                let acc = &mut scratch.acc[..acc_len];
                if let Some(scales) = self.int8_product(isa, &scratch.q[..padded], acc) {
                    kernels::dequantize_add(isa, acc, scales, sx, bias.0, out);
                }
            }
        }
    }
}

/// Quantizes `x` into `q` (values in [-127, 127], the rest of `q` up to a
/// multiple of 4 zeroed) and returns the scale: `x[i] ~= q[i] * scale`.
#[inline(always)]
pub(crate) fn quantize_into(isa: Isa, x: &[f32], scale: InputScale, q: &mut [i8]) -> f32 {
    let s = match scale {
        InputScale::Fixed(s) => s,
        InputScale::Dynamic => {
            let max = kernels::max_abs(isa, x);
            // NaN inputs leave max untouched; an infinite input gives scale 1.
            if max > 0.0 && max.is_finite() {
                max / 127.0
            } else {
                1.0
            }
        }
    };
    kernels::quantize_f32(isa, x, 1.0 / s, q);
    let padded = x.len().div_ceil(4) * 4;
    if let Some(pad) = q.get_mut(x.len()..padded.min(q.len())) {
        pad.iter_mut().for_each(|v| *v = 0);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantized_inputs_never_hold_minus_128() {
        let x = [-1.0, 1.0, -0.999, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0];
        let mut q = [99i8; 8];
        let s = quantize_into(Isa::Scalar, &x, InputScale::Fixed(STATE_SCALE), &mut q);
        assert_eq!(s, STATE_SCALE);
        assert_eq!(q, [-127, 127, -127, 0, 127, -127, 0, 0]);
        let s = quantize_into(Isa::Scalar, &[0.5, -2.0, 1.0], InputScale::Dynamic, &mut q);
        assert_eq!(s, 2.0 / 127.0);
        assert_eq!(&q[..4], &[32, -127, 64, 0]);
    }
}
