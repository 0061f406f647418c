//! The CPU device: the [`Ops`] primitives on host memory (matrix products by
//! matrixmultiply, split over the caller's threads), and an engine that cuts
//! each batch into data-parallel shards computed side by side.

use anyhow::{bail, Result};
use edgegru_runtime::math::{sigmoid, tanh};
use edgegru_runtime::Activation;

use super::graph::{self, BatchSlice, Workspace};
use super::ops::{Gemm, GruStep, GruStepGrad, IdSpan, Ops, RawStats, Span};
use super::{Batch, BatchInput, BatchTarget, CpuParallelism, Engine, Regularization, Stats, StepResult};
use crate::linalg;
use crate::optim::Optimizer;
use crate::params::Params;
use crate::prune::Masks;

/// Uniform draw in [0, 1) for element `i` of dropout stream `stream` under
/// `seed`: a counter-based hash (SplitMix64's finalizer), so the CUDA kernel
/// `dropout_mask` draws exactly the same masks in parallel.
pub fn dropout_uniform(seed: u64, stream: u64, i: u64) -> f32 {
    let mut x = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03);
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 40) as f32 * (1.0 / 16_777_216.0)
}

/// The CPU's buffers and the loss accumulators.
#[derive(Debug, Default)]
pub struct CpuOps {
    f: Vec<Vec<f32>>,
    ids: Vec<Vec<u32>>,
    stats: RawStats,
    threads: usize,
}

impl CpuOps {
    /// Primitives whose matrix products use up to `threads` threads.
    pub fn new(threads: usize) -> Self {
        CpuOps { threads: threads.max(1), ..CpuOps::default() }
    }

    fn get(&self, s: Span) -> Result<&[f32]> {
        match self.f.get(s.buf).and_then(|b| b.get(s.off..s.off + s.len)) {
            Some(v) => Ok(v),
            None => bail!("internal: span {s:?} is out of range or aliases a buffer being written"),
        }
    }

    fn ids(&self, s: IdSpan) -> Result<&[u32]> {
        match self.ids.get(s.0.buf).and_then(|b| b.get(s.0.off..s.0.off + s.0.len)) {
            Some(v) => Ok(v),
            None => bail!("internal: id span {s:?} is out of range"),
        }
    }

    /// Takes a whole buffer out to write into it while reading others (a
    /// span of the taken buffer then reads as out of range: an error, not aliasing).
    fn take(&mut self, buf: usize) -> Vec<f32> {
        self.f.get_mut(buf).map(std::mem::take).unwrap_or_default()
    }

    fn put(&mut self, buf: usize, v: Vec<f32>) {
        if let Some(b) = self.f.get_mut(buf) {
            *b = v;
        }
    }

    /// Runs `f` on the span `w` (mutable) and the read-only buffers.
    fn write<T>(&mut self, w: Span, f: impl FnOnce(&Self, &mut [f32]) -> Result<T>) -> Result<T> {
        let mut buf = self.take(w.buf);
        let r = match buf.get_mut(w.off..w.off + w.len) {
            Some(out) => f(self, out),
            None => Err(anyhow::anyhow!("internal: span {w:?} is out of range")),
        };
        self.put(w.buf, buf);
        r
    }
}

impl Ops for CpuOps {
    fn alloc(&mut self, len: usize) -> Result<Span> {
        self.f.push(vec![0.0; len]);
        Ok(Span { buf: self.f.len() - 1, off: 0, len })
    }

    fn alloc_ids(&mut self, len: usize) -> Result<IdSpan> {
        self.ids.push(vec![0; len]);
        Ok(IdSpan(Span { buf: self.ids.len() - 1, off: 0, len }))
    }

    fn upload(&mut self, dst: Span, src: &[f32]) -> Result<()> {
        self.write(dst, |_, out| {
            out.copy_from_slice(src);
            Ok(())
        })
    }

