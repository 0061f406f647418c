//! Matrix-vector kernels and their dispatch.
//!
//! Every kernel has a portable scalar version in [`scalar`], always compiled
//! and the reference that the SIMD versions are tested against. Integer sums
//! are exact, so SIMD and scalar int8 results are equal bit for bit.
//!
//! Kernels never read out of bounds: the safe entry points here clamp the
//! work to what the slices hold (loading a model has already checked that the
//! shapes agree, so on valid models nothing is clamped).

use crate::le::u32_at;

pub mod arm_dsp_layout;
pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86_fixed;

#[cfg(target_arch = "aarch64")]
pub(crate) mod aarch64;
#[cfg(target_arch = "aarch64")]
pub(crate) mod aarch64_fixed;

#[cfg(edgegru_dsp)]
pub(crate) mod arm;

#[cfg(edgegru_thumb)]
pub(crate) mod thumb;

/// A set of kernels, named after the instructions they use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Isa {
    /// Portable Rust, every target.
    Scalar,
    /// x86-64 AVX2 + FMA.
    Avx2,
    /// x86-64 AVX2 + FMA with `vpdpbusd` (AVX-512 VNNI with VL, or AVX-VNNI).
    Vnni,
    /// aarch64 Advanced SIMD.
    Neon,
    /// aarch64 Advanced SIMD with `sdot` (the dotprod extension).
    NeonDot,
    /// Cortex-M without the DSP extension (M0, M0+, M3, M23): Thumb-1 loops
    /// that load each input once for three rows. Chosen at compile time (see
    /// `runtime/build.rs`).
    Thumb,
    /// Cortex-M with the DSP extension (M4, M7, M33, M55): `SXTB16` + `SMLAD`,
    /// two 16-bit multiply-accumulates per instruction. Chosen at compile time
    /// (see `runtime/build.rs`).
    Dsp,
    /// Cortex-M with Helium, the M-profile vector extension (M55, M85):
    /// `VMLADAVA.S8`, sixteen int8 multiply-accumulates per instruction.
    /// Chosen at compile time (see `runtime/build.rs`).
    Helium,
}

impl Isa {
    /// Every kernel set, from portable to most specialised.
    pub const ALL: [Isa; 8] = [Isa::Scalar, Isa::Avx2, Isa::Vnni, Isa::Neon, Isa::NeonDot, Isa::Thumb, Isa::Dsp, Isa::Helium];

    /// Name used by `EDGEGRU_KERNEL` and in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Vnni => "vnni",
            Isa::Neon => "neon",
            Isa::NeonDot => "neon-dot",
            Isa::Thumb => "thumb",
            Isa::Dsp => "dsp",
            Isa::Helium => "helium",
        }
    }

    /// The kernel set with this name.
    pub fn from_name(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|isa| isa.name() == name)
    }

    /// Whether this CPU (at run time with `std`, else as compiled) can run it.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => x86::has_avx2(),
            #[cfg(target_arch = "x86_64")]
            Isa::Vnni => x86::has_vnni(),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => true,
            #[cfg(target_arch = "aarch64")]
            Isa::NeonDot => aarch64::has_dotprod(),
            #[cfg(edgegru_thumb)]
            Isa::Thumb => true,
            #[cfg(edgegru_dsp)]
            Isa::Dsp => true,
            #[cfg(edgegru_helium)]
            Isa::Helium => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The fastest available kernel set. With `std`, the environment variable
    /// `EDGEGRU_KERNEL` (`scalar`, `avx2`, `vnni`, `neon`, `neon-dot`) caps the
    /// choice, for comparisons; an unavailable or unknown name is ignored.
    pub fn detect() -> Isa {
        #[cfg(feature = "std")]
        if let Ok(name) = std::env::var("EDGEGRU_KERNEL") {
            if let Some(isa) = Isa::from_name(name.trim()) {
                if isa.is_available() {
                    return isa;
                }
            }
        }
        Isa::best()
    }

    /// The fastest kernel set this CPU runs, ignoring the environment.
    pub fn best() -> Isa {
        [Isa::Vnni, Isa::Avx2, Isa::NeonDot, Isa::Neon, Isa::Helium, Isa::Dsp, Isa::Thumb]
            .into_iter()
            .find(|isa| isa.is_available())
            .unwrap_or(Isa::Scalar)
    }
}

