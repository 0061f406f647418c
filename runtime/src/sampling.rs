//! Choosing the next token: greedy, temperature, top-k and top-p (nucleus)
//! sampling with a seeded, deterministic random number generator.

use crate::error::{Error, Result};
use crate::tokenizer::Tokenizer;

/// A small deterministic random number generator (SplitMix64). The same seed
/// gives the same sequence on every target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator seeded with `seed`.
    pub const fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in [0, 1) with 24 random bits.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
    }
}

/// How to pick the next token from the logits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingParams {
    /// Softmax temperature; 0 means greedy (always the most likely token).
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens; 0 keeps all.
    pub top_k: u32,
    /// Keep the smallest set of most likely tokens whose probability reaches
    /// `top_p`, in (0, 1]; 1 keeps all.
    pub top_p: f32,
    /// Whether the out-of-vocabulary token may be generated (off by default,
    /// so that sampled text holds no `<OOV>`; on, greedy decoding is the
    /// source framework's argmax). Padding is never generated.
    pub allow_oov: bool,
}

impl SamplingParams {
    /// Always the most likely token (ties: the lowest id).
    pub const GREEDY: SamplingParams = SamplingParams { temperature: 0.0, top_k: 0, top_p: 1.0, allow_oov: false };

    /// Checks the ranges: temperature finite and >= 0, top_p in (0, 1].
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(Error::InvalidParameter { what: "temperature must be finite and >= 0" });
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::InvalidParameter { what: "top_p must be in (0, 1]" });
        }
        Ok(())
    }
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams { temperature: 1.0, top_k: 0, top_p: 1.0, allow_oov: false }
    }
}

/// Token ids that sampling never picks: the padding token, and the OOV token
/// unless it is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Banned {
    ids: [Option<u32>; 2],
}

impl Banned {
    /// Nothing banned.
    pub const NONE: Banned = Banned { ids: [None, None] };

    /// The special tokens of `tok` that generation must not emit.
    pub fn of(tok: &Tokenizer<'_>, allow_oov: bool) -> Self {
        Banned { ids: [tok.pad(), if allow_oov { None } else { tok.oov() }] }
    }

    /// Whether `id` is banned.
    pub fn contains(&self, id: u32) -> bool {
        self.ids.contains(&Some(id))
    }

    /// Whether some id is banned.
    fn any(&self) -> bool {
        self.ids.iter().any(Option::is_some)
    }
}

/// A token and its probability.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TokenProb {
    /// Token id.
    pub token: u32,
    /// Probability under softmax of the logits (temperature 1).
    pub prob: f32,
}

/// NaN sorts below every number, so a damaged logit is never chosen first.
fn key(v: f32) -> f32 {
    if v.is_nan() {
        f32::NEG_INFINITY
    } else {
        v
    }
}

/// Index of the largest logit (the first one on ties).
pub fn argmax(logits: &[f32]) -> u32 {
    argmax_allowed(logits, &Banned::NONE)
}

/// An integer in the order of [`key`]: -0 and +0 equal, NaN as -infinity.
/// Comparing these is comparing the logits (the same maximum, the same
/// first index on ties) in integer instructions: no soft-float calls on
/// cores without an FPU, no per-element NaN branch elsewhere.
#[inline(always)]
pub fn order_key(v: f32) -> i32 {
    const INFINITY: i32 = 0x7F80_0000;
    let bits = v.to_bits();
    let magnitude = (bits & 0x7FFF_FFFF) as i32;
    if magnitude > INFINITY {
        -INFINITY
    } else if bits >> 31 != 0 {
        -magnitude
    } else {
        magnitude
    }
}

/// Index of the largest logit that is not banned (the first one on ties);
/// when every token is banned, the largest of all.
pub fn argmax_allowed(logits: &[f32], banned: &Banned) -> u32 {
    // With Helium, the first largest of all four logits at a time; it is
    // the answer unless banned.
    #[cfg(edgegru_helium)]
    if let Some(i) = crate::kernels::arm::helium_fixed::first_max(logits).filter(|&i| allowed(banned, i)) {
        return i as u32;
    }
    // Every order is above i32::MIN, so the first allowed logit takes the lead.
    let (mut best, mut best_order) = (usize::MAX, i32::MIN);
    for (i, &v) in logits.iter().enumerate() {
        let k = order_key(v);
        // A new lead is rare after the first logits: only then is the id
        // checked (out of line, so that the loop stays a compare and a branch).
        if k > best_order && allowed(banned, i) {
            (best, best_order) = (i, k);
        }
    }
    match best {
        usize::MAX if banned.any() => argmax(logits),
        usize::MAX => 0,
        b => b as u32,
    }
}

