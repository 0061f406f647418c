//! The CPU training backend: batched forward pass and back-propagation
//! through time for Embedding -> GRU -> Dense(relu) -> Dense(vocab).
//!
//! Rows are time-major (`row = t * batch + b`), so the input projection of the
//! whole batch, the dense layers and every weight gradient are single large
//! matrix products; only the recurrent product runs per step, over the batch.

use edgegru_runtime::math::{sigmoid, tanh};

use crate::linalg::{add_bias, add_column_sums, gemm, Op};
use crate::params::{Params, Tensor, KERNELS};

/// One batch of training windows.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// Input ids, `batch * seq`, window-major (`b * seq + t`).
    pub inputs: &'a [u32],
    /// Next-token targets, same layout.
    pub targets: &'a [u32],
    /// Windows in the batch.
    pub batch: usize,
    /// Steps per window.
    pub seq: usize,
}

/// Dropout and weight penalties.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Regularization {
    /// Dropout on the GRU inputs (one mask per sequence, as Keras does).
    pub dropout: f32,
    /// Dropout on the recurrent state fed to `U` (one mask per sequence).
    pub recurrent_dropout: f32,
    /// L1 penalty on the kernels: `l1 * sum |w|`.
    pub l1: f32,
    /// L2 penalty on the kernels: `l2 * sum w^2`.
    pub l2: f32,
}

/// What one forward (and backward) pass measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// Mean cross-entropy, nats per token.
    pub loss: f64,
    /// Weight penalty added to the loss.
    pub penalty: f64,
    /// Tokens predicted correctly (argmax).
    pub correct: usize,
    /// Tokens predicted.
    pub tokens: usize,
}

/// Buffers reused from batch to batch.
#[derive(Debug, Default)]
pub struct Workspace {
    xe: Vec<f32>,
    gx: Vec<f32>,
    gh: Vec<f32>,
    h: Vec<f32>,
    hd: Vec<f32>,
    gates: Vec<f32>,
    d: Vec<f32>,
    logits: Vec<f32>,
    mask_x: Vec<f32>,
    mask_h: Vec<f32>,
    dgx: Vec<f32>,
    dgh: Vec<f32>,
    dd: Vec<f32>,
    dhs: Vec<f32>,
    carry: Vec<f32>,
    dxe: Vec<f32>,
    /// Argmax predictions of the last forward pass, time-major.
    pub predictions: Vec<u32>,
}

/// Sets the length to `n` without clearing: every buffer is overwritten
/// before it is read (products with beta = 0 do not read their output),
/// except the initial state and the BPTT carry, which are zeroed explicitly.
fn resize(v: &mut Vec<f32>, n: usize) {
    v.resize(n, 0.0);
}

/// Uniform draw in [0, 1) for element `i` of dropout stream `stream` (0: GRU
/// inputs, 1: recurrent state) under `seed`: a counter-based hash
/// (SplitMix64's finalizer), so the CUDA kernel `dropout_mask` draws exactly
/// the same masks in parallel.
pub fn dropout_uniform(seed: u64, stream: u64, i: u64) -> f32 {
    let mut x = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03);
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 40) as f32 * (1.0 / 16_777_216.0)
}

/// Fills `mask` with entries `first..first + n` of the stream: 0 with
/// probability `p`, else `1 / (1 - p)`.
fn dropout_mask(mask: &mut Vec<f32>, first: usize, n: usize, p: f32, seed: u64, stream: u64) {
    mask.clear();
    if p <= 0.0 {
        mask.resize(n, 1.0);
        return;
    }
    let keep = 1.0 / (1.0 - p);
    mask.extend((first..first + n).map(|i| if dropout_uniform(seed, stream, i as u64) < p { 0.0 } else { keep }));
}

/// The windows of a batch that one call computes (a shard, or all of them):
/// the dropout masks and the mean's denominator are the whole batch's, so the
/// gradients of the parts add up to the gradient of the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// Index of the part's first window in the whole batch.
    pub first_window: usize,
    /// Tokens in the whole batch.
    pub batch_tokens: usize,
}

impl Part {
    /// All of `batch`.
    pub fn whole(batch: &Batch<'_>) -> Self {
        Part { first_window: 0, batch_tokens: batch.batch * batch.seq }
    }
}