/// Requantizes the sums of an integer product in place, row by row as
/// [`crate::fixed::requantize_row`] defines: `acc[r]` (int8 inputs worth
/// `to_act * 2^-ACT_FRAC` each) with the f32 LE `scales[r]` and `bias[r]`,
/// saturated to `[-limit, limit]` (a limit outside `1..2^30` is the
/// definition's throughout). Rows past either
/// table are left as they are.
pub fn requantize(isa: Isa, acc: &mut [i32], scales: &[u8], bias: &[u8], to_act: crate::fixed::Mul, limit: i32) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Vnni => x86_fixed::requantize(acc, scales, bias, to_act, limit),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon | Isa::NeonDot => aarch64_fixed::requantize(acc, scales, bias, to_act, limit),
        _ => scalar::requantize(acc, scales, bias, to_act, limit),
    }
}

pub use crate::tensor::{row_entry, RowInput, RowsRef};

/// Requantizes product sums by a product's row table (format versions 5 and 6;
/// see [`scalar::requantize_table`], the definition): the same bits as
/// [`requantize`] with the scales and bias the table was derived from.
/// `step` is the step's input multiplier for a table whose input scale is
/// set per step, `None` for one whose input scale the file fixes.
pub fn requantize_table(isa: Isa, acc: &mut [i32], t: RowsRef<'_>, step: Option<crate::fixed::Mul>, limit: i32) {
    match isa {
        #[cfg(edgegru_helium)]
        Isa::Helium => arm::helium_fixed::requantize_table(acc, t, step, limit),
        #[cfg(edgegru_dsp)]
        Isa::Dsp => arm::dsp_rows::requantize_table(acc, t, step, limit),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86_fixed::requantize_table(acc, t, step, limit, false),
        #[cfg(target_arch = "x86_64")]
        Isa::Vnni => x86_fixed::requantize_table(acc, t, step, limit, true),
        #[cfg(edgegru_thumb)]
        Isa::Thumb => thumb::requantize_table(acc, t, step, limit),
        _ => scalar::requantize_table(acc, t, step, limit),
    }
}

/// The Q15 state as the int8 input of a product (see
/// [`scalar::quantize_state`], the definition), for the values both hold.
pub fn quantize_state(isa: Isa, h: &[i16], q: &mut [i8]) {
    match isa {
        #[cfg(edgegru_helium)]
        Isa::Helium => arm::helium_fixed::quantize_state(h, q),
        #[cfg(edgegru_dsp)]
        Isa::Dsp => arm::dsp_gru::quantize_state(h, q),
        _ => scalar::quantize_state(h, q),
    }
}

/// The Q15 state as f32 (see [`scalar::state_to_f32`], the definition),
/// for the values both hold.
pub fn state_to_f32(isa: Isa, h: &[i16], out: &mut [f32]) {
    match isa {
        #[cfg(edgegru_fpu)]
        Isa::Dsp => arm::dsp_gru::state_to_f32(h, out),
        _ => scalar::state_to_f32(h, out),
    }
}

/// `q[i] = mul * d[i]`, rounded and clamped to ±127 (see
/// [`scalar::scale_to_int8`], the definition), for the values both hold.
pub fn scale_to_int8(isa: Isa, d: &[i32], mul: crate::fixed::Mul, q: &mut [i8]) {
    match isa {
        #[cfg(edgegru_dsp)]
        Isa::Dsp => arm::dsp_gru::scale_to_int8(d, mul, q),
        #[cfg(edgegru_thumb)]
        Isa::Thumb => thumb::scale_to_int8(d, mul, q),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Vnni => x86_fixed::scale_to_int8(d, mul, q),
        _ => scalar::scale_to_int8(d, mul, q),
    }
}

/// The GRU update of the integer-only numerics (gates z, r, n; see
/// [`scalar::gru_update_fixed`], the definition): `gx = W x + b_w` and
/// `gh = U h + b_u` in Q.12 hold `3 * h.len()` values each, `h` the state in Q15.
pub fn gru_update_fixed(isa: Isa, h: &mut [i16], gx: &[i32], gh: &[i32]) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Vnni => x86_fixed::gru_update(h, gx, gh),
        #[cfg(edgegru_helium)]
        Isa::Helium => arm::helium_fixed::gru_update(h, gx, gh),
        #[cfg(edgegru_dsp)]
        Isa::Dsp => arm::dsp_gru::gru_update(h, gx, gh),
        _ => scalar::gru_update_fixed(h, gx, gh),
    }
}