/// Whether token `i` may be picked.
#[inline(never)]
fn allowed(banned: &Banned, i: usize) -> bool {
    u32::try_from(i).map_or(true, |i| !banned.contains(i))
}

/// `probs = softmax(logits / temperature)`, banned tokens at probability 0
/// (unless every token is banned).
pub(crate) fn softmax(logits: &[f32], temperature: f32, banned: &Banned, probs: &mut [f32]) {
    let all_banned = banned.any() && (0..logits.len() as u32).all(|i| banned.contains(i));
    let banned = if all_banned { &Banned::NONE } else { banned };
    let max = logits.iter().enumerate().filter(|(i, _)| !banned.contains(*i as u32)).fold(f32::NEG_INFINITY, |m, (_, &v)| m.max(key(v)));
    let mut sum = 0.0;
    for (i, (p, &v)) in probs.iter_mut().zip(logits).enumerate() {
        let out = v.is_nan() || max == f32::NEG_INFINITY || banned.contains(i as u32);
        *p = if out { 0.0 } else { crate::math::exp((v - max) / temperature) };
        sum += *p;
    }
    let inv = if sum > 0.0 && sum.is_finite() { 1.0 / sum } else { 0.0 };
    probs.iter_mut().for_each(|p| *p *= inv);
}

/// `v = softmax(v)` in place (class probabilities from logits, float and
/// hybrid numerics; integer-only numerics use [`crate::fixed::softmax_q12`]).
#[cfg(feature = "float-numerics")]
pub(crate) fn softmax_in_place(v: &mut [f32]) {
    let max = v.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(key(x)));
    let mut sum = 0.0;
    for x in v.iter_mut() {
        *x = if x.is_nan() || max == f32::NEG_INFINITY { 0.0 } else { crate::math::exp(*x - max) };
        sum += *x;
    }
    let inv = if sum > 0.0 && sum.is_finite() { 1.0 / sum } else { 0.0 };
    v.iter_mut().for_each(|x| *x *= inv);
}

/// Orders `order[..]` (token ids) so that the `k` most probable come first,
/// sorted (banned tokens last, then by probability, then by id: a total
/// order, so the result is the same however it is computed). A heap of the
/// `k` best so far, then a heapsort of it: O(n log k), no recursion, and a
/// few hundred bytes of code where the library's select-and-sort took
/// kilobytes on a microcontroller. `order[k..]` is left unspecified.
fn rank(probs: &[f32], banned: &Banned, order: &mut [u32], k: usize) {
    // `a` ranks after `b`.
    let after = |a: u32, b: u32| {
        let (pa, pb) = (probs.get(a as usize).copied().unwrap_or(0.0), probs.get(b as usize).copied().unwrap_or(0.0));
        banned.contains(a).cmp(&banned.contains(b)).then(pb.total_cmp(&pa)).then(a.cmp(&b)) == core::cmp::Ordering::Greater
    };
    let n = order.len();
    let k = if k == 0 { n } else { k.min(n) };
    for (i, o) in order.iter_mut().enumerate() {
        *o = i as u32;
    }
    let heap = &mut order[..k];
    // A max-heap by `after`: its root is the worst of the best k so far.
    for root in (0..k / 2).rev() {
        sift_down(heap, root, k, &after);
    }
    for id in k..n {
        if k > 0 && after(heap[0], id as u32) {
            heap[0] = id as u32;
            sift_down(heap, 0, k, &after);
        }
    }
    for end in (1..k).rev() {
        heap.swap(0, end);
        sift_down(heap, 0, end, &after);
    }
}

/// Moves `heap[root]` down to its place in the max-heap `heap[..len]`.
fn sift_down(heap: &mut [u32], mut root: usize, len: usize, after: &impl Fn(u32, u32) -> bool) {
    loop {
        let mut child = 2 * root + 1;
        if child >= len {
            return;
        }
        if child + 1 < len && after(heap[child + 1], heap[child]) {
            child += 1;
        }
        if !after(heap[child], heap[root]) {
            return;
        }
        heap.swap(root, child);
        root = child;
    }
}

