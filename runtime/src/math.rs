//! Activation functions in plain f32 arithmetic (no FMA, no libm), written so
//! that loops over them vectorize, and giving the same bits on every target.
//! The trainer uses the same functions, so training and inference agree.

pub(crate) const LOG2E: f32 = core::f32::consts::LOG2_E;
/// ln 2 split in a part with few significant bits (exact when multiplied by
/// a small integer) and the rest (Cody-Waite reduction).
pub(crate) const LN2_HI: f32 = 0.693_359_4;
pub(crate) const LN2_LO: f32 = -2.121_944_4e-4;
/// Adding and subtracting 1.5 * 2^23 rounds an f32 below 2^22 to an integer.
pub(crate) const ROUND_MAGIC: f32 = 12_582_912.0;

/// `e^x` with a relative error below 4e-7 (about 3 ulp) over the f32 range; inputs are
/// clamped to [-87, 88] (results from 1.6e-38 to 1.6e38); NaN gives NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let (r, t) = exp_reduce(x);
    exp_scale(exp_series(r), t)
}

/// The argument reduction of [`exp`]: `x = n ln2 + r` with `|r| <= ln2/2`.
/// Returns `r` and `x log2(e) + 1.5 * 2^23`, whose low bits hold `n`.
#[inline(always)]
fn exp_reduce(x: f32) -> (f32, f32) {
    let x = clamp(x, -87.0, 88.0);
    let t = x * LOG2E + ROUND_MAGIC;
    let n = t - ROUND_MAGIC;
    ((x - n * LN2_HI) - n * LN2_LO, t)
}

/// The coefficients of [`exp_series`] past `1 + r + r^2 / 2`: 1/3!, 1/4!,
/// 1/5!, 1/6! (each rounded to f32).
pub(crate) const EXP_TERMS: [f32; 4] = [1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0];

/// Taylor series of e^r for |r| <= ln2/2: the next term is below 1.2e-7.
#[inline(always)]
fn exp_series(r: f32) -> f32 {
    let [c3, c4, c5, c6] = EXP_TERMS;
    1.0 + r * (1.0 + r * (0.5 + r * (c3 + r * (c4 + r * (c5 + r * c6)))))
}

/// `p * 2^n`, with `n` read from the low bits of `t` (see [`exp_reduce`]); no
/// float-to-int cast (those saturate and keep loops from vectorizing); NaN
/// inputs give NaN.
#[inline(always)]
fn exp_scale(p: f32, t: f32) -> f32 {
    p * f32::from_bits((magic_rounded_bits(t).wrapping_add(127) as u32) << 23)
}

/// `v[i] = finish(exp(v[i]))` for `i < min(v.len(), scratch.len())`: the same
/// bits as calling [`exp`] per value. On x86-64 and aarch64 it runs in three
/// passes (reduction, series, scaling), `scratch` holding the reduction's
/// second output: each pass has a short dependency chain per value, so an
/// out-of-order core overlaps many values, where one pass over the whole chain
/// (about 25 dependent operations) keeps it waiting (the passes take about
/// 0.7x the time of one). Elsewhere (Cortex-M) it is one pass, smaller code.
#[inline(always)]
pub fn map_exp(v: &mut [f32], scratch: &mut [f32], finish: impl Fn(f32) -> f32) {
    let len = v.len().min(scratch.len());
    let (v, scratch) = (&mut v[..len], &mut scratch[..len]);
    if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        map_exp_in_passes(v, scratch, finish);
    } else {
        v.iter_mut().for_each(|x| *x = finish(exp(*x)));
    }
}

/// [`map_exp`] in three passes; `v` and `scratch` have the same length.
#[inline(always)]
fn map_exp_in_passes(v: &mut [f32], scratch: &mut [f32], finish: impl Fn(f32) -> f32) {
    for (x, t) in v.iter_mut().zip(scratch.iter_mut()) {
        (*x, *t) = exp_reduce(*x);
    }
    v.iter_mut().for_each(|x| *x = exp_series(*x));
    for (x, &t) in v.iter_mut().zip(scratch.iter()) {
        *x = finish(exp_scale(*x, t));
    }
}

/// `1 / (1 + e^-x)`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh(x)`, through `1 - 2 / (e^2x + 1)` (absolute error below 3e-7).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

/// `x` within `[lo, hi]` (`lo <= hi`), NaN kept: [`f32::clamp`] without
/// its check of the bounds, which keeps it from being inlined where code
/// is built for size (Cortex-M), where each call cost about 8 instructions.
#[inline(always)]
pub fn clamp(x: f32, lo: f32, hi: f32) -> f32 {
    let x = if x < lo { lo } else { x };
    if x > hi {
        hi
    } else {
        x
    }
}