/// The GRU update of the float and hybrid numerics (see
/// [`scalar::gru_update_float`], the definition): `gx` and `gh` hold
/// `3 * h.len()` values each and are overwritten.
#[inline(always)]
pub fn gru_update_float(isa: Isa, h: &mut [f32], gx: &mut [f32], gh: &mut [f32]) {
    match isa {
        #[cfg(edgegru_helium)]
        Isa::Helium => arm::helium_float::gru_update(h, gx, gh),
        #[cfg(all(edgegru_fpu, feature = "float-numerics"))]
        Isa::Dsp => arm::fpu_float::gru_update(h, gx, gh),
        _ => scalar::gru_update_float(h, gx, gh),
    }
}

/// The largest `|v|` of `x` that is not NaN, 0 if none (see
/// [`scalar::max_abs`], the definition).
#[inline(always)]
pub fn max_abs(isa: Isa, x: &[f32]) -> f32 {
    match isa {
        #[cfg(edgegru_helium)]
        Isa::Helium => arm::helium_float::max_abs(x),
        #[cfg(all(edgegru_fpu, feature = "float-numerics"))]
        Isa::Dsp => arm::fpu_float::max_abs(x),
        _ => scalar::max_abs(x),
    }
}

/// `v = max(v, 0)` in place, NaN to +0 (see [`scalar::relu`], the definition).
#[inline(always)]
pub fn relu(isa: Isa, v: &mut [f32]) {
    match isa {
        #[cfg(all(edgegru_fpu, feature = "float-numerics"))]
        Isa::Dsp => arm::fpu_float::relu(v),
        _ => scalar::relu(v),
    }
}

/// An int8 product's input from f32 values: `x * inv` clamped to ±127 and
/// rounded half to even, NaN to 0 (see [`scalar::quantize_f32`], the
/// definition), for the values both hold.
#[inline(always)]
pub fn quantize_f32(isa: Isa, x: &[f32], inv: f32, q: &mut [i8]) {
    match isa {
        #[cfg(edgegru_helium)]
        Isa::Helium => arm::helium_float::quantize_f32(x, inv, q),
        #[cfg(all(edgegru_fpu, feature = "float-numerics"))]
        Isa::Dsp => arm::fpu_float::quantize_f32(x, inv, q),
        _ => scalar::quantize_f32(x, inv, q),
    }
}

/// An int8 product's sums back to f32, `acc[r] * (scale[r] * sx) + bias[r]`
/// (see [`scalar::dequantize_add`], the definition).
#[inline(always)]
pub fn dequantize_add(isa: Isa, acc: &[i32], scales: &[u8], sx: f32, bias: &[u8], out: &mut [f32]) {
    match isa {
        #[cfg(edgegru_helium)]
        Isa::Helium => arm::helium_float::dequantize_add(acc, scales, sx, bias, out),
        #[cfg(all(edgegru_fpu, feature = "float-numerics"))]
        Isa::Dsp => arm::fpu_float::dequantize_add(acc, scales, sx, bias, out),
        _ => scalar::dequantize_add(acc, scales, sx, bias, out),
    }
}

/// `out[r] = sum_c w[r][c] * x[c]` for f32 LE weights in `w` (row-major).
pub fn matvec_f32(isa: Isa, w: &[u8], cols: usize, x: &[f32], out: &mut [f32]) {
    let cols = cols.min(x.len());
    if cols == 0 {
        out.iter_mut().for_each(|o| *o = 0.0);
        return;
    }
    let rows = out.len().min(w.len() / (cols * 4));
    let (w, out, x) = (&w[..rows * cols * 4], &mut out[..rows], &x[..cols]);
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Vnni if x86::has_avx2() => x86::matvec_f32(w, cols, x, out),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon | Isa::NeonDot => aarch64::matvec_f32(w, cols, x, out),
        _ => scalar::matvec_f32(w, cols, x, out),
    }
}

