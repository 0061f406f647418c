//! Every kernel set of this core against the portable scalar kernels, on
//! pseudo-random int8 products of many shapes (dense and 8x4 block-sparse,
//! weights at every alignment, rows and columns not multiples of the
//! kernels' steps, empty and full row blocks): the sums must be equal; and
//! the same products with the weights in the arm-dsp layout (format version 3)
//! against the int8 scalar sums; the requantization of sums to Q.12 on sums, scales, biases and input
//! scales of every kind; the integer GRU update and the state's
//! quantization; the float GRU update and the int8 sums back to f32 (the
//! hybrid numerics): the same bits as the definitions.

use core::sync::atomic::{AtomicU32, Ordering};
use edgegru_runtime::fixed::{self, Mul};
#[cfg(feature = "arm-dsp-layout")]
use edgegru_runtime::kernels::arm_dsp_layout;
use edgegru_runtime::kernels::{self, scalar, Block8x4, RowInput, RowsRef};
use edgegru_runtime::{sampling, Isa};

/// A small linear congruential generator (reproducible inputs).
struct Lcg(u32);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        self.0 >> 8
    }

    /// A value in [-127, 127], the extremes more often than uniform.
    fn int8(&mut self) -> i8 {
        match self.next() % 16 {
            0 => 127,
            1 => -127,
            _ => ((self.next() % 255) as i32 - 127) as i8,
        }
    }
}

/// Dense shapes (rows, cols): below, at and past the 3- and 4-row and
/// 4-column steps, the 256-input chunk of the DSP kernel, and the rows of
/// 16, 32, 48 and 64 inputs that the Helium kernel keeps in registers (odd
/// and even row counts).
const DENSE: [(usize, usize); 15] = [
    (1, 1),
    (3, 5),
    (4, 4),
    (5, 7),
    (8, 16),
    (13, 33),
    (7, 255),
    (9, 257),
    (4, 300),
    (16, 64),
    (1, 16),
    (6, 32),
    (5, 48),
    (7, 64),
    (2, 20),
];
/// Block-sparse shapes (rows, cols) and one density in sixteenths each.
const SPARSE: [(usize, usize, u32); 7] = [(8, 4, 16), (13, 17, 8), (24, 64, 4), (24, 128, 16), (16, 128, 0), (9, 40, 12), (24, 100, 2)];

/// Weight bytes of the dense shapes: the Cortex-M0 board (16 KB of RAM)
/// checks the shapes that fit in less stack.
const W_BYTES: usize = if cfg!(fw_small_ram) { 1100 } else { 2400 };
/// Blocks of the sparse shapes, likewise.
const MAX_BLOCKS: usize = if cfg!(fw_small_ram) { 24 } else { 96 };
/// Bytes of the widened dense shapes (3 more for the misaligned starts);
/// on the Cortex-M0 board, what its stack leaves beside the model's own.
#[cfg(feature = "arm-dsp-layout")]
const ARM_DSP_BYTES: usize = if cfg!(fw_small_ram) { 1600 } else { 6400 };

