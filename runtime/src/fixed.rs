//! Fixed-point arithmetic for the integer-only numerics: requantization
//! multipliers, float-to-fixed conversion by bit manipulation, and table
//! sigmoid/tanh. Only integer operations, so results are the same bits on
//! every target, with or without an FPU.

/// Fraction bits of gate pre-activations, dense outputs and logits (Q.12 in an i32).
pub const ACT_FRAC: u32 = 12;
/// Fraction bits of the GRU state and of gate values (Q15 in an i16: 32767 is 0.99997).
pub const STATE_FRAC: u32 = 15;
/// The state enters the matrix products as int8 with this many fraction bits (scale 1/128).
pub const STATE_INPUT_FRAC: u32 = 7;
/// Pre-activations are clamped to this magnitude (16.0 in Q.12) before gate math,
/// where sigmoid and tanh have long saturated; it keeps every product inside an i32.
pub const PRE_ACT_LIMIT: i32 = (16 << ACT_FRAC) - 1;
/// Logits are clamped to this magnitude, so that they convert to f32 exactly.
pub const LOGIT_LIMIT: i32 = (1 << 24) - 1;

/// A non-negative multiplier `m * 2^-shift` with `m` in `[2^30, 2^31)`, or zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mul {
    m: u32,
    shift: i32,
}

impl Mul {
    /// Zero.
    pub const ZERO: Mul = Mul { m: 0, shift: 0 };

    /// `2^exp`.
    pub const fn pow2(exp: i32) -> Mul {
        Mul { m: 1 << 30, shift: 30 - exp }
    }

    /// `value * 2^-shift`, normalized; `value` may have any width.
    const fn normalize(value: u64, shift: i32) -> Mul {
        if value == 0 {
            return Mul::ZERO;
        }
        let lz = value.leading_zeros() as i32;
        if lz >= 33 {
            let up = lz - 33;
            Mul { m: (value << up) as u32, shift: shift + up }
        } else {
            // Round to nearest on the bits dropped; a carry to 2^31 is renormalized.
            let down = 33 - lz;
            let rounded = (value >> down) + ((value >> (down - 1)) & 1);
            if rounded >> 31 != 0 {
                Mul { m: (rounded >> 1) as u32, shift: shift - down - 1 }
            } else {
                Mul { m: rounded as u32, shift: shift - down }
            }
        }
    }

    /// The magnitude of an f32 given by its bits (sign ignored). Infinity and
    /// NaN are never passed: the loader checks scales and biases are finite.
    pub const fn from_f32_bits(bits: u32) -> Mul {
        let (mant, exp) = split_f32(bits);
        Mul::normalize(mant as u64, -exp)
    }

    /// `self` times the magnitude of the f32 `mant * 2^exp` given by its bits:
    /// `m = (mant * self.m + 2^23) >> 24`, not renormalized (one multiply, for
    /// the per-row scales of every product).
    pub const fn scaled_by_f32_bits(self, bits: u32) -> Mul {
        let (mant, exp) = split_f32(bits);
        self.scaled_by_significand(mant, -exp - 24)
    }

    /// [`Mul::scaled_by_f32_bits`] of an f32 already split: its significand
    /// `mant < 2^24` and `offset = -exponent - 24` (what a row table stores
    /// for an input scale set per step).
    #[inline(always)]
    pub const fn scaled_by_significand(self, mant: u32, offset: i32) -> Mul {
        let m = if cfg!(edgegru_no_long_multiply) {
            scale_mantissa_by_halves(mant, self.m)
        } else {
            ((mant as u64 * self.m as u64 + (1 << 23)) >> 24) as u32
        };
        Mul { m, shift: self.shift + offset }
    }

    /// The multiplier `m * 2^-shift` (`m < 2^31`, as a row table stores it).
    #[inline(always)]
    pub const fn from_parts(m: u32, shift: i32) -> Mul {
        Mul { m: m & 0x7fff_ffff, shift }
    }

    /// `num / den`, rounded to 31 significant bits; zero when `den` is 0.
    pub const fn from_ratio(num: u32, den: u32) -> Mul {
        if den == 0 {
            return Mul::ZERO;
        }
        // Shift the numerator up to 63 bits, so the quotient keeps at least 31.
        let n = num as u64;
        if n == 0 {
            return Mul::ZERO;
        }
        let k = n.leading_zeros() - 1;
        Mul::normalize(div_u64_u32((n << k) + den as u64 / 2, den), k as i32)
    }

    /// The product of two multipliers, rounded to 31 significant bits.
    pub const fn times(self, other: Mul) -> Mul {
        Mul::normalize(self.m as u64 * other.m as u64, self.shift + other.shift)
    }

    /// The 31-bit multiplier and the shift: the value is `m * 2^-shift`.
    pub(crate) const fn parts(self) -> (u32, i32) {
        (self.m, self.shift)
    }

    /// `x * self`, rounded to nearest (ties toward +infinity), saturated to
    /// `[-limit, limit]`. `limit` must be positive.
    #[inline(always)]
    pub fn apply(self, x: i32, limit: i32) -> i32 {
        if self.shift > 32 && self.shift < 63 {
            // The usual case, in 32-bit arithmetic after the multiply: with
            // p = hi * 2^32 + lo (0 <= lo < 2^32) and k = shift - 32,
            // (p + 2^(shift-1)) >> shift == (hi + 2^(k-1)) >> k, because lo
            // adds less than one unit below the bits that are dropped anyway.
            // |hi| < 2^30, so the sum cannot overflow.
            let k = self.shift - 32;
            let hi = (mul_i32_u31(x, self.m) >> 32) as i32;
            clamp((hi + (1 << (k - 1))) >> k, limit)
        } else if self.shift > 0 && self.shift <= 32 {
            // The other usual case. With t = 32 - shift, when x * 2^t still
            // fits an i32 (it does for the sums of a product), one rounding
            // high-word multiply gives (x * 2^t * m + 2^31) >> 32, which is
            // (p + 2^(shift-1)) >> shift exactly; |result| < 2^30.
            let t = 32 - self.shift as u32;
            let up = x << t;
            if up >> t == x {
                clamp(mul_high_rounded(up, self.m), limit)
            } else {
                // A sum too large to shift up: the definition.
                self.apply_by_definition(x, limit)
            }
        } else {
            self.apply_by_definition(x, limit)
        }
    }