    fn upload_ids(&mut self, dst: IdSpan, src: &[u32]) -> Result<()> {
        match self.ids.get_mut(dst.0.buf).and_then(|b| b.get_mut(dst.0.off..dst.0.off + dst.0.len)) {
            Some(out) => {
                out.copy_from_slice(src);
                Ok(())
            }
            None => bail!("internal: id span {dst:?} is out of range"),
        }
    }

    fn download(&mut self, src: Span, dst: &mut [f32]) -> Result<()> {
        dst.copy_from_slice(self.get(src)?);
        Ok(())
    }

    fn fill(&mut self, dst: Span, value: f32) -> Result<()> {
        self.write(dst, |_, out| {
            out.iter_mut().for_each(|x| *x = value);
            Ok(())
        })
    }

    fn gemm(&mut self, g: &Gemm) -> Result<()> {
        let threads = self.threads;
        self.write(g.c, |me, c| {
            let (a, b) = (me.get(g.a)?, me.get(g.b)?);
            linalg::gemm(g.m, g.n, g.k, g.alpha, a, g.op_a, b, g.op_b, g.beta, c, threads);
            Ok(())
        })
    }

    fn bias_act(&mut self, x: Span, bias: Span, act: Activation) -> Result<()> {
        self.write(x, |me, x| {
            let bias = me.get(bias)?;
            linalg::add_bias(x, bias);
            match act {
                Activation::Linear => {}
                Activation::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
                Activation::Tanh => x.iter_mut().for_each(|v| *v = tanh(*v)),
                Activation::Sigmoid => x.iter_mut().for_each(|v| *v = sigmoid(*v)),
            }
            Ok(())
        })
    }

    fn act_grad(&mut self, dy: Span, y: Span, act: Activation) -> Result<()> {
        self.write(dy, |me, dy| {
            let y = me.get(y)?;
            for (g, &v) in dy.iter_mut().zip(y) {
                match act {
                    Activation::Linear => {}
                    Activation::Relu => {
                        if v <= 0.0 {
                            *g = 0.0
                        }
                    }
                    Activation::Tanh => *g *= 1.0 - v * v,
                    Activation::Sigmoid => *g *= v * (1.0 - v),
                }
            }
            Ok(())
        })
    }

    fn col_sums(&mut self, x: Span, out: Span) -> Result<()> {
        self.write(out, |me, out| {
            linalg::add_column_sums(me.get(x)?, out);
            Ok(())
        })
    }

    fn dropout_mask(&mut self, mask: Span, first: u64, p: f32, seed: u64, stream: u64) -> Result<()> {
        self.write(mask, |_, m| {
            let keep = 1.0 / (1.0 - p);
            for (i, v) in m.iter_mut().enumerate() {
                *v = if p <= 0.0 {
                    1.0
                } else if dropout_uniform(seed, stream, first + i as u64) < p {
                    0.0
                } else {
                    keep
                };
            }
            Ok(())
        })
    }

    fn mask_rows(&mut self, x: Span, mask: Span, cols: usize, out: Span) -> Result<()> {
        self.write(out, |me, out| {
            let (x, mask) = (me.get(x)?, me.get(mask)?);
            let batch = mask.len() / cols.max(1);
            for (r, (o, xr)) in out.chunks_exact_mut(cols).zip(x.chunks_exact(cols)).enumerate() {
                let m = &mask[(r % batch) * cols..][..cols];
                for ((o, &x), &m) in o.iter_mut().zip(xr).zip(m) {
                    *o = x * m;
                }
            }
            Ok(())
        })
    }

    fn embed(&mut self, ids: IdSpan, table: Span, mask: Span, width: usize, out: Span) -> Result<()> {
        self.write(out, |me, out| {
            let (ids, table, mask) = (me.ids(ids)?, me.get(table)?, me.get(mask)?);
            let batch = mask.len() / width.max(1);
            for (r, (o, &id)) in out.chunks_exact_mut(width).zip(ids).enumerate() {
                let m = &mask[(r % batch) * width..][..width];
                let row = &table[id as usize * width..][..width];
                for ((o, &w), &m) in o.iter_mut().zip(row).zip(m) {
                    *o = w * m;
                }
            }
            Ok(())
        })
    }