/// Checks every available kernel set but scalar; returns the number of
/// products compared, or `Err((isa, shape index))` at the first difference.
#[inline(never)]
pub fn run() -> Result<usize, (Isa, usize)> {
    let mut rng = Lcg(7);
    let mut w = [0i8; W_BYTES];
    let mut x = [0i8; 304];
    let (mut got, mut want) = ([0i32; 32], [0i32; 32]);
    let mut n = 0;
    for isa in Isa::ALL.into_iter().filter(|i| i.is_available() && *i != Isa::Scalar) {
        for (s, &(rows, cols)) in DENSE.iter().enumerate().filter(|(_, &(r, c))| r * c + 3 <= W_BYTES) {
            for offset in 0..4 {
                w.iter_mut().for_each(|v| *v = rng.int8());
                x.iter_mut().for_each(|v| *v = rng.int8());
                let wm = &w[offset..offset + rows * cols];
                kernels::matvec_i8(isa, wm, cols, &x[..cols], &mut got[..rows]);
                scalar::matvec_i8(wm, cols, &x[..cols], &mut want[..rows]);
                if got[..rows] != want[..rows] || !arm_dsp_equal(isa, wm, rows, cols, offset, &x[..4 * cols.div_ceil(4)], &want[..rows]) {
                    return Err((isa, s));
                }
                n += 1;
            }
        }
        IN_REACH.store(0, Ordering::Relaxed);
        for trial in 0..REQUANT_TRIALS {
            if !requantize_equal(isa, &mut rng, trial) {
                return Err((isa, DENSE.len() + SPARSE.len() + trial));
            }
            n += 1;
        }
        if IN_REACH.load(Ordering::Relaxed) == 0 {
            say!("no row table of the requantization checks was within reach of the short loops");
            return Err((isa, DENSE.len() + SPARSE.len()));
        }
        for trial in 0..GRU_TRIALS {
            for (check, what) in ELEMENT_WISE {
                if !check(isa, &mut rng, trial) {
                    say!("{} of {} differs from the definition", what, isa.name());
                    return Err((isa, DENSE.len() + SPARSE.len() + REQUANT_TRIALS + trial));
                }
                n += 1;
            }
        }
        let fits = |&(_, &(r, c, _)): &(usize, &(usize, usize, u32))| r.div_ceil(8) * c.div_ceil(4) <= MAX_BLOCKS;
        for (s, &(rows, cols, density)) in SPARSE.iter().enumerate().filter(fits) {
            if !sparse_equal(isa, &mut rng, rows, cols, density, &mut x) {
                return Err((isa, DENSE.len() + s));
            }
            n += 1;
        }
    }
    Ok(n)
}

/// The dense product of the int8 `q` (`rows` x `cols`) widened at byte
/// `offset` of a buffer, by `isa`, equals the int8 sums `want` (shapes whose
/// widened form does not fit are not checked).
#[cfg(feature = "arm-dsp-layout")]
fn arm_dsp_equal(isa: Isa, q: &[i8], rows: usize, cols: usize, offset: usize, x: &[i8], want: &[i32]) -> bool {
    // 4-aligned, so that `offset` 0 takes the kernels' paired loads.
    let mut buf = Aligned([0u8; ARM_DSP_BYTES]);
    let Some(bytes) = arm_dsp_layout::dense_bytes(rows, cols).filter(|&n| n + offset <= ARM_DSP_BYTES) else {
        return true;
    };
    let w = &mut buf.0[offset..offset + bytes];
    arm_dsp_layout::widen_dense(q, rows, cols, w);
    let mut got = [0i32; 32];
    kernels::matvec_arm_dsp(isa, w, cols, x, &mut got[..rows]);
    got[..rows] == *want
}

/// One random block-sparse product with `density`/16 of the blocks kept,
/// with the blocks as they are and widened.
fn sparse_equal(isa: Isa, rng: &mut Lcg, rows: usize, cols: usize, density: u32, x: &mut [i8; 304]) -> bool {
    let (row_block_count, groups) = (rows.div_ceil(8), cols.div_ceil(4));
    let mut row_blocks = [0u8; 4 * 4];
    let mut block_cols = [0u8; 2 * MAX_BLOCKS];
    let mut blocks = [0i8; 32 * MAX_BLOCKS];
    let mut count = 0usize;
    for b in 0..row_block_count {
        for g in 0..groups {
            if rng.next() % 16 < density {
                block_cols[2 * count..2 * count + 2].copy_from_slice(&(g as u16).to_le_bytes());
                count += 1;
            }
        }
        row_blocks[4 * (b + 1)..4 * (b + 2)].copy_from_slice(&(count as u32).to_le_bytes());
    }
    blocks[..32 * count].iter_mut().for_each(|v| *v = rng.int8());
    x.iter_mut().for_each(|v| *v = rng.int8());
    x[cols..4 * groups].iter_mut().for_each(|v| *v = 0);
    let Ok(m) = Block8x4::new(rows, cols, &row_blocks[..4 * (row_block_count + 1)], &block_cols[..2 * count], &blocks[..32 * count]) else {
        return false;
    };
    let (mut got, mut want) = ([0i32; 24], [0i32; 24]);
    kernels::block8x4_i8(isa, &m, &x[..4 * groups], &mut got[..rows]);
    scalar::block8x4_i8(&m, &x[..4 * groups], &mut want[..rows]);
    got[..rows] == want[..rows]
        && arm_dsp_sparse_equal(
            isa,
            rows,
            cols,
            (&row_blocks[..4 * (row_block_count + 1)], &block_cols[..2 * count]),
            &blocks[..32 * count],
            &x[..4 * groups],
            &want[..rows],
        )
}