/// `out[r] = sum_c w[r][c] * x[c]` for f16 LE weights (scalar on every target).
pub fn matvec_f16(w: &[u8], cols: usize, x: &[f32], out: &mut [f32]) {
    let cols = cols.min(x.len());
    if cols == 0 {
        out.iter_mut().for_each(|o| *o = 0.0);
        return;
    }
    let rows = out.len().min(w.len() / (cols * 2));
    scalar::matvec_f16(&w[..rows * cols * 2], cols, &x[..cols], &mut out[..rows]);
}

/// `acc[r] = sum_c w[r][c] * x[c]` in exact int32 arithmetic, int8 row-major `w`.
///
/// `w` and `x` must lie in [-127, 127] (the loader refuses -128 weights, the
/// quantizer clamps inputs): the x86 kernels multiply `|x|` by `w` with the
/// sign of `x`, and -(-128) is not an int8.
pub fn matvec_i8(isa: Isa, w: &[i8], cols: usize, x: &[i8], acc: &mut [i32]) {
    let cols = cols.min(x.len());
    if cols == 0 {
        acc.iter_mut().for_each(|a| *a = 0);
        return;
    }
    // (A division only for a short `w`: cores without a divide instruction
    // call a routine for it.)
    let rows = match acc.len().checked_mul(cols) {
        Some(n) if n <= w.len() => acc.len(),
        _ => acc.len().min(w.len() / cols),
    };
    let (w, acc, x) = (&w[..rows * cols], &mut acc[..rows], &x[..cols]);
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Vnni if x86::has_vnni() => x86::matvec_i8_vnni(w, cols, x, acc),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Vnni if x86::has_avx2() => x86::matvec_i8_avx2(w, cols, x, acc),
        #[cfg(target_arch = "aarch64")]
        Isa::NeonDot if aarch64::has_dotprod() => aarch64::matvec_i8_dot(w, cols, x, acc),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon | Isa::NeonDot => aarch64::matvec_i8(w, cols, x, acc),
        #[cfg(edgegru_helium)]
        Isa::Helium => arm::helium::matvec_i8(w, cols, x, acc),
        #[cfg(edgegru_dsp)]
        Isa::Dsp => arm::matvec_i8_dsp(w, cols, x, acc),
        #[cfg(edgegru_thumb)]
        Isa::Thumb => thumb::matvec_i8(w, cols, x, acc),
        _ => scalar::matvec_i8(w, cols, x, acc),
    }
}

/// `acc[r] = sum_c w[r][c] * x[c]` in exact int32 arithmetic for a dense
/// matrix of `cols` columns in the arm-dsp layout ([`arm_dsp_layout`]; `acc.len()` rows,
/// `w` at least [`arm_dsp_layout::dense_bytes`] long). `x` is zero-padded to a multiple
/// of 4 (inputs past it count as zero); values lie in [-127, 127].
#[cfg(feature = "arm-dsp-layout")]
pub fn matvec_arm_dsp(isa: Isa, w: &[u8], cols: usize, x: &[i8], acc: &mut [i32]) {
    match isa {
        #[cfg(edgegru_dsp)]
        Isa::Dsp | Isa::Helium => arm::arm_dsp_layout::matvec(w, cols, x, acc),
        _ => arm_dsp_layout::matvec(w, cols, x, acc),
    }
}

/// A validated int8 8x4 block-sparse matrix (see docs/file-format.md).
///
/// Only [`Block8x4::new`] makes one, and it checks every table, so the
/// kernels rely on these facts without checking again: `row_blocks` holds
/// `ceil(rows/8)+1` non-decreasing u32 LE offsets from 0 to the block count,
/// `block_cols` holds one u16 LE column group per block, each below
/// `ceil(cols/4)` and increasing within a row block, and `blocks` holds 32
/// bytes per block (64 in the arm-dsp layout, [`arm_dsp_layout`]).
#[derive(Debug, Clone, Copy)]
pub struct Block8x4<'a> {
    rows: usize,
    groups: usize,
    row_blocks: &'a [u8],
    block_cols: &'a [u8],
    blocks: &'a [i8],
    /// The blocks are widened (64 bytes of i16 each, [`arm_dsp_layout`]).
    #[cfg(feature = "arm-dsp-layout")]
    arm_dsp: bool,
}