    fn embed_grad(&mut self, ids: IdSpan, grad: Span, mask: Span, width: usize, table_grad: Span) -> Result<()> {
        self.write(table_grad, |me, tg| {
            let (ids, grad, mask) = (me.ids(ids)?, me.get(grad)?, me.get(mask)?);
            let batch = mask.len() / width.max(1);
            for (r, (g, &id)) in grad.chunks_exact(width).zip(ids).enumerate() {
                let m = &mask[(r % batch) * width..][..width];
                for ((d, &x), &m) in tg[id as usize * width..][..width].iter_mut().zip(g).zip(m) {
                    *d += x * m;
                }
            }
            Ok(())
        })
    }

    fn gru_step(&mut self, s: &GruStep) -> Result<()> {
        let (bsz, h) = (s.batch, s.hidden);
        // The new state is written into the buffer that holds the previous one.
        let mut hbuf = self.take(s.h_next.buf);
        let mut gh = self.take(s.gh.buf);
        let mut gates = self.take(s.gates.buf);
        let mut hd = s.hd_next.map(|d| self.take(d.buf));
        let r = (|| -> Result<()> {
            let (gx, bias, mask) = (self.get(s.gx)?, self.get(s.bias)?, self.get(s.mask)?);
            if s.h_prev.buf != s.h_next.buf || s.h_prev.off + s.h_prev.len > s.h_next.off {
                bail!("internal: the GRU step reads the state before the one it writes");
            }
            let (past, next) = hbuf.split_at_mut(s.h_next.off);
            let (hp, hn) = (&past[s.h_prev.off..][..bsz * h], &mut next[..bsz * h]);
            let gh = &mut gh[s.gh.off..][..bsz * 3 * h];
            let gates = &mut gates[s.gates.off..][..bsz * 3 * h];
            for b in 0..bsz {
                let j = b * 3 * h;
                for i in 0..h {
                    let ghz = gh[j + i] + bias[i];
                    let ghr = gh[j + h + i] + bias[h + i];
                    let ghn = gh[j + 2 * h + i] + bias[2 * h + i];
                    (gh[j + i], gh[j + h + i], gh[j + 2 * h + i]) = (ghz, ghr, ghn);
                    let z = sigmoid(gx[j + i] + ghz);
                    let r = sigmoid(gx[j + h + i] + ghr);
                    let n = tanh(gx[j + 2 * h + i] + r * ghn);
                    (gates[j + i], gates[j + h + i], gates[j + 2 * h + i]) = (z, r, n);
                    let k = b * h + i;
                    hn[k] = (1.0 - z) * n + z * hp[k];
                }
            }
            if let (Some(d), Some(buf)) = (s.hd_next, hd.as_mut()) {
                for ((o, &v), &m) in buf[d.off..][..bsz * h].iter_mut().zip(hn.iter()).zip(mask) {
                    *o = v * m;
                }
            }
            Ok(())
        })();
        if let (Some(d), Some(buf)) = (s.hd_next, hd) {
            self.put(d.buf, buf);
        }
        self.put(s.gates.buf, gates);
        self.put(s.gh.buf, gh);
        self.put(s.h_next.buf, hbuf);
        r
    }