    /// [`Mul::apply`] by the 64-bit formula alone: the definition its fast
    /// paths are tested against, and its path for the rare shifts.
    #[inline(always)]
    const fn apply_by_definition(self, x: i32, limit: i32) -> i32 {
        saturate(self.shift_wide(mul_i32_u31(x, self.m)), limit)
    }

    /// `p * 2^-shift` rounded to nearest (ties toward +infinity) in 64-bit
    /// arithmetic, for every shift: the definition the fast paths of
    /// [`Mul::apply`] are tested against, and its path for the rare shifts.
    const fn shift_wide(self, p: i64) -> i64 {
        if self.shift <= 0 {
            // A multiplier of at least 2^30: saturate unless the product is 0.
            if p == 0 {
                0
            } else if self.shift < -32 {
                if p > 0 {
                    i64::MAX
                } else {
                    -i64::MAX
                }
            } else {
                p.saturating_mul(1i64 << -self.shift)
            }
        } else if self.shift >= 63 {
            // |p| < 2^62 <= 2^(shift-1): rounds to 0.
            0
        } else {
            (p + (1i64 << (self.shift - 1))) >> self.shift
        }
    }
}

/// What a product's sums are multiplied by (before each row's scale) when
/// its int8 input is worth `x_mul` each: the outputs are in Q.[`ACT_FRAC`].
pub const fn to_act(x_mul: Mul) -> Mul {
    x_mul.times(Mul::pow2(ACT_FRAC as i32))
}

/// The worth of one unit of the state as a product reads it (int8 with
/// [`STATE_INPUT_FRAC`] fraction bits).
pub const STATE_INPUT_MUL: Mul = Mul::pow2(-(STATE_INPUT_FRAC as i32));

/// One output of an integer product in Q.[`ACT_FRAC`]: the sum `acc` of
/// int8 inputs worth `to_act * 2^-ACT_FRAC` each, times the row's scale (f32
/// bits), saturated to `[-limit, limit]`; plus the row's bias (f32 bits) in
/// Q.12, and saturated again. The definition every requantization kernel
/// gives bit for bit.
#[inline(always)]
pub fn requantize_row(to_act: Mul, acc: i32, scale_bits: u32, bias_bits: u32, limit: i32) -> i32 {
    let b = f32_bits_to_fixed(bias_bits, ACT_FRAC, limit);
    clamp(to_act.scaled_by_f32_bits(scale_bits).apply(acc, limit).saturating_add(b), limit)
}

/// One output of an integer product by a row table's entry (format version
/// 5): [`requantize_row`] with the row's multiplier `mul` (from the table)
/// and its bias `bias` already in Q.12 within `[-limit, limit]`.
#[inline(always)]
pub fn requantize_by_table(mul: Mul, acc: i32, bias: i32, limit: i32) -> i32 {
    clamp(mul.apply(acc, limit).saturating_add(bias), limit)
}

/// `v` saturated to `[-limit, limit]`.
#[inline(always)]
const fn saturate(v: i64, limit: i32) -> i32 {
    if v > limit as i64 {
        limit
    } else if v < -(limit as i64) {
        limit.wrapping_neg()
    } else {
        v as i32
    }
}

/// `v` clamped to `[-limit, limit]` (32-bit comparisons; a limit outside
/// the callers' contract, zero or negative, gives some value, never a panic).
#[inline(always)]
const fn clamp(v: i32, limit: i32) -> i32 {
    if v > limit {
        limit
    } else if v < limit.wrapping_neg() {
        limit.wrapping_neg()
    } else {
        v
    }
}

/// `a * b` in 64 bits. Cores without a 32x32->64 multiply instruction
/// (Armv6-M, Armv8-M Baseline) build it from four 16-bit products instead of
/// calling a 64x64 library multiply.
#[inline(always)]
const fn mul_u32(a: u32, b: u32) -> u64 {
    if cfg!(edgegru_no_long_multiply) {
        mul_u32_by_halves(a, b)
    } else {
        a as u64 * b as u64
    }
}

/// `a * b` in 64 bits from four 16x16->32 products.
#[inline(always)]
const fn mul_u32_by_halves(a: u32, b: u32) -> u64 {
    let (a0, a1, b0, b1) = (a & 0xffff, a >> 16, b & 0xffff, b >> 16);
    let (lo, m1, m2, hi) = (a0 * b0, a1 * b0, a0 * b1, a1 * b1);
    let mid = (lo >> 16) + (m1 & 0xffff) + (m2 & 0xffff);
    let hi = hi + (m1 >> 16) + (m2 >> 16) + (mid >> 16);
    ((hi as u64) << 32) | ((mid << 16) | (lo & 0xffff)) as u64
}

/// `(x * m + 2^31) >> 32` for a multiplier `m < 2^31`: one `SMMULR` with
/// the DSP extension.
#[inline(always)]
fn mul_high_rounded(x: i32, m: u32) -> i32 {
    #[cfg(edgegru_dsp)]
    {
        crate::kernels::arm::smmulr(x, m as i32)
    }
    #[cfg(not(edgegru_dsp))]
    {
        if cfg!(edgegru_no_long_multiply) {
            mul_high_rounded_by_halves(x, m)
        } else {
            ((mul_i32_u31(x, m) + (1 << 31)) >> 32) as i32
        }
    }
}