/// Runs the model over a batch. With `grads`, also back-propagates (adding
/// the gradients of the mean loss plus penalties into `grads`) and applies
/// dropout with masks drawn from `mask_seed`; without, dropout is off.
pub fn forward_backward(
    p: &Params,
    batch: &Batch<'_>,
    reg: &Regularization,
    mask_seed: u64,
    grads: Option<&mut Params>,
    ws: &mut Workspace,
) -> Stats {
    forward_backward_part(p, batch, Part::whole(batch), reg, mask_seed, grads, ws)
}

/// [`forward_backward`] over `batch`, which is `part` of a larger batch: adds
/// the part's share of the batch's mean-loss gradient (the penalties' only in
/// the part that starts the batch); its [`Stats`] are the part's own.
pub fn forward_backward_part(
    p: &Params,
    batch: &Batch<'_>,
    part: Part,
    reg: &Regularization,
    mask_seed: u64,
    grads: Option<&mut Params>,
    ws: &mut Workspace,
) -> Stats {
    let s = p.shape;
    let (e, h, dn, v) = (s.emb as usize, s.hidden as usize, s.dense as usize, s.vocab as usize);
    let (bsz, seq) = (batch.batch, batch.seq);
    let rows = bsz * seq;
    let training = grads.is_some();
    let w0 = part.first_window;
    dropout_mask(&mut ws.mask_x, w0 * e, bsz * e, if training { reg.dropout } else { 0.0 }, mask_seed, 0);
    dropout_mask(&mut ws.mask_h, w0 * h, bsz * h, if training { reg.recurrent_dropout } else { 0.0 }, mask_seed, 1);

    // Embedding lookup with input dropout.
    let emb = p.get(Tensor::Embedding);
    resize(&mut ws.xe, rows * e);
    for t in 0..seq {
        for b in 0..bsz {
            let tok = batch.inputs[b * seq + t] as usize;
            let row = &mut ws.xe[(t * bsz + b) * e..][..e];
            let mask = &ws.mask_x[b * e..][..e];
            for ((x, &w), &m) in row.iter_mut().zip(&emb[tok * e..][..e]).zip(mask) {
                *x = w * m;
            }
        }
    }
    // Input projection of every step at once.
    resize(&mut ws.gx, rows * 3 * h);
    gemm(rows, 3 * h, e, 1.0, &ws.xe, Op::N, p.get(Tensor::GruInput), Op::T, 0.0, &mut ws.gx);
    add_bias(&mut ws.gx, p.get(Tensor::GruInputBias));

    // Recurrence: gates keep z, r, n per row for the backward pass.
    resize(&mut ws.h, (seq + 1) * bsz * h);
    ws.h[..bsz * h].iter_mut().for_each(|x| *x = 0.0);
    resize(&mut ws.hd, rows * h);
    resize(&mut ws.gh, rows * 3 * h);
    resize(&mut ws.gates, rows * 3 * h);
    let u = p.get(Tensor::GruRecurrent);
    let bu = p.get(Tensor::GruRecurrentBias);
    for t in 0..seq {
        let (past, future) = ws.h.split_at_mut((t + 1) * bsz * h);
        let hp = &past[t * bsz * h..];
        let hn = &mut future[..bsz * h];
        let hd = &mut ws.hd[t * bsz * h..][..bsz * h];
        hd.iter_mut().zip(hp).zip(&ws.mask_h).for_each(|((d, &x), &m)| *d = x * m);
        let gh = &mut ws.gh[t * bsz * 3 * h..][..bsz * 3 * h];
        gemm(bsz, 3 * h, h, 1.0, hd, Op::N, u, Op::T, 0.0, gh);
        add_bias(gh, bu);
        let gx = &ws.gx[t * bsz * 3 * h..][..bsz * 3 * h];
        let gates = &mut ws.gates[t * bsz * 3 * h..][..bsz * 3 * h];
        for b in 0..bsz {
            let (gxb, ghb, gb) = (&gx[b * 3 * h..][..3 * h], &gh[b * 3 * h..][..3 * h], &mut gates[b * 3 * h..][..3 * h]);
            for i in 0..h {
                let z = sigmoid(gxb[i] + ghb[i]);
                let r = sigmoid(gxb[h + i] + ghb[h + i]);
                let n = tanh(gxb[2 * h + i] + r * ghb[2 * h + i]);
                gb[i] = z;
                gb[h + i] = r;
                gb[2 * h + i] = n;
                hn[b * h + i] = (1.0 - z) * n + z * hp[b * h + i];
            }
        }
    }
    let hs = &ws.h[bsz * h..];

    // Dense(relu) and output layer over all rows.
    resize(&mut ws.d, rows * dn);
    gemm(rows, dn, h, 1.0, hs, Op::N, p.get(Tensor::Dense), Op::T, 0.0, &mut ws.d);
    add_bias(&mut ws.d, p.get(Tensor::DenseBias));
    ws.d.iter_mut().for_each(|x| *x = x.max(0.0));
    resize(&mut ws.logits, rows * v);
    gemm(rows, v, dn, 1.0, &ws.d, Op::N, p.get(Tensor::Output), Op::T, 0.0, &mut ws.logits);
    add_bias(&mut ws.logits, p.get(Tensor::OutputBias));

    // Softmax cross-entropy; logits become d(loss)/d(logits).
    let mut stats = Stats { tokens: rows, ..Stats::default() };
    ws.predictions.clear();
    let inv_n = 1.0 / part.batch_tokens.max(1) as f32;
    for t in 0..seq {
        for b in 0..bsz {
            let row = &mut ws.logits[(t * bsz + b) * v..][..v];
            let target = batch.targets[b * seq + t] as usize;
            let (arg, max) =
                row.iter().enumerate().fold((0, f32::NEG_INFINITY), |(ai, am), (i, &x)| if x > am { (i, x) } else { (ai, am) });
            ws.predictions.push(arg as u32);
            stats.correct += (arg == target) as usize;
            let sum: f32 = row
                .iter_mut()
                .map(|x| {
                    *x = (*x - max).exp();
                    *x
                })
                .sum();
            stats.loss += (sum.ln() as f64) - ((row[target].ln()) as f64);
            row.iter_mut().for_each(|x| *x = *x / sum * inv_n);
            row[target] -= inv_n;
        }
    }
    stats.loss /= rows as f64;
    stats.penalty = penalty(p, reg);

    let Some(g) = grads else { return stats };
    backward(p, batch, ws, g);
    if part.first_window == 0 {
        add_penalty_gradients(p, reg, g);
    }
    stats
}