    fn gru_step_grad(&mut self, s: &GruStepGrad) -> Result<()> {
        let (bsz, h) = (s.batch, s.hidden);
        let mut dgx = self.take(s.dgx.buf);
        let mut dgh = self.take(s.dgh.buf);
        let mut carry = self.take(s.carry.buf);
        let r = (|| -> Result<()> {
            let (gates, gh, hp, dhs, rec, mask) =
                (self.get(s.gates)?, self.get(s.gh)?, self.get(s.h_prev)?, self.get(s.dhs)?, self.get(s.rec)?, self.get(s.mask)?);
            let dgx = &mut dgx[s.dgx.off..][..bsz * 3 * h];
            let dgh = &mut dgh[s.dgh.off..][..bsz * 3 * h];
            let carry = &mut carry[s.carry.off..][..bsz * h];
            for b in 0..bsz {
                let j = b * 3 * h;
                for i in 0..h {
                    let k = b * h + i;
                    let (z, r, n) = (gates[j + i], gates[j + h + i], gates[j + 2 * h + i]);
                    let dh = dhs[k] + carry[k] + rec[k] * mask[k];
                    let dn = dh * (1.0 - z);
                    let dz = dh * (hp[k] - n);
                    let dan = dn * (1.0 - n * n);
                    let daz = dz * z * (1.0 - z);
                    let dar = dan * gh[j + 2 * h + i] * r * (1.0 - r);
                    (dgx[j + i], dgx[j + h + i], dgx[j + 2 * h + i]) = (daz, dar, dan);
                    (dgh[j + i], dgh[j + h + i], dgh[j + 2 * h + i]) = (daz, dar, dan * r);
                    carry[k] = dh * z;
                }
            }
            Ok(())
        })();
        self.put(s.carry.buf, carry);
        self.put(s.dgh.buf, dgh);
        self.put(s.dgx.buf, dgx);
        r
    }

    fn softmax_xent(&mut self, logits: Span, targets: IdSpan, weights: Option<Span>, cols: usize, scale: f32) -> Result<()> {
        let mut stats = self.stats;
        self.write(logits, |me, x| {
            let targets = me.ids(targets)?;
            let weights = weights.map(|w| me.get(w)).transpose()?;
            for (r, row) in x.chunks_exact_mut(cols).enumerate() {
                let w = weights.map_or(1.0, |w| w[r]);
                if w == 0.0 {
                    row.iter_mut().for_each(|v| *v = 0.0);
                    continue;
                }
                let target = targets[r] as usize;
                let (arg, max) =
                    row.iter().enumerate().fold((0, f32::NEG_INFINITY), |(ai, am), (i, &v)| if v > am { (i, v) } else { (ai, am) });
                stats.correct += if arg == target { w as f64 } else { 0.0 };
                let sum: f32 = row
                    .iter_mut()
                    .map(|v| {
                        *v = (*v - max).exp();
                        *v
                    })
                    .sum();
                stats.loss += w as f64 * ((sum.ln() as f64) - (row[target].ln() as f64));
                let g = w * scale;
                row.iter_mut().for_each(|v| *v = *v / sum * g);
                row[target] -= g;
            }
            Ok(())
        })?;
        self.stats = stats;
        Ok(())
    }

    fn squared_error(&mut self, out: Span, targets: Span, weights: Option<Span>, cols: usize, scale: f32) -> Result<()> {
        let mut stats = self.stats;
        self.write(out, |me, y| {
            let t = me.get(targets)?;
            let weights = weights.map(|w| me.get(w)).transpose()?;
            for (r, (row, tr)) in y.chunks_exact_mut(cols).zip(t.chunks_exact(cols)).enumerate() {
                let w = weights.map_or(1.0, |w| w[r]);
                let mut loss = 0.0f64;
                for (v, &t) in row.iter_mut().zip(tr) {
                    let d = *v - t;
                    loss += 0.5 * (d as f64) * (d as f64);
                    *v = d * w * scale;
                }
                stats.loss += w as f64 * loss;
            }
            Ok(())
        })?;
        self.stats = stats;
        Ok(())
    }

    fn penalty(&mut self, w: Span, g: Span, l1: f32, l2: f32) -> Result<()> {
        let mut stats = self.stats;
        self.write(g, |me, g| {
            for (gv, &x) in g.iter_mut().zip(me.get(w)?) {
                *gv += l1 * x.signum() * (x != 0.0) as u8 as f32 + 2.0 * l2 * x;
                stats.penalty += l1 as f64 * x.abs() as f64 + l2 as f64 * (x as f64) * (x as f64);
            }
            Ok(())
        })?;
        self.stats = stats;
        Ok(())
    }