/// Without the arm-dsp layout there is nothing more to check.
#[cfg(not(feature = "arm-dsp-layout"))]
fn arm_dsp_equal(_: Isa, _: &[i8], _: usize, _: usize, _: usize, _: &[i8], _: &[i32]) -> bool {
    true
}

/// Without the arm-dsp layout there is nothing more to check.
#[cfg(not(feature = "arm-dsp-layout"))]
fn arm_dsp_sparse_equal(_: Isa, _: usize, _: usize, _: (&[u8], &[u8]), _: &[i8], _: &[i8], _: &[i32]) -> bool {
    true
}

/// The block-sparse product of the same blocks widened (at an aligned
/// start, where the kernels load a row's two words at once, and one to
/// three bytes past it), by `isa`, equals the int8 sums `want`.
#[cfg(feature = "arm-dsp-layout")]
fn arm_dsp_sparse_equal(isa: Isa, rows: usize, cols: usize, tables: (&[u8], &[u8]), blocks: &[i8], x: &[i8], want: &[i32]) -> bool {
    let count = blocks.len() / 32;
    let mut arm_dsp_blocks = Aligned([0u8; arm_dsp_layout::BLOCK_BYTES * MAX_BLOCKS + 3]);
    (0..4).all(|at| {
        for (k, block) in blocks.chunks_exact(32).enumerate() {
            arm_dsp_blocks.0[at + 64 * k..at + 64 * (k + 1)].copy_from_slice(&arm_dsp_layout::widen_block(block));
        }
        let Ok(mw) = Block8x4::new_arm_dsp(rows, cols, tables.0, tables.1, &arm_dsp_blocks.0[at..at + 64 * count]) else {
            return false;
        };
        let mut got = [0i32; 24];
        kernels::block8x4_i8(isa, &mw, x, &mut got[..rows]);
        got[..rows] == *want
    })
}

/// A buffer at a 4-aligned address.
#[repr(C, align(4))]
struct Aligned<T>(T);

/// Requantization trials (64 rows each).
const REQUANT_TRIALS: usize = 48;

/// A finite f32's bits: mostly the magnitudes of trained scales and biases
/// (2^-20 to 2^12, either sign), else zero, subnormal, huge or any finite value.
fn float_bits(rng: &mut Lcg) -> u32 {
    let sign = (rng.next() & 1) << 31;
    let mant = rng.next() & 0x7f_ffff;
    match rng.next() % 8 {
        0 => sign,
        1 => sign | mant,
        2 => sign | ((200 + rng.next() % 54) << 23) | mant,
        3 => {
            let bits = (rng.next() << 9) ^ rng.next();
            if f32::from_bits(bits).is_finite() {
                bits
            } else {
                sign | mant
            }
        }
        _ => sign | ((107 + rng.next() % 33) << 23) | mant,
    }
}

/// A product sum: small, typical, near the i32 extremes, or zero.
fn sum(rng: &mut Lcg) -> i32 {
    let v = ((rng.next() << 8) ^ rng.next()) as i32;
    match rng.next() % 6 {
        0 => [0, 1, -1, i32::MAX, i32::MIN + 1, i32::MIN][(rng.next() % 6) as usize],
        1 => v,
        2 => v >> 20,
        _ => v >> (8 + rng.next() % 12),
    }
}

/// One trial of an element-wise kernel against its definition.
type Check = fn(Isa, &mut Lcg, usize) -> bool;

/// The element-wise kernels' checks, each run `GRU_TRIALS` times per kernel set.
const ELEMENT_WISE: [(Check, &str); 9] = [
    (gru_update_equal, "the integer GRU update"),
    (quantize_state_equal, "the state's int8 form"),
    (state_to_f32_equal, "the state's f32 form"),
    (scale_to_int8_equal, "the int8 form of a dense layer's outputs"),
    (greedy_pick_equal, "the greedy pick"),
    (float_gru_update_equal, "the float GRU update"),
    (dequantize_add_equal, "the int8 sums to f32"),
    (float_quantization_equal, "the f32 inputs to int8"),
    (relu_and_max_abs_equal, "the f32 relu or largest magnitude"),
];

