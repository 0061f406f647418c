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

    /// These bans over a vocabulary of `n` tokens, or none when they ban
    /// every token (a choice is still made).
    fn unless_all(&self, n: usize) -> &Banned {
        let all = self.any() && (0..n as u32).all(|i| self.contains(i));
        if all {
            &Banned::NONE
        } else {
            self
        }
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
    // The first largest of all, where vectors find it; it is the answer
    // unless banned.
    if let Some(i) = first_max(logits).filter(|&i| allowed(banned, i)) {
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

/// Values per block of the vector searches: a block's largest
/// [`order_key`] is one pass that vectorizes; only the blocks that can change
/// the answer are then read value by value.
const BLOCK: usize = 64;

/// The largest [`order_key`] of `v` (`i32::MIN` when empty), in AVX2 where
/// the core has it.
#[inline(always)]
fn max_key(v: &[f32]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::x86::has_avx2() {
        // SAFETY: the core has AVX2 (checked above).
        return unsafe { max_key_avx2(v) };
    }
    max_key_portable(v)
}

/// [`max_key_portable`] by float maxima, eight values per instruction: the
/// largest [`order_key`] is the key of the largest value with NaN left out
/// (`maxps` keeps its second operand, the running maximum, when the new
/// value is NaN; -0 and +0, the one tie it cannot order, have one key),
/// and -infinity where every value is NaN or -infinity (their key).
///
/// # Safety
/// The core must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn max_key_avx2(v: &[f32]) -> i32 {
    use core::arch::x86_64::*;
    if v.is_empty() {
        return i32::MIN;
    }
    let load = |c: &[f32; 8]| -> __m256 {
        // SAFETY: `c` holds 8 f32 (unaligned load).
        unsafe { _mm256_loadu_ps(c.as_ptr()) }
    };
    // Four running maxima, so that the maxima do not wait on each other.
    let mut m = [_mm256_set1_ps(f32::NEG_INFINITY); 4];
    let (groups, rest) = v.as_chunks::<32>();
    for g in groups {
        let (eights, _) = g.as_chunks::<8>();
        for (m, e) in m.iter_mut().zip(eights) {
            *m = _mm256_max_ps(load(e), *m);
        }
    }
    let (eights, tail) = rest.as_chunks::<8>();
    for e in eights {
        m[0] = _mm256_max_ps(load(e), m[0]);
    }
    // No lane is NaN: the order of these maxima does not matter.
    let m = _mm256_max_ps(_mm256_max_ps(m[0], m[1]), _mm256_max_ps(m[2], m[3]));
    let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    let m = _mm_max_ss(m, _mm_shuffle_ps::<0b01>(m, m));
    order_key(_mm_cvtss_f32(m)).max(max_key_portable(tail))
}

/// [`max_key`] in plain code (auto-vectorized for the target's baseline).
#[inline(always)]
fn max_key_portable(v: &[f32]) -> i32 {
    v.iter().fold(i32::MIN, |m, &x| m.max(order_key(x)))
}

/// Index of the first largest logit of all (by [`order_key`]) where the core
/// has vectors (Helium: four at a time; x86-64 with AVX2: the largest key,
/// then its first place, [`first_max_avx2`]; aarch64: each block's largest
/// key, then the first index of the best block's); `None` on scalar cores,
/// where one pass over the logits is the cheapest.
fn first_max(logits: &[f32]) -> Option<usize> {
    #[cfg(edgegru_helium)]
    {
        crate::kernels::arm::helium_fixed::first_max(logits)
    }
    #[cfg(not(edgegru_helium))]
    {
        if !cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            return None;
        }
        #[cfg(target_arch = "x86_64")]
        if crate::kernels::x86::has_avx2() {
            // SAFETY: the core has AVX2 (checked above).
            return unsafe { first_max_avx2(logits) };
        }
        let (mut best, mut at) = (i32::MIN, None);
        for (b, block) in logits.chunks(BLOCK).enumerate() {
            let m = max_key(block);
            if at.is_none() || m > best {
                (best, at) = (m, Some(b * BLOCK));
            }
        }
        let start = at?;
        logits[start..].iter().position(|&v| order_key(v) == best).map(|i| start + i)
    }
}