/// `x` (|x| below 2^22) rounded to the nearest integer, ties to even, read
/// from the low bits of `x + 1.5 * 2^23` (whose unit in the last place is 1).
#[inline(always)]
fn rounded_bits(x: f32) -> i32 {
    magic_rounded_bits(x + ROUND_MAGIC)
}

/// The integer held in the low bits of `t = x + 1.5 * 2^23` (`x` rounded).
#[inline(always)]
fn magic_rounded_bits(t: f32) -> i32 {
    t.to_bits().wrapping_sub(ROUND_MAGIC.to_bits()) as i32
}

/// Clamps `x` to [-limit, limit] (limit below 2^22), rounds it to the
/// nearest integer, ties to even, and returns it as an `i32`; NaN gives 0.
/// The same value as `round_half_even(x, limit) as i32`, without a
/// saturating float-to-int cast, so loops over it vectorize.
#[inline(always)]
pub fn round_half_even_i32(x: f32, limit: f32) -> i32 {
    let x = if x.is_nan() { 0.0 } else { x };
    rounded_bits(clamp(x, -limit, limit))
}

/// `round_half_even_i32(x, 127.0)`: `x` clamped to [-127, 127], rounded to
/// the nearest integer, ties to even; NaN gives 0. Where floats are done in
/// software (Arm without an FPU), by [`round_half_even_i8_by_bits`].
#[inline(always)]
pub fn round_half_even_i8(x: f32) -> i8 {
    if cfg!(all(target_arch = "arm", not(target_abi = "eabihf"))) {
        round_half_even_i8_by_bits(x)
    } else {
        round_half_even_i32(x, 127.0) as i8
    }
}

/// [`round_half_even_i8`] from the bits of `x`, integer operations only (no
/// float compare or add routine).
#[inline(always)]
fn round_half_even_i8_by_bits(x: f32) -> i8 {
    let mag = x.to_bits() & 0x7fff_ffff;
    let exp = mag >> 23;
    let q = if mag > 0x7f80_0000 || exp < 126 {
        // NaN, or below one half.
        0
    } else if mag >= 127f32.to_bits() {
        127
    } else {
        // 0.5 <= |x| < 127: the significand over 2^(150 - exp), 17 to 24 bits down.
        let (mant, shift) = ((mag & 0x7f_ffff) | 0x80_0000, 150 - exp);
        let (q, rem, half) = (mant >> shift, mant & ((1 << shift) - 1), 1 << (shift - 1));
        q + (rem > half || (rem == half && q & 1 == 1)) as u32
    } as i8;
    if x.is_sign_negative() {
        -q
    } else {
        q
    }
}