/// The batch cut into `count` parts of consecutive windows, as equal as they
/// can be (the first ones one window longer); fewer when there are fewer windows.
pub fn shards<'a>(batch: &Batch<'a>, count: usize) -> Vec<(Batch<'a>, Part)> {
    let count = count.clamp(1, batch.batch.max(1));
    let whole = Part::whole(batch);
    let (base, extra) = (batch.batch / count, batch.batch % count);
    let mut first = 0;
    (0..count)
        .map(|i| {
            let n = base + usize::from(i < extra);
            let span = first * batch.seq..(first + n) * batch.seq;
            let shard = Batch { inputs: &batch.inputs[span.clone()], targets: &batch.targets[span], batch: n, seq: batch.seq };
            let part = Part { first_window: first, ..whole };
            first += n;
            (shard, part)
        })
        .collect()
}

/// Buffers of a data-parallel pass: one workspace and one gradient buffer per shard.
#[derive(Debug, Default)]
pub struct ShardBuffers {
    workspaces: Vec<Workspace>,
    grads: Vec<Params>,
}

/// One shard's work: its windows, its workspace and its gradient buffer.
type Job<'b, 'w> = (&'w (Batch<'b>, Part), &'w mut Workspace, Option<&'w mut Params>);

/// Data parallelism: [`forward_backward`] with the batch cut into `count`
/// [`shards`], computed on up to `workers` threads, their gradients added
/// into `grads` in shard order. The result depends on `count`, never on
/// `workers`; one shard is exactly [`forward_backward`].
#[allow(clippy::too_many_arguments)]
pub fn forward_backward_sharded(
    p: &Params,
    batch: &Batch<'_>,
    reg: &Regularization,
    mask_seed: u64,
    grads: Option<&mut Params>,
    count: usize,
    workers: usize,
    buffers: &mut ShardBuffers,
) -> Stats {
    let parts = shards(batch, count);
    buffers.workspaces.resize_with(parts.len(), Workspace::default);
    if parts.len() == 1 {
        return forward_backward(p, batch, reg, mask_seed, grads, &mut buffers.workspaces[0]);
    }
    let with_grads = grads.is_some();
    if with_grads {
        buffers.grads.resize_with(parts.len(), || Params::zeros(p.shape));
        for g in &mut buffers.grads {
            if g.shape != p.shape {
                *g = Params::zeros(p.shape);
            }
            g.data.iter_mut().for_each(|v| *v = 0.0);
        }
    }
    let shard_grads: Vec<Option<&mut Params>> =
        if with_grads { buffers.grads.iter_mut().map(Some).collect() } else { parts.iter().map(|_| None).collect() };
    let mut jobs: Vec<Job<'_, '_>> =
        parts.iter().zip(buffers.workspaces.iter_mut()).zip(shard_grads).map(|((part, ws), g)| (part, ws, g)).collect();
    let run = |jobs: &mut [Job<'_, '_>]| -> Vec<Stats> {
        jobs.iter_mut().map(|((shard, part), ws, g)| forward_backward_part(p, shard, *part, reg, mask_seed, g.as_deref_mut(), ws)).collect()
    };
    let workers = workers.clamp(1, jobs.len());
    let per_worker = jobs.len().div_ceil(workers);
    let stats: Vec<Stats> = if workers == 1 {
        run(&mut jobs)
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = jobs.chunks_mut(per_worker).map(|chunk| scope.spawn(|| run(chunk))).collect();
            handles.into_iter().flat_map(|h| h.join().expect("a shard thread panicked")).collect()
        })
    };
    if let Some(grads) = grads {
        for g in &buffers.grads[..parts.len()] {
            grads.data.iter_mut().zip(&g.data).for_each(|(a, b)| *a += b);
        }
    }
    let tokens: usize = stats.iter().map(|s| s.tokens).sum();
    Stats {
        loss: stats.iter().map(|s| s.loss * s.tokens as f64).sum::<f64>() / tokens.max(1) as f64,
        penalty: stats[0].penalty,
        correct: stats.iter().map(|s| s.correct).sum(),
        tokens,
    }
}