/// Why [`Block8x4::new`] refused its tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block8x4Error {
    /// A table has the wrong byte length.
    Length {
        /// `row_blocks`, `block_cols` or `blocks`.
        part: &'static str,
        /// Expected byte length.
        expected: usize,
        /// Found byte length.
        found: usize,
    },
    /// The shape's tables do not fit in this machine's address space.
    Overflow,
    /// Row block `row_block` has an offset or column group outside `0..limit`,
    /// or one not above the previous.
    Index {
        /// Row block (8 rows) where the problem is.
        row_block: usize,
        /// The offending value.
        value: u32,
        /// The bound it had to respect.
        limit: u32,
    },
}

impl<'a> Block8x4<'a> {
    /// Checks the tables of a `rows` x `cols` matrix (see the type's invariants).
    pub fn new(rows: usize, cols: usize, row_blocks: &'a [u8], block_cols: &'a [u8], blocks: &'a [i8]) -> Result<Self, Block8x4Error> {
        Block8x4::checked(rows, cols, row_blocks, block_cols, blocks, false)
    }

    /// As [`Block8x4::new`], for blocks in the arm-dsp layout (64 bytes each).
    #[cfg(feature = "arm-dsp-layout")]
    pub fn new_arm_dsp(
        rows: usize,
        cols: usize,
        row_blocks: &'a [u8],
        block_cols: &'a [u8],
        blocks: &'a [u8],
    ) -> Result<Self, Block8x4Error> {
        Block8x4::checked(rows, cols, row_blocks, block_cols, bytemuck::cast_slice(blocks), true)
    }

    fn checked(
        rows: usize,
        cols: usize,
        row_blocks: &'a [u8],
        block_cols: &'a [u8],
        blocks: &'a [i8],
        arm_dsp: bool,
    ) -> Result<Self, Block8x4Error> {
        let row_block_count = rows.div_ceil(8);
        let groups = cols.div_ceil(4);
        let expected = row_block_count.checked_add(1).and_then(|n| n.checked_mul(4)).ok_or(Block8x4Error::Overflow)?;
        if row_blocks.len() != expected {
            return Err(Block8x4Error::Length { part: "row_blocks", expected, found: row_blocks.len() });
        }
        if !block_cols.len().is_multiple_of(2) {
            return Err(Block8x4Error::Length { part: "block_cols", expected: block_cols.len() - 1, found: block_cols.len() });
        }
        let count = block_cols.len() / 2;
        let expected = count.checked_mul(if arm_dsp { arm_dsp_layout::BLOCK_BYTES } else { 32 }).ok_or(Block8x4Error::Overflow)?;
        if blocks.len() != expected {
            return Err(Block8x4Error::Length { part: "blocks", expected, found: blocks.len() });
        }
        let limit = u32::try_from(count).map_err(|_| Block8x4Error::Overflow)?;
        if u32_at(row_blocks, 0) != 0 {
            return Err(Block8x4Error::Index { row_block: 0, value: u32_at(row_blocks, 0), limit: 0 });
        }
        let m = Block8x4 {
            rows,
            groups,
            row_blocks,
            block_cols,
            blocks,
            #[cfg(feature = "arm-dsp-layout")]
            arm_dsp,
        };
        for b in 0..row_block_count {
            let (start, end) = (u32_at(row_blocks, b), u32_at(row_blocks, b + 1));
            if end < start || end > limit {
                return Err(Block8x4Error::Index { row_block: b, value: end, limit });
            }
            let mut previous: Option<usize> = None;
            for k in start as usize..end as usize {
                let g = m.block_col(k);
                if g >= groups || previous.is_some_and(|p| g <= p) {
                    let bound = previous.map_or(groups, |p| p + 1);
                    return Err(Block8x4Error::Index { row_block: b, value: g as u32, limit: bound as u32 });
                }
                previous = Some(g);
            }
        }
        if u32_at(row_blocks, row_block_count) != limit {
            return Err(Block8x4Error::Index { row_block: row_block_count, value: u32_at(row_blocks, row_block_count), limit });
        }
        Ok(m)
    }

    /// Output rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Column groups of 4 inputs: `ceil(cols/4)`; kernels read `4 * groups` inputs.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// Number of 8-row blocks.
    pub fn row_block_count(&self) -> usize {
        self.rows.div_ceil(8)
    }

    /// Range of block numbers in row block `b` (empty past the last row block).
    pub fn blocks_of(&self, b: usize) -> core::ops::Range<usize> {
        if b >= self.row_block_count() {
            return 0..0;
        }
        u32_at(self.row_blocks, b) as usize..u32_at(self.row_blocks, b + 1) as usize
    }