/// `(mant * m + 2^23) >> 24` for `mant < 2^24` and `m < 2^31` from four
/// 16x16->32 products, without building the 64-bit product (for cores
/// without a long multiply). With `mant = a * 2^16 + b` and `m = mh * 2^16 + ml`:
/// `a * mh * 2^8 + (a * ml + b * mh + (b * ml >> 16) + 2^7) >> 8`, every
/// partial sum below 2^32.
#[inline(always)]
const fn scale_mantissa_by_halves(mant: u32, m: u32) -> u32 {
    let (a, b) = (mant >> 16, mant & 0xffff);
    let (mh, ml) = (m >> 16, m & 0xffff);
    ((a * mh) << 8) + ((a * ml + b * mh + ((b * ml) >> 16) + (1 << 7)) >> 8)
}

/// [`mul_high_rounded`] from four 16x16->32 products, without building the
/// 64-bit product (for cores without a long multiply). With `x = xh * 2^16 +
/// xl` and `m = mh * 2^16 + ml` (`xl`, `ml` unsigned halves):
/// `(x * m + 2^31) >> 32 = xh * mh + (xh * ml + xl * mh + (xl * ml >> 16) + 2^15) >> 16`,
/// the inner sum taken as high and low halves so that nothing overflows.
#[inline(always)]
#[cfg_attr(edgegru_dsp, allow(dead_code))]
const fn mul_high_rounded_by_halves(x: i32, m: u32) -> i32 {
    let (xh, xl) = (x >> 16, (x & 0xffff) as u32);
    let (mh, ml) = ((m >> 16) as i32, m & 0xffff);
    let cross = xh * ml as i32; // |.| < 2^31
    let low_cross = xl * mh as u32; // < 2^31
    let low = (xl * ml) >> 16;
    let halves = (cross & 0xffff) as u32 + (low_cross & 0xffff) + low + (1 << 15);
    xh * mh + (cross >> 16) + (low_cross >> 16) as i32 + (halves >> 16) as i32
}

/// `x * m` in 64 bits for a multiplier `m < 2^31` (every [`Mul`] keeps its
/// `m` there): one signed 32x32->64 multiply where the core has it, else
/// [`mul_u32`] on the magnitude.
#[inline(always)]
const fn mul_i32_u31(x: i32, m: u32) -> i64 {
    if !cfg!(edgegru_no_long_multiply) {
        return x as i64 * (m as i32) as i64;
    }
    let p = mul_u32(x.unsigned_abs(), m) as i64;
    if x < 0 {
        -p
    } else {
        p
    }
}

/// `v * 2^-frac` as an f32: the bits of `v as f32 * 2^-frac` (the product
/// of a whole number by a power of two is exact). Where floats are done in
/// software (Arm without an FPU), without the multiply: the exponent of
/// `v as f32` goes down by `frac`. `frac` must be below 127.
#[inline(always)]
pub fn fixed_to_f32(v: i32, frac: u32) -> f32 {
    if cfg!(all(target_arch = "arm", not(target_abi = "eabihf"))) {
        fixed_to_f32_by_exponent(v, frac)
    } else {
        v as f32 * (1.0 / (1u64 << frac) as f32)
    }
}

/// [`fixed_to_f32`] by building the bits: for `|v| < 2^24` (every logit and
/// state; exact in 24 bits) the top bit's position from [`TOP_BIT`] of the
/// highest non-zero byte, the value shifted up to it; larger magnitudes by
/// lowering the exponent of `v as f32` (software floats' conversion, with
/// its rounding).
#[inline(always)]
fn fixed_to_f32_by_exponent(v: i32, frac: u32) -> f32 {
    if v == 0 {
        return 0.0;
    }
    let a = v.unsigned_abs();
    if a >= 1 << 24 {
        // |v| >= 1, so `v as f32` is normal with a biased exponent of at
        // least 127, and 127 - frac >= 1 keeps the result normal.
        return f32::from_bits((v as f32).to_bits() - (frac << 23));
    }
    let byte = |b: u32| TOP_BIT[(b & 0xff) as usize] as u32;
    let top = if a >> 16 != 0 {
        16 + byte(a >> 16)
    } else if a >> 8 != 0 {
        8 + byte(a >> 8)
    } else {
        byte(a)
    };
    let mantissa = (a << (23 - top)) & 0x7f_ffff;
    let sign = (v as u32) & 0x8000_0000;
    f32::from_bits(sign | (top + 127 - frac) << 23 | mantissa)
}

/// The position of the top set bit of each byte value (0 for 0 and 1).
static TOP_BIT: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 2;
    while i < 256 {
        t[i] = t[i / 2] + 1;
        i += 1;
    }
    t
};

/// `n / d` (`d` not 0). On 32-bit cores: the high word by one 32-bit
/// division, then restoring division of the remainder and the low word, one
/// quotient bit per round (32 rounds): small code on microcontrollers, which
/// would otherwise link a 64-bit division routine for the few divisions of a
/// step.
const fn div_u64_u32(n: u64, d: u32) -> u64 {
    if cfg!(target_pointer_width = "64") {
        // A 64-bit core divides in one instruction.
        n / d as u64
    } else if cfg!(edgegru_no_long_multiply) {
        // No divide instruction either (Armv6-M, Armv8-M Baseline).
        div_u64_u32_by_bits(n, d)
    } else {
        let (hi, lo) = ((n >> 32) as u32, n as u32);
        ((hi / d) as u64) << 32 | div_by_digits(hi % d, lo, d) as u64
    }
}