/// [`first_max`] in two passes of AVX2: the largest key ([`max_key_avx2`],
/// one float maximum per eight values), then the first value equal to it
/// as a float (-0 and +0 equal, NaN never), thirty-two at a time; where
/// every value is NaN or -infinity, the first by its key.
///
/// # Safety
/// The core must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn first_max_avx2(logits: &[f32]) -> Option<usize> {
    use core::arch::x86_64::*;
    // SAFETY: the caller's promise.
    let best = unsafe { max_key_avx2(logits) };
    if best <= order_key(f32::NEG_INFINITY) {
        return logits.iter().position(|&v| order_key(v) == best);
    }
    let target = _mm256_set1_ps(key_value(best));
    let (groups, rest) = logits.as_chunks::<32>();
    for (g, group) in groups.iter().enumerate() {
        // SAFETY: `group` holds 32 f32, four unaligned loads of eight.
        let equal = unsafe { [0, 8, 16, 24].map(|i| _mm256_cmp_ps::<_CMP_EQ_OQ>(_mm256_loadu_ps(group.as_ptr().add(i)), target)) };
        let mask = equal.iter().enumerate().fold(0u32, |m, (j, &e)| m | (_mm256_movemask_ps(e) as u32) << (8 * j));
        if mask != 0 {
            return Some(32 * g + mask.trailing_zeros() as usize);
        }
    }
    rest.iter().position(|&v| order_key(v) == best).map(|i| logits.len() - rest.len() + i)
}

/// Whether token `i` may be picked.
#[inline(never)]
fn allowed(banned: &Banned, i: usize) -> bool {
    u32::try_from(i).map_or(true, |i| !banned.contains(i))
}

/// `probs = softmax(logits / temperature)`, banned tokens (and NaN logits)
/// at probability 0 (unless every token is banned). Each `e^((v - max) /
/// temperature)` has the bits of [`crate::math::exp`] (by
/// [`crate::math::map_exp`], in blocks); their sum is [`lane_sum`]'s.
pub(crate) fn softmax(logits: &[f32], temperature: f32, banned: &Banned, probs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::x86::has_avx2() {
        // SAFETY: the core has AVX2 (checked above).
        return unsafe { softmax_avx2(logits, temperature, banned, probs) };
    }
    softmax_portable(logits, temperature, banned, probs)
}

/// [`softmax_portable`] compiled for AVX2: the same operations (no fused
/// multiply-adds), so the same bits, eight values at a time.
///
/// # Safety
/// The core must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn softmax_avx2(logits: &[f32], temperature: f32, banned: &Banned, probs: &mut [f32]) {
    softmax_portable(logits, temperature, banned, probs)
}

/// [`softmax`] in plain code.
#[inline(always)]
fn softmax_portable(logits: &[f32], temperature: f32, banned: &Banned, probs: &mut [f32]) {
    let banned = banned.unless_all(logits.len());
    let max = max_allowed(logits, banned);
    let n = logits.len().min(probs.len());
    let probs = &mut probs[..n];
    if max == f32::NEG_INFINITY {
        // No allowed logit is a number above -infinity.
        probs.iter_mut().for_each(|p| *p = 0.0);
        return;
    }
    let mut scratch = [0f32; BLOCK];
    for (p, l) in probs.chunks_mut(BLOCK).zip(logits.chunks(BLOCK)) {
        p.iter_mut().zip(l).for_each(|(p, &v)| *p = (v - max) / temperature);
        // A NaN logit (or +infinity's NaN difference) gets 0.
        crate::math::map_exp(p, &mut scratch, |e| if e.is_nan() { 0.0 } else { e });
    }
    for id in banned.ids.iter().flatten() {
        if let Some(p) = probs.get_mut(*id as usize) {
            *p = 0.0;
        }
    }
    let sum = lane_sum(probs);
    let inv = if sum > 0.0 && sum.is_finite() { 1.0 / sum } else { 0.0 };
    probs.iter_mut().for_each(|p| *p *= inv);
}