/// `l1 * sum |w| + l2 * sum w^2` over the kernels.
pub fn penalty(p: &Params, reg: &Regularization) -> f64 {
    if reg.l1 == 0.0 && reg.l2 == 0.0 {
        return 0.0;
    }
    KERNELS.iter().flat_map(|&t| p.get(t)).map(|&w| reg.l1 as f64 * w.abs() as f64 + reg.l2 as f64 * (w as f64) * (w as f64)).sum()
}

fn backward(p: &Params, batch: &Batch<'_>, ws: &mut Workspace, g: &mut Params) {
    let s = p.shape;
    let (e, h, dn, v) = (s.emb as usize, s.hidden as usize, s.dense as usize, s.vocab as usize);
    let (bsz, seq) = (batch.batch, batch.seq);
    let rows = bsz * seq;
    let hs = &ws.h[bsz * h..];

    // Output layer.
    gemm(v, dn, rows, 1.0, &ws.logits, Op::T, &ws.d, Op::N, 1.0, g.get_mut(Tensor::Output));
    add_column_sums(&ws.logits, g.get_mut(Tensor::OutputBias));
    resize(&mut ws.dd, rows * dn);
    gemm(rows, dn, v, 1.0, &ws.logits, Op::N, p.get(Tensor::Output), Op::N, 0.0, &mut ws.dd);
    ws.dd.iter_mut().zip(&ws.d).for_each(|(g, &d)| {
        if d <= 0.0 {
            *g = 0.0
        }
    });

    // Dense layer.
    gemm(dn, h, rows, 1.0, &ws.dd, Op::T, hs, Op::N, 1.0, g.get_mut(Tensor::Dense));
    add_column_sums(&ws.dd, g.get_mut(Tensor::DenseBias));
    resize(&mut ws.dhs, rows * h);
    gemm(rows, h, dn, 1.0, &ws.dd, Op::N, p.get(Tensor::Dense), Op::N, 0.0, &mut ws.dhs);

    // Back-propagation through time.
    resize(&mut ws.dgx, rows * 3 * h);
    resize(&mut ws.dgh, rows * 3 * h);
    resize(&mut ws.carry, bsz * h);
    ws.carry.iter_mut().for_each(|x| *x = 0.0);
    let u = p.get(Tensor::GruRecurrent);
    for t in (0..seq).rev() {
        let hp = &ws.h[t * bsz * h..][..bsz * h];
        let gates = &ws.gates[t * bsz * 3 * h..][..bsz * 3 * h];
        let gh = &ws.gh[t * bsz * 3 * h..][..bsz * 3 * h];
        let dhs = &ws.dhs[t * bsz * h..][..bsz * h];
        let dgx = &mut ws.dgx[t * bsz * 3 * h..][..bsz * 3 * h];
        let dgh = &mut ws.dgh[t * bsz * 3 * h..][..bsz * 3 * h];
        for b in 0..bsz {
            for i in 0..h {
                let k = b * h + i;
                let j = b * 3 * h;
                let (z, r, n) = (gates[j + i], gates[j + h + i], gates[j + 2 * h + i]);
                let dh = dhs[k] + ws.carry[k];
                let dn = dh * (1.0 - z);
                let dz = dh * (hp[k] - n);
                let dan = dn * (1.0 - n * n);
                let daz = dz * z * (1.0 - z);
                let dar = dan * gh[j + 2 * h + i] * r * (1.0 - r);
                dgx[j + i] = daz;
                dgx[j + h + i] = dar;
                dgx[j + 2 * h + i] = dan;
                dgh[j + i] = daz;
                dgh[j + h + i] = dar;
                dgh[j + 2 * h + i] = dan * r;
                ws.carry[k] = dh * z;
            }
        }
        // carry += (dgh @ U) * mask_h
        resize(&mut ws.dxe, bsz * h);
        gemm(bsz, h, 3 * h, 1.0, dgh, Op::N, u, Op::N, 0.0, &mut ws.dxe);
        for ((c, &x), &m) in ws.carry.iter_mut().zip(&ws.dxe).zip(&ws.mask_h) {
            *c += x * m;
        }
    }
    gemm(3 * h, h, rows, 1.0, &ws.dgh, Op::T, &ws.hd, Op::N, 1.0, g.get_mut(Tensor::GruRecurrent));
    add_column_sums(&ws.dgh, g.get_mut(Tensor::GruRecurrentBias));
    gemm(3 * h, e, rows, 1.0, &ws.dgx, Op::T, &ws.xe, Op::N, 1.0, g.get_mut(Tensor::GruInput));
    add_column_sums(&ws.dgx, g.get_mut(Tensor::GruInputBias));

    // Embedding: scatter the input gradient (through the dropout mask).
    resize(&mut ws.dxe, rows * e);
    gemm(rows, e, 3 * h, 1.0, &ws.dgx, Op::N, p.get(Tensor::GruInput), Op::N, 0.0, &mut ws.dxe);
    let demb = g.get_mut(Tensor::Embedding);
    for t in 0..seq {
        for b in 0..bsz {
            let tok = batch.inputs[b * seq + t] as usize;
            let src = &ws.dxe[(t * bsz + b) * e..][..e];
            let mask = &ws.mask_x[b * e..][..e];
            for ((d, &x), &m) in demb[tok * e..][..e].iter_mut().zip(src).zip(mask) {
                *d += x * m;
            }
        }
    }
}