    /// Column group (inputs `4g..4g+4`) of block `k` (`usize::MAX` past the last block).
    pub fn block_col(&self, k: usize) -> usize {
        match self.block_cols.get(k * 2..k * 2 + 2) {
            Some(s) => u16::from_le_bytes([s[0], s[1]]) as usize,
            None => usize::MAX,
        }
    }

    /// Whether the blocks are in the arm-dsp layout ([`arm_dsp_layout`]; never without
    /// the `arm-dsp-layout` feature).
    pub fn is_arm_dsp(&self) -> bool {
        #[cfg(feature = "arm-dsp-layout")]
        return self.arm_dsp;
        #[cfg(not(feature = "arm-dsp-layout"))]
        false
    }

    /// Bytes of one stored block: 32, or 64 in the arm-dsp layout.
    pub fn block_bytes(&self) -> usize {
        if self.is_arm_dsp() {
            arm_dsp_layout::BLOCK_BYTES
        } else {
            32
        }
    }

    /// Number of stored blocks.
    pub fn block_count(&self) -> usize {
        self.blocks.len() / self.block_bytes()
    }

    /// The blocks of row block `b`, each as (column group, its
    /// [`Block8x4::block_bytes`] bytes: 32 int8 values, row-major, or an arm-dsp layout block).
    pub fn row_block(&self, b: usize) -> impl Iterator<Item = (usize, &'a [i8])> + use<'a> {
        let range = self.blocks_of(b);
        let n = self.block_bytes();
        let cols = self.block_cols.get(range.start * 2..range.end * 2).unwrap_or(&[]);
        let blocks = self.blocks.get(range.start * n..range.end * n).unwrap_or(&[]);
        cols.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as usize).zip(blocks.chunks_exact(n))
    }

    /// The row-block offsets (u32 LE), the column-group table (u16 LE per
    /// block) and the block values.
    #[cfg(any(target_arch = "x86_64", edgegru_dsp))]
    pub(crate) fn tables(&self) -> (&'a [u8], &'a [u8], &'a [i8]) {
        (self.row_blocks, self.block_cols, self.blocks)
    }

    /// Bytes of the three tables together.
    pub fn stored_bytes(&self) -> usize {
        self.row_blocks.len() + self.block_cols.len() + self.blocks.len()
    }
}

/// The four inputs `x[4g..4g+4]` of column group `g`, if `x` holds them.
pub(crate) fn x_group(x: &[i8], g: usize) -> Option<&[i8]> {
    x.get(g.checked_mul(4)?..)?.get(..4)
}

/// `acc[r] = sum_c w[r][c] * x[c]` for a block-sparse matrix, exact int32.
///
/// `x` is zero-padded to a multiple of 4; weights and inputs lie in [-127, 127]. Blocks
/// whose column group lies beyond `x` are skipped (the x86 kernels, which read inputs
/// unchecked, hand a short `x` to the scalar kernel).
pub fn block8x4_i8(isa: Isa, m: &Block8x4<'_>, x: &[i8], acc: &mut [i32]) {
    let rows = m.rows.min(acc.len());
    let acc = &mut acc[..rows];
    #[cfg(feature = "arm-dsp-layout")]
    if m.arm_dsp {
        return match isa {
            #[cfg(edgegru_dsp)]
            Isa::Dsp | Isa::Helium => arm::arm_dsp_layout::block8x4(m, x, acc),
            _ => arm_dsp_layout::block8x4(m, x, acc),
        };
    }
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Vnni if x86::has_vnni() => x86::block8x4_i8_vnni(m, x, acc),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Vnni if x86::has_avx2() => x86::block8x4_i8_avx2(m, x, acc),
        #[cfg(target_arch = "aarch64")]
        Isa::NeonDot if aarch64::has_dotprod() => aarch64::block8x4_i8_dot(m, x, acc),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon | Isa::NeonDot => aarch64::block8x4_i8(m, x, acc),
        #[cfg(edgegru_helium)]
        Isa::Helium => arm::helium::block8x4_i8(m, x, acc),
        #[cfg(edgegru_dsp)]
        Isa::Dsp => arm::block8x4_i8_dsp(m, x, acc),
        _ => scalar::block8x4_i8(m, x, acc),
    }
}

#[cfg(test)]
mod tests;