/// `(u1 * 2^32 + u0) / v` for `u1 < v` (so the quotient fits 32 bits) by
/// two 32-bit divisions: long division in 16-bit digits with the divisor
/// normalized, each digit estimated from the divisor's high half and
/// corrected (Knuth's algorithm D, as in Hacker's Delight's `divlu`).
const fn div_by_digits(u1: u32, u0: u32, v: u32) -> u32 {
    const B: u64 = 1 << 16;
    let s = v.leading_zeros();
    let v = (v as u64) << s;
    let (vn1, vn0) = (v >> 16, v & 0xffff);
    // The dividend shifted by `s`: its top 32 bits and its two low digits.
    let un32 = (((u1 as u64) << 32 | u0 as u64) << s >> 32) & 0xffff_ffff;
    let un10 = ((u0 as u64) << s) & 0xffff_ffff;
    let (un1, un0) = (un10 >> 16, un10 & 0xffff);
    let q1 = digit(un32, un1, vn1, vn0);
    let un21 = ((un32 << 16) + un1 - q1 * v) & 0xffff_ffff;
    let q0 = digit(un21, un0, vn1, vn0);
    (q1 * B + q0) as u32
}

/// One quotient digit of [`div_by_digits`]: `(top * 2^16 + next) / (vn1 *
/// 2^16 + vn0)`, estimated as `top / vn1` and lowered while too large.
const fn digit(top: u64, next: u64, vn1: u64, vn0: u64) -> u64 {
    const B: u64 = 1 << 16;
    // Both fit 32 bits: one 32-bit division (no 64-bit division routine).
    let mut q = (top as u32 / vn1 as u32) as u64;
    let mut rhat = top - q * vn1;
    while q >= B || q * vn0 > B * rhat + next {
        q -= 1;
        rhat += vn1;
        if rhat >= B {
            break;
        }
    }
    q
}

/// [`div_u64_u32`] on 32-bit cores, one quotient bit per round.
const fn div_u64_u32_by_bits(n: u64, d: u32) -> u64 {
    let (hi, lo) = ((n >> 32) as u32, n as u32);
    let q_hi = hi / d;
    // r < d stays below 2^33 after the shift, so it is kept in 64 bits.
    let (mut r, d) = ((hi % d) as u64, d as u64);
    let mut q_lo = 0u32;
    let mut i = 0;
    while i < 32 {
        r = (r << 1) | ((lo >> (31 - i)) & 1) as u64;
        q_lo <<= 1;
        if r >= d {
            r -= d;
            q_lo |= 1;
        }
        i += 1;
    }
    ((q_hi as u64) << 32) | q_lo as u64
}

/// An f32's bits as `(mantissa, exponent)`, its magnitude being `mantissa * 2^exponent`.
pub(crate) const fn split_f32(bits: u32) -> (u32, i32) {
    let exp = ((bits >> 23) & 0xff) as i32;
    let frac = bits & 0x7f_ffff;
    if exp == 0 {
        (frac, -149)
    } else {
        (frac | 0x80_0000, exp - 150)
    }
}

/// The f32 with these bits in fixed point with `frac` fraction bits: the
/// magnitude rounded to nearest (ties away from zero) and saturated to
/// `[0, limit]`, then the sign. `limit` must be positive.
#[inline(always)]
pub const fn f32_bits_to_fixed(bits: u32, frac: u32, limit: i32) -> i32 {
    let (mant, exp) = split_f32(bits);
    let up = exp + frac as i32;
    let magnitude = if up < 0 && up >= -25 {
        // The usual case, in 32-bit arithmetic: mant < 2^24 and the rounding
        // term is at most 2^24, so the sum fits, and so does the result in an i32.
        let m = ((mant + (1 << (-up - 1))) >> -up) as i32;
        if m > limit {
            limit
        } else {
            m
        }
    } else {
        let m = magnitude_wide(mant, up, limit);
        if m > limit as i64 {
            limit
        } else {
            m as i32
        }
    };
    if bits >> 31 != 0 {
        magnitude.wrapping_neg()
    } else {
        magnitude
    }
}

/// `mant * 2^up` rounded to nearest (ties away from zero), at most about
/// `limit`, in 64-bit arithmetic for every `up`: the definition the fast
/// path of [`f32_bits_to_fixed`] is tested against.
const fn magnitude_wide(mant: u32, up: i32, limit: i32) -> i64 {
    if up >= 0 {
        if up > 31 || (mant as i64) << up > limit as i64 {
            limit as i64
        } else {
            (mant as i64) << up
        }
    } else if up < -25 {
        0
    } else {
        (mant as i64 + (1 << (-up - 1))) >> -up
    }
}

/// log2 of the number of table steps per unit of input.
const TANH_STEP_BITS: u32 = 5;
/// Table entries cover `[0, TANH_RANGE)`.
const TANH_RANGE: usize = 8;
const TANH_STEPS: usize = TANH_RANGE << TANH_STEP_BITS;

/// `e^x` in f64 for `|x| <= 16`, by a Taylor series on `x / 64` raised to the 64th power.
const fn const_exp(x: f64) -> f64 {
    let y = x / 64.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut k = 1;
    while k < 20 {
        term = term * y / k as f64;
        sum += term;
        k += 1;
    }
    let mut i = 0;
    while i < 6 {
        sum *= sum;
        i += 1;
    }
    sum
}

const fn tanh_table() -> [i16; TANH_STEPS + 1] {
    let mut t = [0i16; TANH_STEPS + 1];
    let mut i = 0;
    while i <= TANH_STEPS {
        let x = i as f64 / (1u32 << TANH_STEP_BITS) as f64;
        let e = const_exp(2.0 * x);
        let v = (e - 1.0) / (e + 1.0) * 32768.0 + 0.5;
        let q = v as i32;
        t[i] = if q > 32767 { 32767 } else { q as i16 };
        i += 1;
    }
    t
}