/// Adds the gradients of the L1 and L2 penalties on the kernels.
fn add_penalty_gradients(p: &Params, reg: &Regularization, g: &mut Params) {
    if reg.l1 != 0.0 || reg.l2 != 0.0 {
        for t in KERNELS {
            let r = Params::range(&p.shape, t);
            for (gv, &w) in g.data[r.clone()].iter_mut().zip(&p.data[r]) {
                *gv += reg.l1 * w.signum() * (w != 0.0) as u8 as f32 + 2.0 * reg.l2 * w;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Shape;
    use edgegru_runtime::Rng;

    fn tiny() -> (Params, Vec<u32>, Vec<u32>) {
        let shape = Shape { vocab: 7, emb: 3, hidden: 5, dense: 4 };
        let mut p = Params::init(shape, 3);
        // Non-zero biases, so their gradients are exercised too.
        let mut rng = Rng::new(9);
        for t in [Tensor::GruInputBias, Tensor::GruRecurrentBias, Tensor::DenseBias, Tensor::OutputBias] {
            p.get_mut(t).iter_mut().for_each(|x| *x = rng.next_f32() - 0.5);
        }
        let inputs = vec![1, 2, 3, 4, 0, 6, 5, 5, 2, 1, 3, 0];
        let targets = vec![2, 3, 4, 0, 6, 5, 5, 2, 1, 3, 0, 4];
        (p, inputs, targets)
    }

    #[test]
    fn gradients_match_finite_differences_for_every_tensor() {
        let (p, inputs, targets) = tiny();
        let batch = Batch { inputs: &inputs, targets: &targets, batch: 3, seq: 4 };
        let reg = Regularization { dropout: 0.0, recurrent_dropout: 0.0, l1: 0.0, l2: 0.01 };
        let mut ws = Workspace::default();
        let mut g = Params::zeros(p.shape);
        forward_backward(&p, &batch, &reg, 0, Some(&mut g), &mut ws);
        let loss = |q: &Params| {
            let s = forward_backward(q, &batch, &reg, 0, None, &mut Workspace::default());
            s.loss + s.penalty
        };
        for t in Tensor::ALL {
            let r = Params::range(&p.shape, t);
            let mut worst = 0.0f64;
            for i in r {
                let eps = 1e-3f32;
                let (mut plus, mut minus) = (p.clone(), p.clone());
                plus.data[i] += eps;
                minus.data[i] -= eps;
                let numeric = (loss(&plus) - loss(&minus)) / (2.0 * eps as f64);
                let analytic = g.data[i] as f64;
                worst = worst.max((numeric - analytic).abs() / (1e-3 + numeric.abs().max(analytic.abs())));
            }
            assert!(worst < 2e-2, "{}: worst relative gradient error {worst}", t.as_str());
        }
    }

    /// A model big enough for the products' full-tile kernels, not only their
    /// edge paths, and the inputs and targets of `windows` windows of `seq` tokens.
    fn small(windows: usize, seq: usize) -> (Params, Vec<u32>, Vec<u32>) {
        let shape = Shape { vocab: 20, emb: 16, hidden: 32, dense: 24 };
        let inputs = (0..windows * seq).map(|i| (i * 7 % 20) as u32).collect();
        let targets = (0..windows * seq).map(|i| (i * 3 % 20) as u32).collect();
        (Params::init(shape, 4), inputs, targets)
    }

    #[test]
    fn a_reused_workspace_gives_the_same_results_as_a_fresh_one() {
        let (p, inputs, targets) = small(8, 5);
        let batch = Batch { inputs: &inputs, targets: &targets, batch: 8, seq: 5 };
        let reg = Regularization { dropout: 0.1, recurrent_dropout: 0.1, ..Regularization::default() };
        let mut fresh = Params::zeros(p.shape);
        let want = forward_backward(&p, &batch, &reg, 5, Some(&mut fresh), &mut Workspace::default());
        // A workspace whose buffers hold NaN everywhere (as stale values would).
        let mut ws = Workspace::default();
        forward_backward(&p, &batch, &reg, 1, Some(&mut Params::zeros(p.shape)), &mut ws);
        for v in [&mut ws.xe, &mut ws.gx, &mut ws.gh, &mut ws.h, &mut ws.hd, &mut ws.gates, &mut ws.d, &mut ws.logits].into_iter().chain([
            &mut ws.dgx,
            &mut ws.dgh,
            &mut ws.dd,
            &mut ws.dhs,
            &mut ws.carry,
            &mut ws.dxe,
        ]) {
            v.iter_mut().for_each(|x| *x = f32::NAN);
        }
        let mut reused = Params::zeros(p.shape);
        let got = forward_backward(&p, &batch, &reg, 5, Some(&mut reused), &mut ws);
        assert_eq!(want, got);
        assert_eq!(fresh, reused);
    }

    #[test]
    fn shards_cut_the_batch_into_consecutive_windows() {
        let inputs: Vec<u32> = (0..5 * 3).collect();
        let batch = Batch { inputs: &inputs, targets: &inputs, batch: 5, seq: 3 };
        let parts = shards(&batch, 2);
        assert_eq!(parts.iter().map(|(b, _)| b.batch).collect::<Vec<_>>(), [3, 2]);
        assert_eq!(parts.iter().map(|(_, p)| p.first_window).collect::<Vec<_>>(), [0, 3]);
        assert!(parts.iter().all(|(_, p)| p.batch_tokens == 15));
        assert_eq!(parts[1].0.inputs, &inputs[9..15]);
        // More shards than windows: one window each.
        assert_eq!(shards(&batch, 9).len(), 5);
        assert_eq!(shards(&batch, 0).len(), 1);
    }

    #[test]
    fn sharded_passes_give_the_whole_batch_gradient_whatever_the_thread_count() {
        let (p, inputs, targets) = small(7, 6);
        let shape = p.shape;
        let batch = Batch { inputs: &inputs, targets: &targets, batch: 7, seq: 6 };
        let reg = Regularization { dropout: 0.2, recurrent_dropout: 0.2, l1: 1e-4, l2: 1e-3 };
        let mut whole = Params::zeros(shape);
        let want = forward_backward(&p, &batch, &reg, 9, Some(&mut whole), &mut Workspace::default());
        let scale = whole.data.iter().fold(0.0f32, |m, g| m.max(g.abs()));
        for count in [1, 2, 3, 7] {
            let mut by_workers = vec![];
            for workers in [1, 2, 3] {
                let mut g = Params::zeros(shape);
                let mut buffers = ShardBuffers::default();
                let got = forward_backward_sharded(&p, &batch, &reg, 9, Some(&mut g), count, workers, &mut buffers);
                assert!((got.loss - want.loss).abs() < 1e-6, "{count} shards: loss {} vs {}", got.loss, want.loss);
                assert_eq!((got.correct, got.tokens, got.penalty), (want.correct, want.tokens, want.penalty));
                for (i, (a, b)) in g.data.iter().zip(&whole.data).enumerate() {
                    assert!((a - b).abs() <= 1e-5 * scale, "{count} shards, value {i}: {a} vs {b}");
                }
                // Evaluation (no gradients) through the same buffers.
                let eval = forward_backward_sharded(&p, &batch, &reg, 0, None, count, workers, &mut buffers);
                assert_eq!(eval.tokens, want.tokens);
                by_workers.push((got, g));
            }
            assert!(by_workers.windows(2).all(|w| w[0] == w[1]), "{count} shards: the thread count changed the result");
        }
    }

    #[test]
    fn dropout_masks_are_shared_across_time_and_reproducible() {
        let (p, inputs, targets) = tiny();
        let batch = Batch { inputs: &inputs, targets: &targets, batch: 3, seq: 4 };
        let reg = Regularization { dropout: 0.5, recurrent_dropout: 0.5, ..Regularization::default() };
        let (mut g1, mut g2) = (Params::zeros(p.shape), Params::zeros(p.shape));
        let a = forward_backward(&p, &batch, &reg, 42, Some(&mut g1), &mut Workspace::default());
        let b = forward_backward(&p, &batch, &reg, 42, Some(&mut g2), &mut Workspace::default());
        assert_eq!(a, b);
        assert_eq!(g1, g2);
        let mut ws = Workspace::default();
        forward_backward(&p, &batch, &reg, 42, Some(&mut Params::zeros(p.shape)), &mut ws);
        // The input mask is per sequence: step 0 and step 3 of window 0 use the same mask.
        let e = p.shape.emb as usize;
        let emb = p.get(Tensor::Embedding);
        for t in [0usize, 3] {
            let tok = inputs[t] as usize;
            for i in 0..e {
                let x = ws.xe[(t * 3) * e + i];
                assert!(x == 0.0 || (x - emb[tok * e + i] * 2.0).abs() < 1e-6);
                assert_eq!(x == 0.0, ws.mask_x[i] == 0.0);
            }
        }
    }
}