/// GRU updates compared per kernel set.
const GRU_TRIALS: usize = 12;

/// One GRU update of up to 23 units by `isa` and by the definition, on
/// pre-activations over the whole allowed range (the extremes and 0 often).
fn gru_update_equal(isa: Isa, rng: &mut Lcg, trial: usize) -> bool {
    let n = 1 + trial * 2 % 23;
    let (mut gx, mut gh) = ([0i32; 69], [0i32; 69]);
    for v in gx.iter_mut().chain(gh.iter_mut()) {
        let limit = fixed::PRE_ACT_LIMIT;
        *v = match rng.next() % 8 {
            0 => limit,
            1 => -limit,
            2 => 0,
            3 => (rng.next() % 4096) as i32 - 2048,
            _ => (rng.next() % (2 * limit as u32 + 1)) as i32 - limit,
        };
    }
    let mut h = [0i16; 23];
    h.iter_mut().for_each(|v| *v = ((rng.next() % 65535) as i32 - 32767) as i16);
    let mut want = h;
    kernels::gru_update_fixed(isa, &mut h[..n], &gx[..3 * n], &gh[..3 * n]);
    scalar::gru_update_fixed(&mut want[..n], &gx[..3 * n], &gh[..3 * n]);
    h == want
}

/// A float pre-activation: mostly within the gates' working range, at times
/// far outside it (the exponential's clamp) or zero, and unless `plain`, at
/// times a NaN, an infinity or a subnormal (the vector kernels leave calls
/// with those to the definition: `plain` trials check their own arithmetic).
fn float_pre_activation(rng: &mut Lcg, plain: bool) -> f32 {
    let unit = (rng.next() % 65536) as f32 / 32768.0 - 1.0;
    match rng.next() % 16 + if plain { 4 } else { 0 } {
        0 => f32::NAN,
        1 => f32::INFINITY,
        2 => f32::NEG_INFINITY,
        3 => f32::from_bits((rng.next() & 1) << 31 | (1 + rng.next() % 0x7f_ffff)),
        4 => unit * 200.0,
        5 => -0.0,
        _ => unit * 12.0,
    }
}

/// One float GRU update (the hybrid numerics) of up to 23 units by `isa` and
/// by the definition.
fn float_gru_update_equal(isa: Isa, rng: &mut Lcg, trial: usize) -> bool {
    let n = 1 + trial * 2 % 23;
    let (mut gx, mut gh) = ([0f32; 69], [0f32; 69]);
    gx.iter_mut().chain(gh.iter_mut()).for_each(|v| *v = float_pre_activation(rng, trial % 2 == 1));
    let mut h = [0f32; 23];
    h.iter_mut().for_each(|v| *v = (rng.next() % 65536) as f32 / 32768.0 - 1.0);
    let (mut want, mut wx, mut wh) = (h, gx, gh);
    kernels::gru_update_float(isa, &mut h[..n], &mut gx[..3 * n], &mut gh[..3 * n]);
    scalar::gru_update_float(&mut want[..n], &mut wx[..3 * n], &mut wh[..3 * n]);
    // The same bits, every NaN counting as one (which NaN an operation on
    // two passes on depends on the order the compiler gave its operands).
    h.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()))
}

/// Up to 37 f32 values of every kind (NaN and infinities in odd trials)
/// by `isa` and by the definition: their relu in place and their largest
/// magnitude, the same bits.
fn relu_and_max_abs_equal(isa: Isa, rng: &mut Lcg, trial: usize) -> bool {
    let n = 1 + trial * 3 % 37;
    let mut x = [0f32; 37];
    x.iter_mut().for_each(|v| *v = float_pre_activation(rng, trial.is_multiple_of(2)));
    let (mut got, mut want) = (x, x);
    kernels::relu(isa, &mut got[..n]);
    scalar::relu(&mut want[..n]);
    let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits());
    same(&got, &want) && kernels::max_abs(isa, &x[..n]).to_bits() == scalar::max_abs(&x[..n]).to_bits()
}