/// The largest logit that is not banned, NaN counting as -infinity (by
/// [`order_key`], over the runs of logits between the banned ids).
fn max_allowed(logits: &[f32], banned: &Banned) -> f32 {
    let mut cuts = banned.ids.map(|id| id.map_or(usize::MAX, |i| i as usize));
    cuts.sort_unstable();
    let (mut best, mut from) = (i32::MIN, 0);
    for cut in cuts.into_iter().chain([usize::MAX]) {
        let to = cut.min(logits.len());
        if from < to {
            best = best.max(max_key(&logits[from..to]));
        }
        from = to.saturating_add(1).max(from);
    }
    // (`i32::MIN`: nothing allowed, or only NaN and -infinity.)
    key_value(best)
}

/// The float whose [`order_key`] is `key` (+0 for either zero); -infinity
/// for keys below -infinity's.
fn key_value(key: i32) -> f32 {
    match key {
        k if k >= 0 => f32::from_bits(k as u32),
        k if k <= -0x7F80_0000 => f32::NEG_INFINITY,
        k => f32::from_bits(k.unsigned_abs() | 0x8000_0000),
    }
}

/// The sum of `v` in a fixed order, the same on every target: value `i`
/// into partial sum `i % 8` (each in index order), then `((s0 + s1) + (s2 +
/// s3)) + ((s4 + s5) + (s6 + s7))`. Eight independent chains, where one
/// running sum waits on each add.
fn lane_sum(v: &[f32]) -> f32 {
    let mut s = [0f32; 8];
    let mut blocks = v.chunks_exact(8);
    for b in &mut blocks {
        for (s, &x) in s.iter_mut().zip(b) {
            *s += x;
        }
    }
    for (s, &x) in s.iter_mut().zip(blocks.remainder()) {
        *s += x;
    }
    ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
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

/// Orders `order[..]` (token ids) so that the `k` best come first, sorted:
/// banned tokens last, then by the [`order_key`] of their value in `vals`
/// (probabilities, or logits), largest first, then by id (a total order,
/// so the result is the same however it is computed). Where the core has
/// vectors and `k` is small, one filtering pass ([`rank_by_filter`]);
/// elsewhere a heap of the `k` best so far, then a heapsort of it: O(n log
/// k), no recursion, and a few hundred bytes of code where the library's
/// select-and-sort took kilobytes on a microcontroller. `order[k..]` is left
/// unspecified.
fn rank(vals: &[f32], banned: &Banned, order: &mut [u32], k: usize) {
    let n = order.len();
    let k = if k == 0 { n } else { k.min(n) };
    if VECTOR_RANK && k <= MAX_FILTER_K && vals.len() >= n && rank_by_filter(&vals[..n], banned, order, k) {
        return;
    }
    let key = |i: u32| order_key(vals.get(i as usize).copied().unwrap_or(0.0));
    // `a` ranks after `b` (both allowed).
    let after = |a: u32, b: u32| (key(a), b) < (key(b), a);
    // The first k allowed tokens fill the heap (a max-heap by `after`: its
    // root is the worst of the best k so far); a later token enters only
    // with a greater key than the root's (an equal one has the greater id).
    let (mut len, mut worst) = (0, i32::MAX);
    for i in 0..n as u32 {
        let r = key(i);
        if (len == k && r <= worst) || banned.contains(i) {
            continue;
        }
        if len < k {
            order[len] = i;
            len += 1;
            if len == k {
                for root in (0..k / 2).rev() {
                    sift_down(&mut order[..k], root, k, &after);
                }
                worst = key(order[0]);
            }
        } else {
            order[0] = i;
            sift_down(&mut order[..k], 0, k, &after);
            worst = key(order[0]);
        }
    }
    let heap = &mut order[..len];
    if len < k {
        // Fewer than k allowed tokens: not yet a heap.
        for root in (0..len / 2).rev() {
            sift_down(heap, root, len, &after);
        }
    }
    for end in (1..len).rev() {
        heap.swap(0, end);
        sift_down(heap, 0, end, &after);
    }
    // Fewer than k allowed tokens: the banned ones after them, in order.
    let mut last = banned.ids.map(|b| b.filter(|&b| (b as usize) < n));
    if last[1].is_some_and(|b1| last[0].is_none_or(|b0| after(b0, b1))) {
        last.swap(0, 1);
    }
    for b in last.into_iter().flatten() {
        if len < k {
            order[len] = b;
            len += 1;
        }
    }
}

/// Whether [`rank`] filters with vectors (cores that have them; elsewhere
/// the heap, and no candidate table takes stack).
const VECTOR_RANK: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// Largest `k` that [`rank_by_filter`] ranks (top-k sampling, suggestions,
/// the first two rounds of top-p); larger ones take the heap. Its table of
/// candidates takes `2 * 8 * MAX_FILTER_K` bytes of stack (4 KB).
const MAX_FILTER_K: usize = 256;

/// Candidates [`Filter`] holds at most.
const FILTER_CAP: usize = if VECTOR_RANK { FILTER_SPAN * MAX_FILTER_K } else { 2 };

/// Largest `k` ranked with a table of [`SMALL_FILTER_CAP`] candidates (a
/// smaller table to clear and move: top-k sampling's usual sizes).
const SMALL_FILTER_K: usize = 64;

/// Candidates of the smaller [`Filter`] table.
const SMALL_FILTER_CAP: usize = if VECTOR_RANK { FILTER_SPAN * SMALL_FILTER_K } else { 2 };

/// [`Filter`] keeps only the best `k` when it holds this many times `k`.
const FILTER_SPAN: usize = 2;

/// The best `k` tokens of those seen so far, among others: tokens are
/// offered in id order, and one whose key is not above `threshold` (the
/// `k`-th best key kept, once there are `k`) has `k` tokens ranking before
/// it already, so it is never kept.
struct Filter<const CAP: usize> {
    /// Key and id in one integer, larger for the token that ranks first:
    /// the key (offset to unsigned), then the complement of the id.
    kept: [u64; CAP],
    len: usize,
    k: usize,
    /// How many are kept before only the best `k` are: a few times `k`,
    /// so that the threshold rises early.
    cap: usize,
    threshold: i32,
}

impl<const CAP: usize> Filter<CAP> {
    fn new(k: usize) -> Self {
        Filter { kept: [0; CAP], len: 0, k, cap: (FILTER_SPAN * k).clamp(k + 1, CAP), threshold: i32::MIN }
    }

    /// Keeps token `id` with key `key` (the caller checked `key > threshold`).
    #[inline(always)]
    fn offer(&mut self, key: i32, id: u32, banned: &Banned) {
        if banned.contains(id) {
            return;
        }
        self.kept[self.len] = u64::from(key as u32 ^ 0x8000_0000) << 32 | u64::from(!id);
        self.len += 1;
        if self.len >= self.cap {
            self.keep_best();
            // The k-th best is the least of those kept.
            let least = self.kept[..self.k].iter().min().copied().unwrap_or(0);
            self.threshold = (least >> 32) as i32 ^ i32::MIN;
        }
    }

    /// Only the best `k` kept, at the front (not sorted).
    fn keep_best(&mut self) {
        if self.len > self.k {
            let worse = self.len - self.k;
            self.kept[..self.len].select_nth_unstable(worse);
            self.kept.copy_within(worse..self.len, 0);
            self.len = self.k;
        }
    }
}

/// [`rank`] by one pass that offers [`Filter`] only the tokens above its
/// threshold (which rises quickly: after the first few hundred tokens, few
/// pass), then a sort of the `k` kept. Returns false, leaving `order` to the
/// heap, when fewer than `k` tokens are allowed. `0 < k <= MAX_FILTER_K`.
fn rank_by_filter(vals: &[f32], banned: &Banned, order: &mut [u32], k: usize) -> bool {
    if k <= SMALL_FILTER_K {
        rank_with::<SMALL_FILTER_CAP>(vals, banned, order, k)
    } else {
        rank_with::<FILTER_CAP>(vals, banned, order, k)
    }
}

/// [`rank_by_filter`] with a table of `CAP` candidates (`CAP >= 2k`).
fn rank_with<const CAP: usize>(vals: &[f32], banned: &Banned, order: &mut [u32], k: usize) -> bool {
    let mut filter = Filter::<CAP>::new(k);
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::x86::has_avx2() {
        // SAFETY: the core has AVX2 (checked above).
        unsafe { filter_avx2(vals, banned, &mut filter) };
    } else {
        filter_portable(vals, 0, banned, &mut filter);
    }
    #[cfg(not(target_arch = "x86_64"))]
    filter_portable(vals, 0, banned, &mut filter);
    if filter.len < k {
        return false;
    }
    // The best k, sorted, the best last.
    filter.keep_best();
    let kept = &mut filter.kept[..filter.len];
    kept.sort_unstable();
    for (o, &c) in order.iter_mut().zip(kept.iter().rev()) {
        *o = !(c as u32);
    }
    true
}

/// Offers `filter` the tokens of `vals` (ids from `first`) above its threshold.
#[inline(always)]
fn filter_portable<const CAP: usize>(vals: &[f32], first: usize, banned: &Banned, filter: &mut Filter<CAP>) {
    for (i, &v) in vals.iter().enumerate() {
        let key = order_key(v);
        if key > filter.threshold {
            filter.offer(key, (first + i) as u32, banned);
        }
    }
}

/// [`filter_portable`] 32 values at a time: once the filter has a
/// threshold, the values are compared with the float whose key it is (the
/// same answer for numbers; NaN is never above it) four vectors at once, and
/// only a group with a value above it is looked at value by value.
///
/// # Safety
/// The core must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn filter_avx2<const CAP: usize>(vals: &[f32], banned: &Banned, filter: &mut Filter<CAP>) {
    use core::arch::x86_64::*;
    // Until the filter first keeps only its best, every token is offered.
    let mut start = 0;
    while filter.threshold == i32::MIN && start < vals.len() {
        let end = (start + 8).min(vals.len());
        filter_portable(&vals[start..end], start, banned, filter);
        start = end;
    }
    let (groups, rest) = vals[start..].as_chunks::<32>();
    let mut threshold = _mm256_set1_ps(key_value(filter.threshold));
    for (g, group) in groups.iter().enumerate() {
        // SAFETY: `group` holds 32 f32, four unaligned loads of eight.
        let above = unsafe { [0, 8, 16, 24].map(|i| _mm256_cmp_ps::<_CMP_GT_OQ>(_mm256_loadu_ps(group.as_ptr().add(i)), threshold)) };
        if _mm256_movemask_ps(_mm256_or_ps(_mm256_or_ps(above[0], above[1]), _mm256_or_ps(above[2], above[3]))) == 0 {
            continue;
        }
        // The values above it, one bit each.
        let mut mask = above.iter().enumerate().fold(0u32, |m, (j, &a)| m | (_mm256_movemask_ps(a) as u32) << (8 * j));
        while mask != 0 {
            let lane = mask.trailing_zeros() as usize;
            let key = order_key(group[lane]);
            // (The threshold may have risen since the compare.)
            if key > filter.threshold {
                filter.offer(key, (start + g * 32 + lane) as u32, banned);
            }
            mask &= mask - 1;
        }
        threshold = _mm256_set1_ps(key_value(filter.threshold));
    }
    filter_portable(rest, vals.len() - rest.len(), banned, filter);
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
    if params.top_k != 0 && (params.top_k as usize) < n && params.top_p >= 1.0 {
        return sample_top_k(logits, params, banned, rng.next_f32(), probs, order);
    }
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
    // The smallest prefix of the ranking's first k that reaches top_p (at
    // least one token). The nucleus is usually far shorter than k: the
    // first 64 are ranked, then 4 times as many while they do not reach it
    // (each ranking is a prefix of the full one, so the result is the same).
    let mut ranked = if params.top_p >= 1.0 { k } else { k.min(64) };
    let (kept, mass) = loop {
        rank(probs, banned, order, ranked);
        let (kept, mass) = nucleus(probs, &order[..ranked], params.top_p);
        if mass >= params.top_p || ranked == k {
            break (kept, mass);
        }
        ranked = ranked.saturating_mul(4).min(k);
    };
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

/// Top-k sampling without a softmax over the vocabulary: the `top_k` best
/// logits (ranked as [`rank`] ranks probabilities, which have their order),
/// then `e^((v - max) / temperature)` of those only, and `u` times their
/// sum picked by the running sum in rank order: the distribution of the
/// softmax restricted to the `top_k` and renormalized. `0 < top_k < n`.
fn sample_top_k(logits: &[f32], params: &SamplingParams, banned: &Banned, u: f32, weights: &mut [f32], order: &mut [u32]) -> u32 {
    let banned = banned.unless_all(logits.len());
    let k = params.top_k as usize;
    rank(logits, banned, order, k);
    let max = key(logits[order[0] as usize]);
    let weights = &mut weights[..k];
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::x86::has_avx2() {
        // SAFETY: the core has AVX2 (checked above).
        unsafe { top_k_weights_avx2(logits, &order[..k], max, params.temperature, weights) };
    } else {
        top_k_weights(logits, &order[..k], max, params.temperature, weights);
    }
    #[cfg(not(target_arch = "x86_64"))]
    top_k_weights(logits, &order[..k], max, params.temperature, weights);
    let mut mass = 0.0;
    for (w, &t) in weights.iter_mut().zip(&order[..k]) {
        if logits[t as usize].is_nan() || max == f32::NEG_INFINITY || banned.contains(t) {
            *w = 0.0;
        }
        mass += *w;
    }
    let target = u * mass;
    let mut cum = 0.0;
    for (&w, &t) in weights.iter().zip(&order[..k]) {
        cum += w;
        if target < cum {
            return t;
        }
    }
    order[0]
}

/// `weights[i] = e^((logits[ranked[i]] - max) / temperature)`, each the
/// bits of [`crate::math::exp`] (by [`crate::math::map_exp`], in blocks).
#[inline(always)]
fn top_k_weights(logits: &[f32], ranked: &[u32], max: f32, temperature: f32, weights: &mut [f32]) {
    let mut scratch = [0f32; BLOCK];
    for (w, r) in weights.chunks_mut(BLOCK).zip(ranked.chunks(BLOCK)) {
        w.iter_mut().zip(r).for_each(|(w, &t)| *w = (logits[t as usize] - max) / temperature);
        crate::math::map_exp(w, &mut scratch, |e| e);
    }
}

/// [`top_k_weights`] compiled for AVX2: the same operations, eight at a time.
///
/// # Safety
/// The core must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn top_k_weights_avx2(logits: &[f32], ranked: &[u32], max: f32, temperature: f32, weights: &mut [f32]) {
    top_k_weights(logits, ranked, max, temperature, weights)
}