/// Picks a token, never a banned one. `probs` and `order` are scratch of `logits.len()` entries.
pub(crate) fn sample(logits: &[f32], params: &SamplingParams, banned: &Banned, rng: &mut Rng, probs: &mut [f32], order: &mut [u32]) -> u32 {
    if params.temperature == 0.0 || logits.len() <= 1 {
        return argmax_allowed(logits, banned);
    }
    let n = logits.len().min(probs.len()).min(order.len());
    let (logits, probs, order) = (&logits[..n], &mut probs[..n], &mut order[..n]);
    softmax(logits, params.temperature, banned, probs);
    let u = rng.next_f32();
    if params.top_k == 0 && params.top_p >= 1.0 {
        let mut cum = 0.0;
        for (i, &p) in probs.iter().enumerate() {
            cum += p;
            if u < cum {
                return i as u32;
            }
        }
        return argmax_allowed(logits, banned);
    }
    let k = if params.top_k == 0 { n } else { (params.top_k as usize).min(n) };
    rank(probs, banned, order, k);
    // Smallest prefix of the ranking that reaches top_p (at least one token).
    let mut kept = 0;
    let mut mass = 0.0;
    for &t in order[..k].iter() {
        mass += probs[t as usize];
        kept += 1;
        if mass >= params.top_p {
            break;
        }
    }
    let target = u * mass;
    let mut cum = 0.0;
    for &t in &order[..kept] {
        cum += probs[t as usize];
        if target < cum {
            return t;
        }
    }
    order[0]
}