/// Up to 37 f32 values to int8 (the hybrid numerics' product inputs) by
/// `isa` and by the definition, with their largest magnitude, at scales from
/// tiny to huge (and the scale of their largest magnitude).
fn float_quantization_equal(isa: Isa, rng: &mut Lcg, trial: usize) -> bool {
    let n = 1 + trial * 3 % 37;
    let mut x = [0f32; 37];
    x.iter_mut().for_each(|v| *v = float_pre_activation(rng, trial % 2 == 1));
    let max = kernels::max_abs(isa, &x[..n]);
    let inv = match trial % 4 {
        0 => 127.0,
        1 => 127.0 / max,
        2 => f32::from_bits(float_bits(rng)),
        _ => f32::from_bits((rng.next() % 255) << 23),
    };
    let (mut got, mut want) = ([0i8; 37], [0i8; 37]);
    kernels::quantize_f32(isa, &x[..n], inv, &mut got[..n]);
    scalar::quantize_f32(&x[..n], inv, &mut want[..n]);
    max.to_bits() == scalar::max_abs(&x[..n]).to_bits() && got == want
}

/// Int8 sums of up to 37 rows back to f32 by `isa` and by the definition,
/// on sums, scales, biases and input scales of every kind, the tables at
/// any byte alignment (4-aligned ones take the kernels' word loads).
fn dequantize_add_equal(isa: Isa, rng: &mut Lcg, trial: usize) -> bool {
    let (rows, offset) = (1 + trial * 3 % 37, trial % 4);
    let (mut acc, mut scales, mut bias) = ([0i32; 37], Aligned([0u8; 4 * 37 + 3]), Aligned([0u8; 4 * 37 + 3]));
    let (scales, bias) = (&mut scales.0, &mut bias.0);
    acc.iter_mut().for_each(|v| *v = sum(rng));
    // Odd trials: every operand a trained model's magnitude (2^-20 to 2^12) or zero.
    let operand = |rng: &mut Lcg| match trial % 2 {
        0 => float_bits(rng),
        _ if rng.next().is_multiple_of(8) => 0,
        _ => (rng.next() & 1) << 31 | (107 + rng.next() % 33) << 23 | (rng.next() & 0x7f_ffff),
    };
    for r in 0..rows {
        scales[offset + 4 * r..offset + 4 * r + 4].copy_from_slice(&operand(rng).to_le_bytes());
        bias[offset + 4 * r..offset + 4 * r + 4].copy_from_slice(&operand(rng).to_le_bytes());
    }
    let sx = f32::from_bits(operand(rng));
    let (mut got, mut want) = ([0f32; 37], [0f32; 37]);
    let (s, b) = (&scales[offset..offset + 4 * rows], &bias[offset..offset + 4 * rows]);
    kernels::dequantize_add(isa, &acc[..rows], s, sx, b, &mut got[..rows]);
    scalar::dequantize_add(&acc[..rows], s, sx, b, &mut want[..rows]);
    got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()))
}

/// Row groups of [`table_differs`] whose shifts were within reach of the
/// kernels' short loops (the check fails if none of a kernel set's were).
static IN_REACH: AtomicU32 = AtomicU32::new(0);