/// Clamps `x` to [-limit, limit] (limit below 2^22) and rounds it to the
/// nearest integer, ties to even. Branch-free, so loops over it vectorize.
#[inline(always)]
pub fn round_half_even(x: f32, limit: f32) -> f32 {
    (clamp(x, -limit, limit) + ROUND_MAGIC) - ROUND_MAGIC
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_rounding_by_bits_is_the_float_rounding() {
        // Every f32 from 0 to past 2^8 (all exponents the function treats
        // apart), both signs, and the special values.
        let mut checked = 0;
        for bits in (0..0x4400_0000u32).step_by(61).chain(0x7f7f_fff0..=0x7fc0_0010) {
            for x in [f32::from_bits(bits), -f32::from_bits(bits)] {
                assert_eq!(round_half_even_i8_by_bits(x), round_half_even_i32(x, 127.0) as i8, "{x} ({bits:#x})");
                checked += 1;
            }
        }
        for x in [0.5f32, 1.5, 2.5, 126.5, 125.5, 127.0, 127.49, 0.49999997, f32::INFINITY, f32::NAN, f32::MIN_POSITIVE] {
            assert_eq!(round_half_even_i8_by_bits(x), round_half_even_i32(x, 127.0) as i8, "{x}");
            assert_eq!(round_half_even_i8_by_bits(-x), round_half_even_i32(-x, 127.0) as i8, "-{x}");
        }
        assert!(checked > 1_000_000);
    }

    #[test]
    fn integer_rounding_matches_the_float_rounding_and_cast() {
        let mut x = -300.0f32;
        while x < 300.0 {
            for limit in [127.0f32, 1000.0] {
                assert_eq!(round_half_even_i32(x, limit), round_half_even(x, limit) as i32, "{x} within {limit}");
            }
            x += 0.125;
        }
        for x in [0.5f32, 1.5, 2.5, -0.5, -1.5, -2.5] {
            assert_eq!(round_half_even_i32(x, 127.0), (x as f64).round_ties_even() as i32, "ties to even at {x}");
        }
        assert_eq!(round_half_even_i32(f32::NAN, 127.0), 0);
        assert_eq!(round_half_even_i32(f32::INFINITY, 127.0), 127);
        assert_eq!(round_half_even_i32(f32::NEG_INFINITY, 127.0), -127);
    }

    #[test]
    fn exp_is_accurate_over_the_range() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp(x) as f64, (x as f64).exp());
            assert!(((got - want) / want).abs() < 4e-7, "exp({x}) = {got}, want {want}");
            x += 0.0137;
        }
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(-1000.0), exp(-87.0));
    }

    /// Values from -100 to 100 in steps that hit many roundings, the clamp
    /// limits and beyond, and the special values.
    fn exp_inputs() -> Vec<f32> {
        let mut v: Vec<f32> = (-200_000..200_000).map(|i| i as f32 * 0.000_503_7).collect();
        v.extend([-87.0, 88.0, -87.5, 88.5, -1e30, 1e30, 0.0, -0.0, f32::MIN_POSITIVE, f32::INFINITY, f32::NEG_INFINITY, f32::NAN]);
        v
    }

    fn same(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    #[test]
    fn exp_over_a_slice_gives_the_bits_of_exp_value_by_value() {
        let inputs = exp_inputs();
        type Finish = fn(f32) -> f32;
        let finishes: [(&str, Finish); 3] = [("exp", |e| e), ("sigmoid", |e| 1.0 / (1.0 + e)), ("tanh", |e| 1.0 - 2.0 / (e + 1.0))];
        for (name, finish) in finishes {
            let want: Vec<f32> = inputs.iter().map(|&x| finish(exp(x))).collect();
            let (mut passes, mut scratch) = (inputs.clone(), vec![0.0; inputs.len()]);
            map_exp_in_passes(&mut passes, &mut scratch, finish);
            let mut chosen = inputs.clone();
            map_exp(&mut chosen, &mut scratch, finish);
            for (i, &x) in inputs.iter().enumerate() {
                assert!(same(passes[i], want[i]), "{name}({x}) in passes: {} vs {}", passes[i], want[i]);
                assert!(same(chosen[i], want[i]), "{name}({x}): {} vs {}", chosen[i], want[i]);
            }
        }
        // The sigmoid and tanh the trainer uses are these finishes of exp.
        for &x in &inputs {
            assert!(same(sigmoid(x), 1.0 / (1.0 + exp(-x))) && same(tanh(x), 1.0 - 2.0 / (exp(2.0 * x) + 1.0)), "{x}");
        }
    }

    #[test]
    fn exp_over_a_slice_stops_at_the_shorter_buffer() {
        let mut v = [1.0f32, 2.0, 3.0];
        let mut scratch = [0.0f32; 2];
        map_exp(&mut v, &mut scratch, |e| e);
        assert_eq!(v, [exp(1.0), exp(2.0), 3.0]);
    }

    #[test]
    fn sigmoid_and_tanh_are_accurate() {
        let mut x = -30.0f32;
        while x < 30.0 {
            assert!((sigmoid(x) as f64 - 1.0 / (1.0 + (-(x as f64)).exp())).abs() < 3e-7, "sigmoid({x})");
            assert!((tanh(x) as f64 - (x as f64).tanh()).abs() < 3e-7, "tanh({x})");
            x += 0.001;
        }
        assert_eq!(tanh(100.0), 1.0);
        assert_eq!(tanh(-100.0), -1.0);
    }

    #[test]
    fn rounding_is_to_nearest_even_and_clamped() {
        for (x, want) in [
            (0.5f32, 0.0f32),
            (1.5, 2.0),
            (2.5, 2.0),
            (-0.5, 0.0),
            (-2.5, -2.0),
            (0.49999997, 0.0),
            (126.5, 126.0),
            (-126.6, -127.0),
            (3.2, 3.0),
            (-3.7, -4.0),
            (1e7, 127.0),
            (-1e9, -127.0),
        ] {
            assert_eq!(round_half_even(x, 127.0), want, "{x}");
        }
        assert!(round_half_even(f32::NAN, 127.0).is_nan());
    }
}