/// The smallest prefix of `ranked` whose probabilities, summed in order,
/// reach `top_p` (all of it if none does): its length and its mass.
fn nucleus(probs: &[f32], ranked: &[u32], top_p: f32) -> (usize, f32) {
    let mut mass = 0.0;
    for (i, &t) in ranked.iter().enumerate() {
        mass += probs[t as usize];
        if mass >= top_p {
            return (i + 1, mass);
        }
    }
    (ranked.len(), mass)
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
    /// NaN-free equal probabilities, banned tokens (the largest values in
    /// the larger cases, in two groups of 32, so that the blocks' floor must
    /// allow for them; once with values too fine for ties to hide a
    /// threshold one too high) and k beyond n.
    #[test]
    fn rank_is_the_sorted_prefix() {
        let mut rng = Rng::new(11);
        for (n, levels) in
            [(1usize, 8.0), (2, 8.0), (3, 8.0), (7, 8.0), (64, 8.0), (300, 8.0), (5000, 4096.0), (5000, 1048576.0), (20_000, 4096.0)]
        {
            let mut probs: std::vec::Vec<f32> = (0..n).map(|_| (rng.next_f32() * levels).floor() / levels).collect();
            let banned = if n > 1000 { Banned { ids: [Some(1), Some(37)] } } else { Banned { ids: [Some(1), Some(5)] } };
            if n > 1000 {
                (probs[1], probs[37]) = (1.0, 1.0);
            }
            let mut want: std::vec::Vec<u32> = (0..n as u32).collect();
            want.sort_by(|&a, &b| {
                banned.contains(a).cmp(&banned.contains(b)).then(probs[b as usize].total_cmp(&probs[a as usize])).then(a.cmp(&b))
            });
            for k in [0usize, 1, 2, 5, 40, 64, 65, 126, 127, 300, n / 2, n, n + 3] {
                let mut order = std::vec![0u32; n];
                rank(&probs, &banned, &mut order, k);
                let m = if k == 0 { n } else { k.min(n) };
                assert_eq!(&order[..m], &want[..m], "n {n}, k {k}");
            }
        }
    }

    /// One large value per group of 32 (the rest small), the two largest
    /// banned: the best `k` allowed are exactly `k` values, each the largest
    /// of its group, below two banned ones.
    #[test]
    fn the_first_threshold_allows_for_banned_tokens() {
        let mut rng = Rng::new(5);
        let n = 4096;
        let mut vals: std::vec::Vec<f32> = (0..n).map(|_| rng.next_f32() * 0.5).collect();
        for g in 0..n / 32 {
            vals[32 * g + 3] = 1.0 + g as f32 / 1024.0;
        }
        let banned = Banned { ids: [Some(32 * 127 + 3), Some(32 * 126 + 3)] };
        for k in [1usize, 2, 40, 100] {
            let mut order = std::vec![0u32; n];
            rank(&vals, &banned, &mut order, k);
            let want: std::vec::Vec<u32> = (0..k as u32).map(|i| 32 * (125 - i) + 3).collect();
            assert_eq!(&order[..k], &want[..], "k {k}");
        }
    }

    /// Logits like a word model's: a few likely words, a long flat tail,
    /// NaN and infinities sprinkled in when `damaged`.
    fn word_logits(n: usize, seed: u64, damaged: bool) -> std::vec::Vec<f32> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|i| {
                let r = rng.next_u64();
                match r % 97 {
                    0 if damaged => f32::NAN,
                    1 if damaged => f32::NEG_INFINITY,
                    2 if damaged => -0.0,
                    _ if i % 211 == 3 => 6.0 + rng.next_f32() * 4.0,
                    _ => rng.next_f32() * 3.0 - 1.5,
                }
            })
            .collect()
    }

    /// The vector searches against the plain ones, wherever the core has
    /// them: the same key, the same first maximum, the same probability
    /// bits from the AVX2 softmax as from the portable one.
    #[test]
    fn vector_searches_match_the_plain_ones() {
        for (n, seed) in [(0usize, 1u64), (1, 2), (63, 3), (64, 4), (65, 5), (1000, 6), (5002, 7)] {
            let logits = word_logits(n, seed, true);
            let plain = logits.iter().fold(i32::MIN, |m, &x| m.max(order_key(x)));
            assert_eq!(max_key(&logits), plain, "n {n}");
            assert_eq!(max_key_portable(&logits), plain, "n {n}");
            if let Some(i) = first_max(&logits) {
                assert_eq!(i as u32, float_argmax(&logits, &Banned::NONE), "n {n}");
            }
            let banned = Banned { ids: [Some(0), Some(3)] };
            let (mut a, mut b) = (std::vec![0f32; n], std::vec![0f32; n]);
            softmax(&logits, 0.8, &banned, &mut a);
            softmax_portable(&logits, 0.8, &banned, &mut b);
            assert_eq!(
                a.iter().map(|p| p.to_bits()).collect::<std::vec::Vec<_>>(),
                b.iter().map(|p| p.to_bits()).collect::<std::vec::Vec<_>>()
            );
            assert!(a.iter().all(|p| p.is_finite() && *p >= 0.0), "n {n}");
            // (With one token, every token is banned: it keeps its probability.)
            let zeroed = banned.ids.iter().flatten().all(|&t| a.get(t as usize).is_none_or(|&p| p == 0.0));
            assert!(n < 2 || zeroed, "n {n}: a banned token has a probability");
        }
    }

    #[test]
    fn the_largest_key_and_its_first_place_hold_for_every_special_value() {
        let special = [f32::NAN, -f32::NAN, f32::NEG_INFINITY, f32::INFINITY, -0.0, 0.0, 1e-45, -1e-45, -3.5, 2.25, f32::MAX, f32::MIN];
        let mut rng = Rng::new(43);
        for n in 1..=75 {
            for trial in 0..40 {
                // A background of one special value (a NaN, an infinity or
                // a zero: blocks where every value ties or none is a
                // number), a few others at random places.
                let fill = special[trial % 6];
                let mut v = std::vec![fill; n];
                for _ in 0..trial % 4 {
                    let at = rng.next_u64() as usize % n;
                    v[at] = special[rng.next_u64() as usize % special.len()];
                }
                let plain = v.iter().fold(i32::MIN, |m, &x| m.max(order_key(x)));
                assert_eq!(max_key(&v), plain, "n {n} trial {trial} {v:?}");
                if let Some(i) = first_max(&v) {
                    assert_eq!(i as u32, float_argmax(&v, &Banned::NONE), "n {n} trial {trial} {v:?}");
                }
            }
        }
        assert_eq!(max_key(&[]), i32::MIN);
    }

    /// Pure top-k draws from the softmax restricted to the k most likely
    /// allowed tokens and renormalized; never a banned token or a NaN logit.
    #[test]
    fn top_k_draws_from_the_renormalized_top_k() {
        let logits = [f32::NAN, 3.0, 0.0, (2.0f32).ln() + 3.0, 9.0, 1.0, 3.0 + (5.0f32).ln(), f32::INFINITY - f32::INFINITY];
        // Token 4 is banned; the best three allowed are 6, 3, 1 with
        // weights 5 : 2 : 1.
        let banned = Banned { ids: [Some(4), None] };
        let params = SamplingParams { temperature: 1.0, top_k: 3, top_p: 1.0, allow_oov: false };
        let (mut p, mut o) = ([0.0; 8], [0u32; 8]);
        let mut rng = Rng::new(9);
        let mut counts = [0u32; 8];
        for _ in 0..40_000 {
            counts[sample(&logits, &params, &banned, &mut rng, &mut p, &mut o) as usize] += 1;
        }
        for (t, want) in [(6usize, 5.0 / 8.0), (3, 2.0 / 8.0), (1, 1.0 / 8.0)] {
            let got = counts[t] as f32 / 40_000.0;
            assert!((got - want).abs() < 0.01, "token {t}: {got} against {want}; {counts:?}");
        }
        assert_eq!(counts[6] + counts[3] + counts[1], 40_000, "only the top 3 allowed tokens: {counts:?}");
        // Temperature sharpens within the top k: at 0.5 the weights are
        // squared (25 : 4 : 1).
        let cold = SamplingParams { temperature: 0.5, ..params };
        let mut six = 0;
        for _ in 0..30_000 {
            six += u32::from(sample(&logits, &cold, &banned, &mut rng, &mut p, &mut o) == 6);
        }
        assert!((six as f32 / 30_000.0 - 25.0 / 30.0).abs() < 0.01, "{six}");
    }

    /// Top-p ranks only as far as the nucleus reaches (64 tokens, then 4
    /// times as many): the token drawn is the one the full sort gives, for
    /// nuclei of one token up to most of a flat vocabulary.
    #[test]
    fn top_p_draws_what_the_full_sort_draws() {
        for (n, seed, top_p, top_k) in [
            (5002usize, 1u64, 0.9f32, 0u32),
            (5002, 2, 0.999, 0),
            (5002, 3, 0.2, 0),
            (5002, 4, 0.95, 40),
            (300, 5, 0.5, 0),
            (70, 6, 0.99, 0),
        ] {
            let logits = word_logits(n, seed, seed % 2 == 0);
            let banned = Banned { ids: [Some(0), Some(1)] };
            let params = SamplingParams { temperature: 1.3, top_k, top_p, allow_oov: false };
            let (mut p, mut o) = (std::vec![0f32; n], std::vec![0u32; n]);
            let (mut rng, mut reference_rng) = (Rng::new(seed), Rng::new(seed));
            for _ in 0..50 {
                let got = sample(&logits, &params, &banned, &mut rng, &mut p, &mut o);
                // The reference: softmax, every token sorted, the nucleus, the draw.
                let mut probs = std::vec![0f32; n];
                softmax(&logits, params.temperature, &banned, &mut probs);
                let u = reference_rng.next_f32();
                let mut sorted: std::vec::Vec<u32> = (0..n as u32).filter(|&t| !banned.contains(t)).collect();
                sorted.sort_by(|&a, &b| probs[b as usize].total_cmp(&probs[a as usize]).then(a.cmp(&b)));
                sorted.truncate(if top_k == 0 { n } else { top_k as usize });
                let (kept, mass) = nucleus(&probs, &sorted, top_p);
                let mut cum = 0.0;
                let want = sorted[..kept].iter().copied().find(|&t| {
                    cum += probs[t as usize];
                    u * mass < cum
                });
                assert_eq!(got, want.unwrap_or(sorted[0]), "n {n}, top_p {top_p}, top_k {top_k}");
            }
        }
    }
}