/// The first row where `isa`'s requantization of `acc` by a row table
/// (format versions 5 and 6) made from `scales` and `bias`, for an input scale fixed
/// by the file and for one set per step, differs from `want` (the definition
/// by the f32 scales and biases). Eight rows at a time, in little stack
/// (the Cortex-M0 board has 16 KB of RAM).
#[inline(never)]
fn table_differs(
    isa: Isa,
    acc: &[i32; 64],
    want: &[i32; 64],
    (scales, bias): (&[u8; 256], &[u8; 256]),
    to_act: Mul,
    limit: i32,
) -> Option<usize> {
    const N: usize = 8;
    // The multipliers and biases at every alignment, each with the other
    // aligned or not (some kernels load aligned words when both are).
    let (mut words, mut shifts, mut bias_words) = (Aligned([0u8; 4 * N + 3]), [0u8; N], Aligned([0u8; 4 * N + 3]));
    let w = |t: &[u8], r: usize| u32::from_le_bytes([t[4 * r], t[4 * r + 1], t[4 * r + 2], t[4 * r + 3]]);
    for input in [RowInput::Fixed(to_act), RowInput::PerStep] {
        for first in (0..64).step_by(N) {
            let (at, bias_at) = (first / N % 4, first / N / 2 % 4);
            let mult = &mut words.0[at..at + 4 * N];
            let biases = &mut bias_words.0[bias_at..bias_at + 4 * N];
            for i in 0..N {
                let (m, s, b) = kernels::row_entry(w(scales, first + i), w(bias, first + i), input, limit);
                mult[4 * i..4 * i + 4].copy_from_slice(&m.to_le_bytes());
                shifts[i] = s as u8;
                biases[4 * i..4 * i + 4].copy_from_slice(&b.to_le_bytes());
            }
            let step = (input == RowInput::PerStep).then_some(to_act);
            // With nothing known of the sums, and with their true bound
            // (the kernels' short loops, where the shifts are within reach).
            let bound = 32 - acc[first..first + N].iter().map(|a| a.unsigned_abs()).max().unwrap_or(0).leading_zeros();
            for rows in [RowsRef::new(mult, &shifts, biases), RowsRef::new(mult, &shifts, biases).with_sum_bits(bound)] {
                if rows.within_reach(step) {
                    IN_REACH.store(IN_REACH.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                }
                let mut got = [0i32; N];
                got.copy_from_slice(&acc[first..first + N]);
                kernels::requantize_table(isa, &mut got, rows, step, limit);
                if let Some(i) = (0..N).find(|&i| got[i] != want[first + i]) {
                    return Some(first + i);
                }
            }
        }
    }
    None
}

/// The greedy pick (the build's argmax: Helium's where it has it) of
/// `3 * trial + 1` logits with ties, signed zeros, infinities and NaNs is the
/// first logit of the largest order key.
fn greedy_pick_equal(_: Isa, rng: &mut Lcg, trial: usize) -> bool {
    let n = 3 * trial + 1;
    let mut logits = [0f32; 40];
    for v in logits.iter_mut() {
        *v = match rng.next() % 9 {
            0 => f32::NAN,
            1 => -0.0,
            2 => 0.0,
            3 => f32::INFINITY,
            4 => f32::NEG_INFINITY,
            5 => 2.5,
            _ => (rng.next() % 2001) as f32 / 100.0 - 10.0,
        };
    }
    let logits = &logits[..n];
    let want = (0..n).fold(0, |best, i| if sampling::order_key(logits[i]) > sampling::order_key(logits[best]) { i } else { best });
    sampling::argmax(logits) as usize == want
}

/// The state of `trial + 1` units quantized to int8 by `isa` and by the
/// definition (the extremes often); the bytes past it untouched.
fn quantize_state_equal(isa: Isa, rng: &mut Lcg, trial: usize) -> bool {
    // Values and bytes at every alignment (the state and the int8 buffer
    // start anywhere a kernel may be handed them).
    let (n, at) = (1 + trial * 3, trial % 4);
    let mut h = [0i16; 44];
    for v in h.iter_mut() {
        *v = match rng.next() % 7 {
            0 => 32767,
            1 => -32767,
            2 => i16::MIN,
            3 => ((rng.next() % 512) as i32 - 256) as i16,
            _ => ((rng.next() % 65535) as i32 - 32767) as i16,
        };
    }
    let (mut got, mut want) = ([0x55i8; 44], [0x55i8; 44]);
    kernels::quantize_state(isa, &h[at..at + n], &mut got[at..at + n]);
    scalar::quantize_state(&h[at..at + n], &mut want[at..at + n]);
    got == want
}

/// Up to 34 Q15 state values (every i16 among them) to f32 by `isa` and
/// by the definition, at every alignment: the same bits.
fn state_to_f32_equal(isa: Isa, rng: &mut Lcg, trial: usize) -> bool {
    let (n, at) = (1 + trial * 3, trial % 4);
    let mut h = [0i16; 44];
    for v in h.iter_mut() {
        *v = match rng.next() % 5 {
            0 => [32767, -32767, i16::MIN, 0, 1, -1][(rng.next() % 6) as usize],
            _ => rng.next() as i16,
        };
    }
    let (mut got, mut want) = ([f32::NAN; 44], [f32::NAN; 44]);
    kernels::state_to_f32(isa, &h[at..at + n], &mut got[at..at + n]);
    scalar::state_to_f32(&h[at..at + n], &mut want[at..at + n]);
    got.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits())
}