/// `round(tanh(i / 32) * 32768)` for `i` in `0..=256`, saturated at 32767;
/// computed by the compiler, the same bits for every target.
pub static TANH_Q15: [i16; TANH_STEPS + 1] = tanh_table();

/// `tanh(x * 2^-frac)` in Q15, by linear interpolation in [`TANH_Q15`]
/// (error below 1e-4). `frac` must be at least 5.
pub fn tanh_q15(x: i32, frac: u32) -> i32 {
    let below = frac - TANH_STEP_BITS;
    let a = x.unsigned_abs();
    let i = (a >> below) as usize;
    let y = match (TANH_Q15.get(i), TANH_Q15.get(i + 1)) {
        (Some(&lo), Some(&hi)) => {
            let rem = (a & ((1 << below) - 1)) as i32;
            lo as i32 + (((hi as i32 - lo as i32) * rem + (1 << (below - 1))) >> below)
        }
        _ => 32767,
    };
    if x < 0 {
        -y
    } else {
        y
    }
}

/// `sigmoid(x * 2^-frac)` in Q15 (0 to 32768), as `(1 + tanh(x / 2)) / 2`.
pub fn sigmoid_q15(x: i32, frac: u32) -> i32 {
    (32768 + tanh_q15(x, frac + 1) + 1) >> 1
}

/// `2^(-k/64)` in Q.31 for `k` in `0..64`, rounded to nearest; computed
/// by the compiler, the same bits for every target.
static EXP2_Q31: [u32; 64] = {
    let mut t = [0u32; 64];
    let mut k = 0;
    while k < 64 {
        t[k] = (const_exp(-(k as f64) * core::f64::consts::LN_2 / 64.0) * 2_147_483_648.0 + 0.5) as u32;
        k += 1;
    }
    t
};

/// `round(a * b / 2^31)` for `a, b <= 2^31`.
#[inline(always)]
const fn mul_q31(a: u32, b: u32) -> u32 {
    ((mul_u32(a, b) + (1 << 30)) >> 31) as u32
}

/// `e^(-d / 2^12)` in Q.31 (`2^31` for `d = 0`), relative error below 3e-7:
/// `d * log2(e) = n + k/64 + f` with `f < 1/64`; `2^(-k/64)` from
/// [`EXP2_Q31`], `2^-f = e^-x` (`x = f ln 2 < 0.011`) by the cubic
/// `1 - x(1 - x(1/2 - x/6))`, the product shifted down by `n` with rounding.
/// Every step is a 32x32->64 multiply and a rounding shift.
fn exp_neg_q12(d: u32) -> u32 {
    /// `log2(e) * 2^31` and `ln(2) * 2^32`, rounded; `2^31 / 6`, rounded.
    const LOG2E_Q31: u32 = 3_098_164_009;
    const LN2_Q32: u32 = 2_977_044_472;
    const SIXTH_Q31: u32 = 357_913_941;
    if d >= 1 << 20 {
        // e^-256: zero in Q.31.
        return 0;
    }
    // `d * log2(e)` with 43 fraction bits (below 2^53).
    let t = mul_u32(d, LOG2E_Q31);
    let n = (t >> 43) as u32;
    if n >= 32 {
        return 0;
    }
    let k = ((t >> 37) & 63) as usize;
    // The rest below 1/64 (37 bits, the low 5 dropped) times ln 2, in Q.31.
    let x = (mul_u32(((t & ((1 << 37) - 1)) >> 5) as u32, LN2_Q32) >> 39) as u32;
    let c = (1 << 30) - mul_q31(x, SIXTH_Q31);
    let b = (1 << 31) - mul_q31(x, c);
    let p = (1 << 31) - mul_q31(x, b);
    let v = mul_q31(EXP2_Q31[k], p);
    (v + ((1u32 << n) >> 1)) >> n
}

/// `floor(2^62 / d)` for `d >= 2^31` (so below 2^31 + 1): restoring
/// division, one quotient bit per round, in 32-bit words (the numerator's
/// low bits are zero, so each round shifts in a 0).
fn reciprocal_2_62(d: u32) -> u32 {
    // 2^62 = 2^30 * 2^32: the high word, below `d`, is the first remainder.
    let (mut r, mut q) = (1u32 << 30, 0u32);
    for _ in 0..32 {
        // `r < d`, so `2r` fits 33 bits: its top bit, then the rest.
        let carry = r >> 31;
        r <<= 1;
        q <<= 1;
        if carry == 1 || r >= d {
            r = r.wrapping_sub(d);
            q |= 1;
        }
    }
    q
}