    fn sum_squares(&mut self, g: Span) -> Result<()> {
        self.stats.grad_sq += self.get(g)?.iter().map(|&v| v as f64 * v as f64).sum::<f64>();
        Ok(())
    }

    fn clear_stats(&mut self) -> Result<()> {
        self.stats = RawStats::default();
        Ok(())
    }

    fn stats(&mut self) -> Result<RawStats> {
        Ok(self.stats)
    }
}

/// The batch cut into `count` slices of consecutive windows, as equal as they
/// can be (the first ones one window longer); fewer when there are fewer windows.
pub fn shards<'a>(batch: &Batch<'a>, count: usize) -> Vec<(Batch<'a>, BatchSlice)> {
    let count = count.clamp(1, batch.batch.max(1));
    let whole = BatchSlice::whole(batch);
    let (base, extra) = (batch.batch / count, batch.batch % count);
    let (seq, mut first) = (batch.seq, 0);
    (0..count)
        .map(|i| {
            let n = base + usize::from(i < extra);
            let w = first..first + n;
            let input = match batch.input {
                BatchInput::Tokens(t) => BatchInput::Tokens(&t[w.start * seq..w.end * seq]),
                BatchInput::Features(f) => {
                    let per = f.len() / batch.batch.max(1);
                    BatchInput::Features(&f[w.start * per..w.end * per])
                }
            };
            let target = match batch.target {
                BatchTarget::NextTokens(t) => BatchTarget::NextTokens(&t[w.start * seq..w.end * seq]),
                BatchTarget::Classes { labels, lengths } => {
                    BatchTarget::Classes { labels: &labels[w.clone()], lengths: &lengths[w.clone()] }
                }
                BatchTarget::Values { values, lengths } => {
                    let per = values.len() / batch.batch.max(1);
                    BatchTarget::Values { values: &values[w.start * per..w.end * per], lengths: &lengths[w.clone()] }
                }
            };
            let slice = BatchSlice { first_window: first, ..whole };
            first += n;
            (Batch { input, target, batch: n, seq }, slice)
        })
        .collect()
}

/// One shard's device: its buffers, workspace, parameters and gradients.
struct Shard {
    ops: CpuOps,
    ws: Option<Workspace>,
    params: Span,
    grads: Span,
}

impl Shard {
    fn new(n: usize, threads: usize) -> Result<Self> {
        let mut ops = CpuOps::new(threads);
        let params = ops.alloc(n)?;
        let grads = ops.alloc(n)?;
        Ok(Shard { ops, ws: None, params, grads })
    }

    fn run(
        &mut self,
        p: &Params,
        batch: &Batch<'_>,
        slice: BatchSlice,
        reg: &Regularization,
        seed: u64,
        with_grads: bool,
    ) -> Result<Stats> {
        self.ops.upload(self.params, &p.data)?;
        if with_grads {
            self.ops.fill(self.grads, 0.0)?;
        }
        let grads = with_grads.then_some(self.grads);
        graph::pass(&mut self.ops, &mut self.ws, &p.net, self.params, grads, batch, slice, reg, seed)
    }
}

/// Data parallelism: the graph's pass with the batch cut into `shards`,
/// computed on up to `workers` threads, their gradients added into `grads`
/// in shard order. The result depends on the shard count, never on the
/// worker count; one shard is exactly one pass.
pub struct CpuEngine {
    params: Params,
    optimizer: Optimizer,
    masks: Option<Masks>,
    grads: Vec<f32>,
    parallelism: CpuParallelism,
    shards: Vec<Shard>,
}

impl CpuEngine {
    /// An engine over the given state.
    pub fn new(params: Params, optimizer: Optimizer, masks: Option<Masks>, parallelism: CpuParallelism) -> Self {
        let grads = vec![0.0; params.data.len()];
        CpuEngine { params, optimizer, masks, grads, parallelism, shards: Vec::new() }
    }