/// Up to 37 Q.12 values to int8 by `isa` and by the definition: by the
/// multiplier the session derives from their largest magnitude, and by
/// multipliers of every shift (the kernels' fast ranges and beyond).
fn scale_to_int8_equal(isa: Isa, rng: &mut Lcg, trial: usize) -> bool {
    let n = 1 + trial * 3 % 37;
    let mut d = [0i32; 37];
    d.iter_mut().for_each(|v| *v = sum(rng));
    let max = d[..n].iter().map(|v| v.unsigned_abs()).max().unwrap_or(0).max(1);
    let mul = match trial % 3 {
        0 => Mul::from_ratio(127, max),
        _ => Mul::from_parts(rng.next() << 8 | 1 << 30, (rng.next() % 70) as i32 - 3),
    };
    let (mut got, mut want) = ([0i8; 37], [0i8; 37]);
    kernels::scale_to_int8(isa, &d[..n], mul, &mut got[..n]);
    scalar::scale_to_int8(&d[..n], mul, &mut want[..n]);
    got == want
}

/// One requantization of 64 rows by `isa` and by the definition, by the
/// f32 scales and biases and by row tables made from them.
fn requantize_equal(isa: Isa, rng: &mut Lcg, trial: usize) -> bool {
    let (mut scales, mut bias) = ([0u8; 256], [0u8; 256]);
    let mut acc = [0i32; 64];
    // Every other trial is model-like (scales near 2^-7, biases within
    // ±8), so that whole groups of rows take the vector kernels' usual path.
    let typical = |rng: &mut Lcg, field: u32| (field + rng.next() % 6) << 23 | rng.next() & 0x7f_ffff;
    for r in 0..64 {
        let (scale, b) = if trial % 2 == 1 {
            (typical(rng, 117), typical(rng, 118) | (rng.next() & 1) << 31)
        } else {
            let scale = if rng.next().is_multiple_of(8) { float_bits(rng) } else { float_bits(rng) & 0x7fff_ffff };
            (scale, float_bits(rng))
        };
        scales[4 * r..4 * r + 4].copy_from_slice(&scale.to_le_bytes());
        bias[4 * r..4 * r + 4].copy_from_slice(&b.to_le_bytes());
        // Model-like sums too: those of at most 64 int8 products.
        acc[r] = if trial % 2 == 1 { sum(rng) >> 11 } else { sum(rng) };
    }
    let x_mul = match trial / 2 % 6 {
        0 => Mul::pow2(-7),
        1 => Mul::from_ratio(1 + rng.next() % 100_000, 127),
        2 => Mul::from_f32_bits(float_bits(rng)),
        3 => Mul::ZERO,
        4 => Mul::pow2((rng.next() % 60) as i32 - 40),
        _ => Mul::from_ratio(127, 1 + rng.next()),
    };
    let to_act = x_mul.times(Mul::pow2(fixed::ACT_FRAC as i32));
    let limit = [fixed::PRE_ACT_LIMIT, fixed::LOGIT_LIMIT, 127, 1 << 30][trial / 2 % 4];
    let mut want = acc;
    let input = acc;
    scalar::requantize(&mut want, &scales, &bias, to_act, limit);
    if let Some(r) = table_differs(isa, &acc, &want, (&scales, &bias), to_act, limit) {
        say!("row {}: the row table kernel of {} differs from the definition", r, isa.name());
        return false;
    }
    kernels::requantize(isa, &mut acc, &scales, &bias, to_act, limit);
    // The first row that differs, for the log.
    if let Some(r) = (0..64).find(|&r| acc[r] != want[r]) {
        let w = |t: &[u8]| u32::from_le_bytes([t[4 * r], t[4 * r + 1], t[4 * r + 2], t[4 * r + 3]]);
        say!(
            "row {}: sum {}, scale {:#x}, bias {:#x}, {:?}, limit {}: {} gives {}, the definition {}",
            r,
            input[r],
            w(&scales),
            w(&bias),
            to_act,
            limit,
            isa.name(),
            acc[r],
            want[r]
        );
    }
    acc == want
}