/// Class probabilities from Q.12 logits, integer arithmetic only (the
/// same bits on every core, no float library on cores without an FPU):
/// `e_i = exp_neg_q12(max - logit_i)` (Q.31, see [`exp_neg_q12`]),
/// `S = sum e_i`; `S` shifted down by `s` bits to fit 32 (`s = 0` for a
/// few classes) gives the reciprocal `R = floor(2^62 / (S >> s))`, and
/// `p_i = (e_i * R + 2^(31+s)) >> (32+s)` in Q.30, written out as
/// `p_i / 2^30` in f32 (rounded to nearest even). `v` is scratch: it holds
/// the logits on entry and the `e_i` (as bits) on return. Writes
/// `min(v.len(), out.len())` probabilities.
pub fn softmax_q12(v: &mut [i32], out: &mut [f32]) {
    let n = v.len().min(out.len());
    let (v, out) = (&mut v[..n], &mut out[..n]);
    let max = v.iter().copied().max().unwrap_or(0);
    let mut sum = 0u64;
    for x in v.iter_mut() {
        let e = exp_neg_q12(max.abs_diff(*x));
        sum += e as u64;
        // The bits of `e` (at most 2^31): read back `as u32`.
        *x = e as i32;
    }
    // The largest logit's own term is 2^31: the shifted sum is in [2^31, 2^32).
    let s = (64 - sum.leading_zeros()).saturating_sub(32);
    let top = ((sum >> s) as u32).max(1 << 31);
    // (Cores without a divide instruction: 32 rounds of shifts and subtracts.)
    let recip = if cfg!(edgegru_no_long_multiply) { reciprocal_2_62(top) } else { div_u64_u32(1 << 62, top) as u32 };
    for (o, &e) in out.iter_mut().zip(v.iter()) {
        let p = (mul_u32(e as u32, recip) + (1u64 << (31 + s))).checked_shr(32 + s).unwrap_or(0);
        // p <= 2^30: the largest e is 2^31 and R at most 2^31.
        *o = fixed_to_f32(p as i32, 30);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn integer_exp_is_within_three_tenths_of_a_millionth_of_exp() {
        let mut worst = 0f64;
        // Every d up to 2^14 (e^-4), then a sparse sweep to where it is 0.
        for d in (0..1 << 14).chain((1 << 14..1 << 18).step_by(37)) {
            let want = (-(d as f64) / 4096.0).exp() * 2f64.powi(31);
            let got = exp_neg_q12(d) as f64;
            // Below one unit of Q.31 the rounding is the error.
            let err = (got - want).abs() - 0.5;
            worst = worst.max(err / want.max(1.0));
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        for (k, &t) in EXP2_Q31.iter().enumerate() {
            assert_eq!(t as f64, (2f64.powf(-(k as f64) / 64.0) * 2f64.powi(31)).round(), "entry {k}");
        }
        assert_eq!(exp_neg_q12(0), 1 << 31);
        assert_eq!(exp_neg_q12(1 << 20), 0);
        assert_eq!(exp_neg_q12(u32::MAX), 0);
    }

    fn softmax_f64(logits: &[i32]) -> std::vec::Vec<f64> {
        let max = logits.iter().copied().max().unwrap() as f64;
        let e: std::vec::Vec<f64> = logits.iter().map(|&a| ((a as f64 - max) / 4096.0).exp()).collect();
        let sum: f64 = e.iter().sum();
        e.iter().map(|v| v / sum).collect()
    }

    #[test]
    fn integer_softmax_is_the_softmax_to_a_few_units_of_2_to_the_minus_30() {
        let mut state = 12345u32;
        let mut next = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state
        };
        for trial in 0..2000 {
            let n = 1 + trial % 40;
            // Logits spread over a few units to tens of units (Q.12).
            let spread = 1 << (10 + trial % 8);
            let logits: std::vec::Vec<i32> = (0..n).map(|_| (next() % (2 * spread)) as i32 - spread as i32).collect();
            let mut v = logits.clone();
            let mut out = std::vec![0f32; n];
            softmax_q12(&mut v, &mut out);
            let want = softmax_f64(&logits);
            let sum: f64 = out.iter().map(|&p| p as f64).sum();
            assert!((sum - 1.0).abs() < 2e-6, "sum {sum}");
            for (i, (&p, &w)) in out.iter().zip(&want).enumerate() {
                // f32 rounding of p (half an ulp, 6e-8 relative) plus a few 2^-30.
                assert!((p as f64 - w).abs() <= w * 4e-7 + 4.0 / 2f64.powi(30), "class {i} of {logits:?}: {p} vs {w}");
                for (j, &q) in out.iter().enumerate() {
                    if logits[i] > logits[j] {
                        assert!(p >= q, "a larger logit got a smaller probability");
                    }
                    if logits[i] == logits[j] {
                        assert_eq!(p.to_bits(), q.to_bits());
                    }
                }
            }
        }
    }

    #[test]
    fn reciprocal_is_the_floor_of_the_quotient() {
        let mut d = 1u32 << 31;
        while d >= 1 << 31 {
            assert_eq!(reciprocal_2_62(d) as u64, (1u64 << 62) / d as u64, "{d}");
            d = d.wrapping_add(40_503);
        }
        for d in [1u32 << 31, (1 << 31) + 1, u32::MAX, u32::MAX - 1, 3 << 30] {
            assert_eq!(reciprocal_2_62(d) as u64, (1u64 << 62) / d as u64, "{d}");
        }
    }

    #[test]
    fn integer_softmax_edges() {
        let mut out = [0f32; 3];
        softmax_q12(&mut [LOGIT_LIMIT, 0, 0][..], &mut out[..1]);
        assert_eq!(out[0], 1.0, "one class is certain");
        softmax_q12(&mut [LOGIT_LIMIT, -LOGIT_LIMIT, 0], &mut out);
        assert_eq!(out, [1.0, 0.0, 0.0]);
        softmax_q12(&mut [7, 7], &mut out[..2]);
        assert_eq!(out[..2], [0.5, 0.5]);
        softmax_q12(&mut [i32::MIN, i32::MAX, 0], &mut out);
        assert_eq!(out, [0.0, 1.0, 0.0]);
        // Nothing to do: no panic, nothing written.
        softmax_q12(&mut [], &mut out);
        softmax_q12(&mut [1, 2], &mut []);
        assert_eq!(out, [0.0, 1.0, 0.0]);
    }

    fn value(m: Mul) -> f64 {
        m.m as f64 * 2f64.powi(-m.shift)
    }

    #[test]
    fn the_tanh_table_ends_in_two_saturated_steps() {
        // The DSP GRU kernel saturates its table index at 255 and relies on
        // entries 255 and 256 both being the definition's value past the table.
        assert_eq!((TANH_Q15[255], TANH_Q15[256]), (32767, 32767));
        assert_eq!(tanh_q15(255 << 7, 12), 32767);
        assert_eq!(tanh_q15(i32::MAX, 12), 32767);
    }

    #[test]
    fn multipliers_keep_31_bits() {
        for v in [1.0f32, 0.5, 3.0, 1.0 / 127.0, 0.001_234_5, 1e-30, 1e30, f32::MIN_POSITIVE, 1e-45, 7.5e-42] {
            let m = Mul::from_f32_bits(v.to_bits());
            assert!(m.m >> 30 == 1, "{v}: m = {:#x}", m.m);
            assert_eq!(value(m), v as f64, "{v} is exact in 31 bits");
            let n = Mul::from_f32_bits((-v).to_bits());
            assert_eq!(n, m, "the sign is ignored");
        }
        assert_eq!(Mul::from_f32_bits(0), Mul::ZERO);
        assert_eq!(value(Mul::pow2(-7)), 1.0 / 128.0);
        for (a, b) in [(127u32, 1000u32), (1, 3), (5000, 7), (u32::MAX, 1), (1, u32::MAX)] {
            let got = value(Mul::from_ratio(a, b));
            let want = a as f64 / b as f64;
            assert!(((got - want) / want).abs() < 1.0 / (1u64 << 30) as f64, "{a}/{b}: {got} vs {want}");
        }
        assert_eq!(Mul::from_ratio(3, 0), Mul::ZERO);
        let base = Mul::from_ratio(1, 7);
        for v in [1.0f32, 0.003_141_5, 1.0 / 127.0, 250.0] {
            let (got, want) = (value(base.scaled_by_f32_bits(v.to_bits())), v as f64 / 7.0);
            assert!(((got - want) / want).abs() < 1e-7, "{v}/7: {got} vs {want}");
        }
        let p = Mul::from_f32_bits(0.3f32.to_bits()).times(Mul::from_f32_bits(0.017f32.to_bits()));
        let want = 0.3f32 as f64 * 0.017f32 as f64;
        assert!(((value(p) - want) / want).abs() < 1e-9);
    }

    #[test]
    fn apply_rounds_to_nearest_and_saturates() {
        let half = Mul::pow2(-1);
        assert_eq!(half.apply(5, i32::MAX), 3, "2.5 rounds up");
        assert_eq!(half.apply(-5, i32::MAX), -2, "-2.5 rounds toward +inf");
        assert_eq!(half.apply(-7, i32::MAX), -3);
        assert_eq!(Mul::pow2(10).apply(3, i32::MAX), 3072);
        assert_eq!(Mul::pow2(40).apply(3, 1000), 1000);
        assert_eq!(Mul::pow2(40).apply(-3, 1000), -1000);
        assert_eq!(Mul::pow2(-70).apply(i32::MAX, 1000), 0);
        let third = Mul::from_ratio(1, 3);
        for x in [-1_000_000, -3001, -1, 0, 1, 2, 3001, 1_000_000, i32::MAX, i32::MIN + 1] {
            let want = (x as f64 / 3.0).round() as i64;
            assert_eq!(third.apply(x, i32::MAX) as i64, want, "{x}/3");
        }
    }

    /// `f32_bits_to_fixed` by the 64-bit formula alone.
    fn to_fixed_64(bits: u32, frac: u32, limit: i32) -> i32 {
        let (mant, exp) = split_f32(bits);
        let magnitude = magnitude_wide(mant, exp + frac as i32, limit).min(limit as i64) as i32;
        if bits >> 31 != 0 {
            -magnitude
        } else {
            magnitude
        }
    }

    /// One step of the xorshift32 generator (reproducible test inputs).
    fn xorshift32(state: &mut u32) {
        *state ^= *state << 13;
        *state ^= *state >> 17;
        *state ^= *state << 5;
    }

    #[test]
    fn fixed_to_float_gives_the_bits_of_the_multiply() {
        let mut state = 0x1234_5678u32;
        for i in 0..1_000_000u32 {
            xorshift32(&mut state);
            let v = match i % 3 {
                0 => state as i32,
                1 => (state as i32) >> (state % 31),
                _ => [0, 1, -1, i32::MAX, i32::MIN, 4096, -32767][(i % 7) as usize],
            };
            for frac in [0u32, 7, 12, 15, 30] {
                let want = v as f32 * (1.0 / (1u64 << frac) as f32);
                assert_eq!(fixed_to_f32_by_exponent(v, frac).to_bits(), want.to_bits(), "{v} >> {frac}");
                assert_eq!(fixed_to_f32(v, frac).to_bits(), want.to_bits(), "{v} >> {frac}");
            }
        }
    }

    #[test]
    fn wide_products_from_halves_equal_the_64_bit_product() {
        let mut state = 0x2545_f491u32;
        for i in 0..1_000_000u32 {
            xorshift32(&mut state);
            let (a, b) = (state, state.rotate_left(i % 32) ^ i);
            assert_eq!(mul_u32_by_halves(a, b), a as u64 * b as u64, "{a} * {b}");
            assert_eq!(mul_u32(a, b), a as u64 * b as u64);
            let x = state as i32;
            assert_eq!(mul_i32_u31(x, b >> 1), x as i64 * (b >> 1) as i64);
            assert_eq!(mul_u32_by_halves(u32::MAX, u32::MAX), u32::MAX as u64 * u32::MAX as u64);
        }
    }

    #[test]
    fn limits_outside_the_contract_never_panic() {
        for limit in [0, -1, i32::MIN, i32::MAX] {
            for x in [0, 1, -1, i32::MAX, i32::MIN] {
                let _ = Mul::pow2(-3).apply(x, limit);
                let _ = requantize_row(Mul::pow2(5), x, 1.5f32.to_bits(), (-2.0f32).to_bits(), limit);
                let _ = f32_bits_to_fixed((-1e30f32).to_bits(), ACT_FRAC, limit);
            }
        }
    }

    #[test]
    fn rounded_high_products_from_halves_equal_the_64_bit_formula() {
        let mut state = 0x6a09_e667u32;
        for i in 0..2_000_000u32 {
            xorshift32(&mut state);
            let x = match i % 4 {
                0 => state as i32,
                1 => (state as i32) >> (i % 31),
                2 => [i32::MAX, i32::MIN, i32::MIN + 1, 0, 1, -1, 65535, -65536][(i % 8) as usize],
                _ => state.rotate_left(7) as i32,
            };
            let m = (state.rotate_left(i % 32) ^ i) >> 1;
            let want = ((x as i64 * m as i64 + (1 << 31)) >> 32) as i32;
            assert_eq!(mul_high_rounded_by_halves(x, m), want, "{x} * {m}");
            assert_eq!(mul_high_rounded(x, m), want, "{x} * {m}");
            let mant = (state >> 8) | if i % 2 == 0 { 0x80_0000 } else { 0 };
            let scaled = ((mant as u64 * m as u64 + (1 << 23)) >> 24) as u32;
            assert_eq!(scale_mantissa_by_halves(mant, m), scaled, "{mant} * {m}");
        }
        assert_eq!(
            scale_mantissa_by_halves(0xff_ffff, u32::MAX >> 1),
            (((0xff_ffffu64 * (u32::MAX >> 1) as u64) + (1 << 23)) >> 24) as u32
        );
    }

    #[test]
    fn division_by_rounds_equals_the_division_operator() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..200_000u64 {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let n = if i % 3 == 0 { state } else { state >> (state % 64) };
            let d = match i % 4 {
                0 => 1,
                1 => u32::MAX,
                _ => ((state >> 17) as u32).max(1) >> (i % 31),
            }
            .max(1);
            assert_eq!(div_u64_u32(n, d), n / d as u64, "{n} / {d}");
            assert_eq!(div_u64_u32_by_bits(n, d), n / d as u64, "{n} / {d}, bit by bit");
            let (hi, lo) = ((n >> 32) as u32, n as u32);
            let rest = ((hi % d) as u64) << 32 | lo as u64;
            assert_eq!(div_by_digits(hi % d, lo, d) as u64, rest / d as u64, "{n} / {d}, by digits");
        }
    }

    #[test]
    fn fast_paths_give_the_bits_of_the_64_bit_formulas() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for i in 0..2_000_000u32 {
            let r = next();
            let x = match i % 4 {
                0 => r as i32,
                1 => (r as i32) >> (r >> 59),
                2 => [i32::MAX, i32::MIN + 1, i32::MIN, 0, 1, -1][(r % 6) as usize],
                _ => (r as i32) >> 12,
            };
            let m = Mul { m: ((next() as u32) >> 1).max(1 << 30) >> (i % 3), shift: (next() % 80) as i32 - 10 };
            let limit = [i32::MAX, 100_000, 127, 1 << 20][(i % 4) as usize];
            assert_eq!(m.apply(x, limit), m.apply_by_definition(x, limit), "{x} * {m:?}, limit {limit}");
            let bits = next() as u32;
            let frac = [0, 12, 15, 20, 31][(i % 5) as usize];
            if f32::from_bits(bits).is_finite() {
                assert_eq!(f32_bits_to_fixed(bits, frac, limit), to_fixed_64(bits, frac, limit), "{bits:#x} frac {frac}");
            }
        }
    }

    #[test]
    fn floats_convert_to_fixed_point() {
        for (v, want) in [(1.0f32, 4096), (-1.0, -4096), (0.000_12, 0), (0.000_13, 1), (-2.5, -10240), (1e30, 100_000), (-1e30, -100_000)] {
            assert_eq!(f32_bits_to_fixed(v.to_bits(), 12, 100_000), want, "{v}");
        }
        let mut x = -50.0f32;
        while x < 50.0 {
            let got = f32_bits_to_fixed(x.to_bits(), 12, i32::MAX);
            assert!((got as f64 - x as f64 * 4096.0).abs() <= 0.5, "{x}");
            x += 0.0731;
        }
    }

    #[test]
    fn table_activations_are_close_to_the_real_ones() {
        for (i, &t) in TANH_Q15.iter().enumerate() {
            let want = ((i as f64 / 32.0).tanh() * 32768.0).round().min(32767.0);
            assert_eq!(t as f64, want, "table entry {i}");
        }
        let mut worst = (0.0f64, 0.0f64);
        for x in -(20 << 12)..(20 << 12) {
            let real = x as f64 / 4096.0;
            let t = (tanh_q15(x, 12) as f64 / 32768.0 - real.tanh()).abs();
            let s = (sigmoid_q15(x, 12) as f64 / 32768.0 - 1.0 / (1.0 + (-real).exp())).abs();
            worst = (worst.0.max(t), worst.1.max(s));
        }
        assert!(worst.0 < 1.2e-4 && worst.1 < 8e-5, "worst errors tanh {} sigmoid {}", worst.0, worst.1);
        assert_eq!(tanh_q15(i32::MAX, 12), 32767);
        assert_eq!(tanh_q15(i32::MIN, 12), -32767);
        assert_eq!(sigmoid_q15(i32::MIN, 12), 1);
        assert_eq!(sigmoid_q15(i32::MAX, 12), 32768);
        assert_eq!(sigmoid_q15(0, 12), 16384);
    }
}