    /// Loss and gradients of one batch without updating anything (what the
    /// gradient checks and the GPU parity tests compare).
    pub fn gradients(&mut self, batch: &Batch<'_>, reg: &Regularization, mask_seed: u64) -> Result<(Stats, Params)> {
        let stats = self.pass(batch, reg, mask_seed, true)?;
        Ok((stats, Params { net: self.params.net.clone(), data: self.grads.clone() }))
    }

    /// The parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    fn pass(&mut self, batch: &Batch<'_>, reg: &Regularization, mask_seed: u64, with_grads: bool) -> Result<Stats> {
        let slices = shards(batch, self.parallelism.shards);
        let n = self.params.data.len();
        while self.shards.len() < slices.len() {
            self.shards.push(Shard::new(n, self.parallelism.gemm_threads)?);
        }
        let workers = self.parallelism.workers.clamp(1, slices.len());
        let per_worker = slices.len().div_ceil(workers);
        let params = &self.params;
        let jobs: Vec<(&mut Shard, &(Batch<'_>, BatchSlice))> = self.shards.iter_mut().zip(&slices).collect();
        let run = |chunk: Vec<(&mut Shard, &(Batch<'_>, BatchSlice))>| -> Vec<Result<Stats>> {
            chunk.into_iter().map(|(s, (b, slice))| s.run(params, b, *slice, reg, mask_seed, with_grads)).collect()
        };
        let results: Vec<Result<Stats>> = if workers == 1 {
            run(jobs)
        } else {
            let mut chunks: Vec<Vec<_>> = Vec::new();
            for job in jobs {
                match chunks.last_mut() {
                    Some(c) if c.len() < per_worker => c.push(job),
                    _ => chunks.push(vec![job]),
                }
            }
            std::thread::scope(|scope| {
                let handles: Vec<_> = chunks.into_iter().map(|c| scope.spawn(move || run(c))).collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().unwrap_or_else(|_| vec![Err(anyhow::anyhow!("a shard thread panicked"))]))
                    .collect()
            })
        };
        let stats: Vec<Stats> = results.into_iter().collect::<Result<_>>()?;
        if with_grads {
            self.grads.iter_mut().for_each(|g| *g = 0.0);
            let mut shard_grads = vec![0.0f32; n];
            for s in &mut self.shards[..slices.len()] {
                s.ops.download(s.grads, &mut shard_grads)?;
                self.grads.iter_mut().zip(&shard_grads).for_each(|(a, b)| *a += b);
            }
        }
        let mut total = Stats { penalty: stats.first().map_or(0.0, |s| s.penalty), ..Stats::default() };
        for s in &stats {
            total.merge(s);
        }
        Ok(total)
    }
}

impl Engine for CpuEngine {
    fn step(&mut self, batch: &Batch<'_>, reg: &Regularization, mask_seed: u64) -> Result<StepResult> {
        let stats = self.pass(batch, reg, mask_seed, true)?;
        if !stats.loss.is_finite() || !self.grads.iter().all(|g| g.is_finite()) {
            return Ok(StepResult { stats, update: None });
        }
        let norm = self.grads.iter().map(|&g| g as f64 * g as f64).sum::<f64>().sqrt();
        let update = self.optimizer.apply(&mut self.params.data, &self.grads, norm);
        if let Some(m) = &self.masks {
            m.apply(&mut self.params);
        }
        Ok(StepResult { stats, update: Some(update) })
    }

    fn evaluate(&mut self, batch: &Batch<'_>) -> Result<Stats> {
        self.pass(batch, &Regularization::default(), 0, false)
    }

    fn state(&mut self) -> Result<(Params, Optimizer)> {
        Ok((self.params.clone(), self.optimizer.clone()))
    }

    fn set_masks(&mut self, masks: &Masks) -> Result<()> {
        masks.apply(&mut self.params);
        self.masks = Some(masks.clone());
        Ok(())
    }

    fn set_schedule_length(&mut self, total_steps: Option<u64>) {
        self.optimizer.config.total_steps = total_steps;
    }
}