/// The `out.len()` most likely tokens that are not banned (at most
/// `logits.len()`), most likely first; returns how many were written.
pub(crate) fn top_k(logits: &[f32], banned: &Banned, probs: &mut [f32], order: &mut [u32], out: &mut [TokenProb]) -> usize {
    let n = logits.len().min(probs.len()).min(order.len());
    let allowed = (0..n as u32).filter(|&i| !banned.contains(i)).count();
    let k = out.len().min(allowed);
    if k == 0 {
        return 0;
    }
    softmax(&logits[..n], 1.0, banned, &mut probs[..n]);
    rank(&probs[..n], banned, &mut order[..n], k);
    for (o, &t) in out.iter_mut().zip(&order[..k]) {
        *o = TokenProb { token: t, prob: probs[t as usize] };
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The argmax as float comparisons define it: the reference of the integer one.
    fn float_argmax(logits: &[f32], banned: &Banned) -> u32 {
        let mut best: Option<(usize, f32)> = None;
        for (i, &v) in logits.iter().enumerate() {
            if !banned.contains(i as u32) && best.is_none_or(|(_, b)| key(v) > b) {
                best = Some((i, key(v)));
            }
        }
        match best {
            Some((b, _)) => b as u32,
            None if banned.any() => float_argmax(logits, &Banned::NONE),
            None => 0,
        }
    }

    #[test]
    fn integer_argmax_picks_what_float_comparisons_pick() {
        let special = [0.0, -0.0, f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MIN_POSITIVE, -1e-42, 1e-42, 3.5, -3.5];
        let mut rng = Rng::new(5);
        for round in 0..4000 {
            let len = round % 13;
            let logits: Vec<f32> = (0..len)
                .map(|_| {
                    let r = rng.next_u64();
                    if r.is_multiple_of(3) {
                        special[(r >> 8) as usize % special.len()]
                    } else {
                        ((r >> 16) % 9) as f32 - 4.0
                    }
                })
                .collect();
            let id = |r: u64| if r.is_multiple_of(4) { None } else { Some((r >> 4) as u32 % 14) };
            let banned = Banned { ids: [id(rng.next_u64()), id(rng.next_u64())] };
            assert_eq!(argmax_allowed(&logits, &banned), float_argmax(&logits, &banned), "{logits:?} banned {banned:?}");
        }
    }

    #[test]
    fn greedy_picks_the_first_maximum_and_ignores_nan() {
        assert_eq!(argmax(&[0.0, 2.0, 2.0, 1.0]), 1);
        assert_eq!(argmax(&[f32::NAN, -1.0, -3.0]), 1);
    }

    #[test]
    fn same_seed_same_samples() {
        let logits = [0.1, 0.5, 0.2, 0.9, -1.0];
        let (mut p, mut o) = ([0.0; 5], [0u32; 5]);
        let params = SamplingParams { temperature: 1.0, top_k: 0, top_p: 1.0, allow_oov: false };
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            let mut v = [0u32; 32];
            for x in v.iter_mut() {
                *x = sample(&logits, &params, &Banned::NONE, &mut rng, &mut p.clone(), &mut o.clone());
            }
            v
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let _ = (&mut p, &mut o);
    }

    #[test]
    fn top_k_one_is_greedy_and_top_p_keeps_the_nucleus() {
        let logits = [0.0, 3.0, 1.0, 2.9];
        let (mut p, mut o) = ([0.0; 4], [0u32; 4]);
        let mut rng = Rng::new(1);
        for _ in 0..100 {
            let k1 = SamplingParams { temperature: 1.0, top_k: 1, top_p: 1.0, allow_oov: false };
            assert_eq!(sample(&logits, &k1, &Banned::NONE, &mut rng, &mut p, &mut o), 1);
            let nucleus = SamplingParams { temperature: 1.0, top_k: 0, top_p: 0.8, allow_oov: false };
            let t = sample(&logits, &nucleus, &Banned::NONE, &mut rng, &mut p, &mut o);
            assert!(t == 1 || t == 3, "token {t} is outside the 80% nucleus");
        }
    }

    #[test]
    fn sampling_follows_the_distribution() {
        let logits = [0.0f32, (2.0f32).ln(), (7.0f32).ln()];
        let (mut p, mut o) = ([0.0; 3], [0u32; 3]);
        let mut rng = Rng::new(42);
        let mut counts = [0u32; 3];
        let params = SamplingParams::default();
        for _ in 0..20000 {
            counts[sample(&logits, &params, &Banned::NONE, &mut rng, &mut p, &mut o) as usize] += 1;
        }
        let expected = [0.1, 0.2, 0.7];
        for (c, e) in counts.iter().zip(expected) {
            assert!((*c as f32 / 20000.0 - e).abs() < 0.015, "{counts:?}");
        }
    }

    #[test]
    fn top_k_lists_the_most_likely_tokens_in_order() {
        let logits = [0.0, 3.0, 1.0, 2.0];
        let (mut p, mut o) = ([0.0; 4], [0u32; 4]);
        let mut out = [TokenProb::default(); 3];
        assert_eq!(top_k(&logits, &Banned::NONE, &mut p, &mut o, &mut out), 3);
        assert_eq!([out[0].token, out[1].token, out[2].token], [1, 3, 2]);
        let total: f32 = [0.0f32, 3.0, 1.0, 2.0].iter().map(|v| v.exp()).sum();
        assert!((out[0].prob - 3.0f32.exp() / total).abs() < 1e-6);
    }

    #[test]
    fn banned_tokens_are_never_picked_or_suggested() {
        // Token 0 (padding) and 1 (OOV) have the largest logits.
        let logits = [5.0, 4.0, 1.0, 0.5];
        let banned = Banned { ids: [Some(0), Some(1)] };
        let (mut p, mut o) = ([0.0; 4], [0u32; 4]);
        let mut rng = Rng::new(3);
        assert_eq!(argmax_allowed(&logits, &banned), 2);
        for params in [SamplingParams::GREEDY, SamplingParams::default(), SamplingParams { top_k: 2, ..SamplingParams::default() }] {
            for _ in 0..200 {
                let t = sample(&logits, &params, &banned, &mut rng, &mut p, &mut o);
                assert!(t >= 2, "{params:?} picked banned token {t}");
            }
        }
        let mut out = [TokenProb::default(); 4];
        assert_eq!(top_k(&logits, &banned, &mut p, &mut o, &mut out), 2, "two tokens are allowed");
        assert_eq!([out[0].token, out[1].token], [2, 3]);
        assert!((out[0].prob + out[1].prob - 1.0).abs() < 1e-6, "probabilities over the allowed tokens");
        // Every token banned: the largest of all, rather than nothing.
        let all = Banned { ids: [Some(0), Some(1)] };
        assert_eq!(argmax_allowed(&[1.0, 2.0], &all), 1);
    }

    #[test]
    fn parameters_are_validated() {
        assert!(SamplingParams { temperature: f32::NAN, ..SamplingParams::default() }.validate().is_err());
        assert!(SamplingParams { temperature: -1.0, ..SamplingParams::default() }.validate().is_err());
        assert!(SamplingParams { top_p: 0.0, ..SamplingParams::default() }.validate().is_err());
        assert!(SamplingParams { top_p: f32::NAN, ..SamplingParams::default() }.validate().is_err());
        assert!(SamplingParams::GREEDY.validate().is_ok());
    }

    /// The ranking is the full sort's prefix for every k, with ties,
    /// NaN-free equal probabilities, banned tokens and k beyond n.
    #[test]
    fn rank_is_the_sorted_prefix() {
        let mut rng = Rng::new(11);
        for n in [1usize, 2, 3, 7, 64, 300] {
            let probs: std::vec::Vec<f32> = (0..n).map(|_| (rng.next_f32() * 8.0).floor() / 8.0).collect();
            let banned = Banned { ids: [Some(1), Some(5)] };
            let mut want: std::vec::Vec<u32> = (0..n as u32).collect();
            want.sort_by(|&a, &b| {
                banned.contains(a).cmp(&banned.contains(b)).then(probs[b as usize].total_cmp(&probs[a as usize])).then(a.cmp(&b))
            });
            for k in [0usize, 1, 2, 5, n / 2, n, n + 3] {
                let mut order = std::vec![0u32; n];
                rank(&probs, &banned, &mut order, k);
                let m = if k == 0 { n } else { k.min(n) };
                assert_eq!(&order[..m], &want[..m], "n {n}, k {k}");
            }
        }
    }
}
