//! The network's forward pass and back-propagation through time, written
//! once over [`Ops`]: every device runs this code.
//!
//! Rows are time-major (`row = t * batch + b`), so the input projection of a
//! GRU layer over the whole batch, the dense layers and every weight gradient
//! are single large matrix products; only the recurrent product runs per
//! step, over the batch. Each GRU layer reads the sequence of states of the
//! layer below (the first reads the embedding rows or the features); the head
//! reads the last layer's states. Dropout masks are drawn per window (as
//! Keras does) from a counter-based hash, so every device draws the same.

use anyhow::{bail, Result};
use edgegru_runtime::Activation;

use super::ops::{Gemm, GruStep, GruStepGrad, IdSpan, Op, Ops, RawStats, Span};
use super::{Batch, BatchInput, BatchTarget, Regularization, Stats};
use crate::network::{HeadSpec, InputSpec, NetSpec, Slot};

/// The windows of a batch that one pass computes (a shard, or all of them):
/// dropout masks are indexed by the whole batch's window numbers, and the
/// loss is averaged over the whole batch's scored positions, so the
/// gradients of the parts add up to the gradient of the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// Index of the part's first window in the whole batch.
    pub first_window: usize,
    /// Scored positions in the whole batch.
    pub batch_scored: usize,
}

impl Part {
    /// All of `batch`.
    pub fn whole(batch: &Batch<'_>) -> Self {
        Part { first_window: 0, batch_scored: batch.scored() }
    }
}

/// Device buffers of one GRU layer.
#[derive(Debug, Clone, Copy)]
struct LayerBufs {
    /// Input dropout mask, `[batch, in]`.
    mask_x: Span,
    /// Recurrent dropout mask, `[batch, h]`.
    mask_h: Span,
    /// The layer's masked input, `[rows, in]` (layers above the first and
    /// dropped features; otherwise the input is used as it is).
    xin: Span,
    gx: Span,
    gh: Span,
    gates: Span,
    /// States `[(seq + 1) * batch, h]`, the first `batch` rows zero.
    h: Span,
    /// Dropped states fed to `U`, `[rows, h]`.
    hd: Span,
    dgx: Span,
    dgh: Span,
    carry: Span,
    rec: Span,
    /// Gradient of the layer's output states, `[rows, h]`.
    dhs: Span,
    /// Gradient of the layer's input, `[rows, in]`.
    dxin: Span,
}

/// Device buffers for batches of up to `rows` rows and `batch` windows.
#[derive(Debug, Clone)]
pub struct Workspace {
    rows: usize,
    batch: usize,
    ids: IdSpan,
    targets: IdSpan,
    weights: Span,
    values: Span,
    /// The embedding rows or the normalized features, `[rows, in]`.
    x: Span,
    layers: Vec<LayerBufs>,
    /// Dense outputs and their gradients, `[rows, width]` each.
    dense: Vec<(Span, Span)>,
    /// Outputs, then their gradients, `[rows, outputs]`.
    logits: Span,
}

impl Workspace {
    fn new<O: Ops>(ops: &mut O, net: &NetSpec, rows: usize, batch: usize) -> Result<Self> {
        let f = |ops: &mut O, n: usize| ops.alloc(n.max(1));
        let mut layers = Vec::new();
        for (k, &h) in net.grus.iter().enumerate() {
            let (h, i) = (h as usize, net.gru_input(k));
            layers.push(LayerBufs {
                mask_x: f(ops, batch * i)?,
                mask_h: f(ops, batch * h)?,
                xin: f(ops, rows * i)?,
                gx: f(ops, rows * 3 * h)?,
                gh: f(ops, rows * 3 * h)?,
                gates: f(ops, rows * 3 * h)?,
                h: f(ops, (rows + batch) * h)?,
                hd: f(ops, rows * h)?,
                dgx: f(ops, rows * 3 * h)?,
                dgh: f(ops, rows * 3 * h)?,
                carry: f(ops, batch * h)?,
                rec: f(ops, batch * h)?,
                dhs: f(ops, rows * h)?,
                dxin: f(ops, rows * i)?,
            });
        }
        let mut dense = Vec::new();
        for d in &net.dense {
            dense.push((f(ops, rows * d.width as usize)?, f(ops, rows * d.width as usize)?));
        }
        Ok(Workspace {
            rows,
            batch,
            ids: ops.alloc_ids(rows.max(1))?,
            targets: ops.alloc_ids(rows.max(1))?,
            weights: f(ops, rows)?,
            values: f(ops, rows * net.outputs())?,
            x: f(ops, rows * net.input_width())?,
            layers,
            dense,
            logits: f(ops, rows * net.outputs())?,
        })
    }

    /// A workspace for `rows` rows and `batch` windows: `ws` when it is big
    /// enough, else a new one.
    pub fn ensure<O: Ops>(ws: &mut Option<Workspace>, ops: &mut O, net: &NetSpec, rows: usize, batch: usize) -> Result<()> {
        if ws.as_ref().is_some_and(|w| w.rows >= rows && w.batch >= batch) {
            return Ok(());
        }
        let (r, b) = ws.as_ref().map_or((rows, batch), |w| (w.rows.max(rows), w.batch.max(batch)));
        *ws = Some(Workspace::new(ops, net, r, b)?);
        Ok(())
    }
}

/// Where each tensor of the network is in a parameter (or gradient) span.
struct Tensors<'n> {
    net: &'n NetSpec,
    base: Span,
}

impl Tensors<'_> {
    fn get(&self, slot: Slot) -> Span {
        let r = self.net.range(slot);
        self.base.at(r.start, r.len())
    }
}

/// The batch's inputs and targets, time-major, on the device; returns the
/// total weight of the scored positions.
fn upload_batch<O: Ops>(ops: &mut O, net: &NetSpec, ws: &Workspace, b: &Batch<'_>) -> Result<f64> {
    let (bsz, seq) = (b.batch, b.seq);
    let rows = bsz * seq;
    let time_major = |i: usize| (i % bsz) * seq + i / bsz;
    match (b.input, net.input) {
        (BatchInput::Tokens(ids), InputSpec::Tokens { vocab, .. }) => {
            if ids.len() != rows {
                bail!("batch of {} tokens for {bsz} windows of {seq}", ids.len());
            }
            if let Some(bad) = ids.iter().find(|&&t| t >= vocab) {
                bail!("token id {bad} outside the vocabulary of {vocab}");
            }
            let t: Vec<u32> = (0..rows).map(|i| ids[time_major(i)]).collect();
            ops.upload_ids(IdSpan(ws.ids.0.at(0, rows)), &t)?;
        }
        (BatchInput::Features(x), InputSpec::Features { count }) => {
            let f = count as usize;
            if x.len() != rows * f {
                bail!("batch of {} feature values for {bsz} windows of {seq} steps of {f}", x.len());
            }
            let mut t = vec![0.0f32; rows * f];
            for i in 0..rows {
                let src = time_major(i) * f;
                t[i * f..(i + 1) * f].copy_from_slice(&x[src..src + f]);
            }
            ops.upload(ws.x.at(0, rows * f), &t)?;
        }
        _ => bail!("the batch's input does not match the network's"),
    }
    let outputs = net.outputs();
    // Per row: the target id and the weight of its loss.
    let mut targets = vec![0u32; rows];
    let mut weights = vec![0.0f32; rows];
    let last_step = |lengths: &[usize], w: usize| -> Result<usize> {
        match lengths.get(w) {
            Some(&l) if (1..=seq).contains(&l) => Ok(l - 1),
            other => bail!("window {w} has length {other:?}, not 1..={seq}"),
        }
    };
    match (b.target, net.head) {
        (BatchTarget::NextTokens(next), HeadSpec::NextToken) => {
            if next.len() != rows {
                bail!("batch of {} targets for {rows} tokens", next.len());
            }
            if let Some(bad) = next.iter().find(|&&t| t as usize >= outputs) {
                bail!("target id {bad} outside the vocabulary of {outputs}");
            }
            for (i, t) in targets.iter_mut().enumerate() {
                *t = next[time_major(i)];
            }
            weights.iter_mut().for_each(|w| *w = 1.0);
        }
        (BatchTarget::Classes { labels, lengths }, HeadSpec::Classes { count }) => {
            for w in 0..bsz {
                let label = *labels.get(w).filter(|&&l| l < count).ok_or_else(|| anyhow::anyhow!("window {w}: no class below {count}"))?;
                let t = last_step(lengths, w)?;
                for s in 0..seq {
                    targets[s * bsz + w] = label;
                }
                weights[t * bsz + w] = 1.0;
            }
        }
        (BatchTarget::Values { values, lengths }, HeadSpec::Regression { .. }) => {
            if values.len() != bsz * outputs {
                bail!("batch of {} target values for {bsz} windows of {outputs} outputs", values.len());
            }
            let mut v = vec![0.0f32; rows * outputs];
            for w in 0..bsz {
                let t = last_step(lengths, w)?;
                weights[t * bsz + w] = 1.0;
                for s in 0..seq {
                    let row = s * bsz + w;
                    v[row * outputs..(row + 1) * outputs].copy_from_slice(&values[w * outputs..(w + 1) * outputs]);
                }
            }
            ops.upload(ws.values.at(0, rows * outputs), &v)?;
        }
        _ => bail!("the batch's targets do not match the network's head"),
    }
    ops.upload_ids(IdSpan(ws.targets.0.at(0, rows)), &targets)?;
    ops.upload(ws.weights.at(0, rows), &weights)?;
    Ok(weights.iter().map(|&w| w as f64).sum())
}

/// One forward pass over `batch` (a `part` of a larger batch) with the
/// parameters in `params`; with `grads`, also the backward pass, adding the
/// gradients of the mean loss (over the whole batch) into `grads`, with
/// dropout masks drawn from `mask_seed`; without, dropout is off. The
/// penalties' gradients are added only by the part that starts the batch.
#[allow(clippy::too_many_arguments)]
pub fn pass<O: Ops>(
    ops: &mut O,
    ws: &mut Option<Workspace>,
    net: &NetSpec,
    params: Span,
    grads: Option<Span>,
    batch: &Batch<'_>,
    part: Part,
    reg: &Regularization,
    mask_seed: u64,
) -> Result<Stats> {
    let (bsz, seq) = (batch.batch, batch.seq);
    let rows = bsz * seq;
    Workspace::ensure(ws, ops, net, rows, bsz)?;
    let Some(ws) = ws.as_ref() else { bail!("no workspace") };
    let p = Tensors { net, base: params };
    let training = grads.is_some();
    let weight = upload_batch(ops, net, ws, batch)?;
    let w0 = part.first_window;

    // Input of the first layer, and every layer's masks.
    for (k, l) in ws.layers.iter().enumerate() {
        let (h, i) = (net.grus[k] as usize, net.gru_input(k));
        let (px, ph) = if training { (reg.dropout(k), reg.recurrent_dropout(k)) } else { (0.0, 0.0) };
        ops.dropout_mask(l.mask_x.at(0, bsz * i), (w0 * i) as u64, px, mask_seed, 2 * k as u64)?;
        ops.dropout_mask(l.mask_h.at(0, bsz * h), (w0 * h) as u64, ph, mask_seed, 2 * k as u64 + 1)?;
    }
    let inputs = layer_inputs(ops, ws, net, &p, reg, training, rows, bsz)?;

    // The GRU layers, bottom to top.
    for (k, l) in ws.layers.iter().enumerate() {
        let (h, i) = (net.grus[k] as usize, net.gru_input(k));
        let gx = l.gx.at(0, rows * 3 * h);
        ops.gemm(&Gemm {
            m: rows,
            n: 3 * h,
            k: i,
            alpha: 1.0,
            a: inputs[k],
            op_a: Op::N,
            b: p.get(Slot::GruInput(k)),
            op_b: Op::T,
            beta: 0.0,
            c: gx,
        })?;
        ops.bias_act(gx, p.get(Slot::GruInputBias(k)), Activation::Linear)?;
        ops.fill(l.h.at(0, bsz * h), 0.0)?;
        ops.fill(l.hd.at(0, bsz * h), 0.0)?;
        let u = p.get(Slot::GruRecurrent(k));
        for t in 0..seq {
            let (o1, o3) = (t * bsz * h, t * bsz * 3 * h);
            let gh = l.gh.at(o3, bsz * 3 * h);
            ops.gemm(&Gemm {
                m: bsz,
                n: 3 * h,
                k: h,
                alpha: 1.0,
                a: l.hd.at(o1, bsz * h),
                op_a: Op::N,
                b: u,
                op_b: Op::T,
                beta: 0.0,
                c: gh,
            })?;
            ops.gru_step(&GruStep {
                gx: gx.at(o3, bsz * 3 * h),
                gh,
                bias: p.get(Slot::GruRecurrentBias(k)),
                h_prev: l.h.at(o1, bsz * h),
                mask: l.mask_h.at(0, bsz * h),
                gates: l.gates.at(o3, bsz * 3 * h),
                h_next: l.h.at(o1 + bsz * h, bsz * h),
                hd_next: (t + 1 < seq).then(|| l.hd.at(o1 + bsz * h, bsz * h)),
                batch: bsz,
                hidden: h,
            })?;
        }
        if let Some(next) = ws.layers.get(k + 1).filter(|_| training && reg.dropout(k + 1) > 0.0) {
            // The layer above reads these states through its input dropout mask.
            ops.mask_rows(l.h.at(bsz * h, rows * h), next.mask_x.at(0, bsz * h), h, next.xin.at(0, rows * h))?;
        }
    }

    // The dense layers and the output layer over all rows.
    let top = ws.layers.last().map(|l| l.h.at(bsz * net.top_hidden(), rows * net.top_hidden())).unwrap_or(ws.x);
    let mut v = top;
    for (j, d) in net.dense.iter().enumerate() {
        let (width, input) = (d.width as usize, net.dense_input(j));
        let out = ws.dense[j].0.at(0, rows * width);
        ops.gemm(&Gemm {
            m: rows,
            n: width,
            k: input,
            alpha: 1.0,
            a: v,
            op_a: Op::N,
            b: p.get(Slot::Dense(j)),
            op_b: Op::T,
            beta: 0.0,
            c: out,
        })?;
        ops.bias_act(out, p.get(Slot::DenseBias(j)), d.activation)?;
        v = out;
    }
    let outputs = net.outputs();
    let logits = ws.logits.at(0, rows * outputs);
    ops.gemm(&Gemm {
        m: rows,
        n: outputs,
        k: net.head_input(),
        alpha: 1.0,
        a: v,
        op_a: Op::N,
        b: p.get(Slot::Output),
        op_b: Op::T,
        beta: 0.0,
        c: logits,
    })?;
    ops.bias_act(logits, p.get(Slot::OutputBias), Activation::Linear)?;

    // The loss; the outputs become its gradient.
    ops.clear_stats()?;
    let scale = 1.0 / part.batch_scored.max(1) as f32;
    let weights = match batch.target {
        BatchTarget::NextTokens(_) => None,
        _ => Some(ws.weights.at(0, rows)),
    };
    match net.head {
        HeadSpec::NextToken | HeadSpec::Classes { .. } => {
            ops.softmax_xent(logits, IdSpan(ws.targets.0.at(0, rows)), weights, outputs, scale)?
        }
        HeadSpec::Regression { .. } => ops.squared_error(logits, ws.values.at(0, rows * outputs), weights, outputs, scale)?,
    }
    if let Some(g) = grads {
        backward(ops, ws, net, &p, &Tensors { net, base: g }, &inputs, reg, rows, bsz, seq)?;
        if part.first_window == 0 && (reg.l1 != 0.0 || reg.l2 != 0.0) {
            let g = Tensors { net, base: g };
            for (slot, _, _) in net.slots().into_iter().filter(|(s, _, _)| s.is_kernel()) {
                ops.penalty(p.get(slot), g.get(slot), reg.l1, reg.l2)?;
            }
        }
    }
    let RawStats { loss, correct, penalty, .. } = ops.stats()?;
    let scored = batch.scored();
    Ok(Stats { loss: loss / weight.max(1e-12), penalty, correct: correct.round() as usize, tokens: scored })
}

/// The input span of each GRU layer: the first layer's embedding rows or
/// (dropped) features; the layers above read their `xin` (filled as the
/// layer below finishes) or, without dropout, the states below directly.
#[allow(clippy::too_many_arguments)]
fn layer_inputs<O: Ops>(
    ops: &mut O,
    ws: &Workspace,
    net: &NetSpec,
    p: &Tensors<'_>,
    reg: &Regularization,
    training: bool,
    rows: usize,
    bsz: usize,
) -> Result<Vec<Span>> {
    let mut inputs = Vec::with_capacity(ws.layers.len());
    let first = &ws.layers[0];
    let i0 = net.input_width();
    let dropped = |k: usize| training && reg.dropout(k) > 0.0;
    inputs.push(match net.input {
        InputSpec::Tokens { .. } => {
            let out = first.xin.at(0, rows * i0);
            ops.embed(IdSpan(ws.ids.0.at(0, rows)), p.get(Slot::Embedding), first.mask_x.at(0, bsz * i0), i0, out)?;
            out
        }
        InputSpec::Features { .. } if dropped(0) => {
            let out = first.xin.at(0, rows * i0);
            ops.mask_rows(ws.x.at(0, rows * i0), first.mask_x.at(0, bsz * i0), i0, out)?;
            out
        }
        InputSpec::Features { .. } => ws.x.at(0, rows * i0),
    });
    for k in 1..ws.layers.len() {
        let below = net.grus[k - 1] as usize;
        inputs.push(if dropped(k) { ws.layers[k].xin.at(0, rows * below) } else { ws.layers[k - 1].h.at(bsz * below, rows * below) });
    }
    Ok(inputs)
}

/// Back-propagation from the loss gradient in the outputs to every tensor.
#[allow(clippy::too_many_arguments)]
fn backward<O: Ops>(
    ops: &mut O,
    ws: &Workspace,
    net: &NetSpec,
    p: &Tensors<'_>,
    g: &Tensors<'_>,
    inputs: &[Span],
    reg: &Regularization,
    rows: usize,
    bsz: usize,
    seq: usize,
) -> Result<()> {
    let top_h = net.top_hidden();
    let layers = &ws.layers;
    let top_states = layers[layers.len() - 1].h.at(bsz * top_h, rows * top_h);
    let top_grad = layers[layers.len() - 1].dhs.at(0, rows * top_h);

    // Output layer, then the dense layers, top down.
    let outputs = net.outputs();
    let dlogits = ws.logits.at(0, rows * outputs);
    let (mut grad, mut input) =
        (dlogits, net.dense.len().checked_sub(1).map_or(top_states, |j| ws.dense[j].0.at(0, rows * net.dense[j].width as usize)));
    let (mut slot_w, mut slot_b, mut width_in) = (Slot::Output, Slot::OutputBias, net.head_input());
    let mut cols = outputs;
    for j in (0..=net.dense.len()).rev() {
        ops.gemm(&Gemm {
            m: cols,
            n: width_in,
            k: rows,
            alpha: 1.0,
            a: grad,
            op_a: Op::T,
            b: input,
            op_b: Op::N,
            beta: 1.0,
            c: g.get(slot_w),
        })?;
        ops.col_sums(grad, g.get(slot_b))?;
        // The gradient of this layer's input: the dense layer below's output, or the top states.
        let below = if j == 0 { top_grad } else { ws.dense[j - 1].1.at(0, rows * width_in) };
        ops.gemm(&Gemm {
            m: rows,
            n: width_in,
            k: cols,
            alpha: 1.0,
            a: grad,
            op_a: Op::N,
            b: p.get(slot_w),
            op_b: Op::N,
            beta: 0.0,
            c: below,
        })?;
        if j == 0 {
            break;
        }
        let d = net.dense[j - 1];
        let out = ws.dense[j - 1].0.at(0, rows * d.width as usize);
        ops.act_grad(below, out, d.activation)?;
        grad = below;
        cols = d.width as usize;
        (slot_w, slot_b) = (Slot::Dense(j - 1), Slot::DenseBias(j - 1));
        width_in = net.dense_input(j - 1);
        input = if j >= 2 { ws.dense[j - 2].0.at(0, rows * width_in) } else { top_states };
    }

    // The GRU layers, top down, each through time.
    for k in (0..layers.len()).rev() {
        let l = &layers[k];
        let (h, i) = (net.grus[k] as usize, net.gru_input(k));
        ops.fill(l.carry.at(0, bsz * h), 0.0)?;
        ops.fill(l.rec.at(0, bsz * h), 0.0)?;
        let u = p.get(Slot::GruRecurrent(k));
        for t in (0..seq).rev() {
            let (o1, o3) = (t * bsz * h, t * bsz * 3 * h);
            let dgh = l.dgh.at(o3, bsz * 3 * h);
            ops.gru_step_grad(&GruStepGrad {
                gates: l.gates.at(o3, bsz * 3 * h),
                gh: l.gh.at(o3, bsz * 3 * h),
                h_prev: l.h.at(o1, bsz * h),
                dhs: l.dhs.at(o1, bsz * h),
                carry: l.carry.at(0, bsz * h),
                rec: l.rec.at(0, bsz * h),
                mask: l.mask_h.at(0, bsz * h),
                dgx: l.dgx.at(o3, bsz * 3 * h),
                dgh,
                batch: bsz,
                hidden: h,
            })?;
            if t > 0 {
                ops.gemm(&Gemm {
                    m: bsz,
                    n: h,
                    k: 3 * h,
                    alpha: 1.0,
                    a: dgh,
                    op_a: Op::N,
                    b: u,
                    op_b: Op::N,
                    beta: 0.0,
                    c: l.rec.at(0, bsz * h),
                })?;
            }
        }
        let (dgx, dgh) = (l.dgx.at(0, rows * 3 * h), l.dgh.at(0, rows * 3 * h));
        ops.gemm(&Gemm {
            m: 3 * h,
            n: h,
            k: rows,
            alpha: 1.0,
            a: dgh,
            op_a: Op::T,
            b: l.hd.at(0, rows * h),
            op_b: Op::N,
            beta: 1.0,
            c: g.get(Slot::GruRecurrent(k)),
        })?;
        ops.col_sums(dgh, g.get(Slot::GruRecurrentBias(k)))?;
        ops.gemm(&Gemm {
            m: 3 * h,
            n: i,
            k: rows,
            alpha: 1.0,
            a: dgx,
            op_a: Op::T,
            b: inputs[k],
            op_b: Op::N,
            beta: 1.0,
            c: g.get(Slot::GruInput(k)),
        })?;
        ops.col_sums(dgx, g.get(Slot::GruInputBias(k)))?;
        // The gradient of the layer's input.
        let w = p.get(Slot::GruInput(k));
        let dxin = l.dxin.at(0, rows * i);
        match (k, net.input) {
            (0, InputSpec::Features { .. }) => {}
            (0, InputSpec::Tokens { .. }) => {
                ops.gemm(&Gemm { m: rows, n: i, k: 3 * h, alpha: 1.0, a: dgx, op_a: Op::N, b: w, op_b: Op::N, beta: 0.0, c: dxin })?;
                ops.embed_grad(IdSpan(ws.ids.0.at(0, rows)), dxin, l.mask_x.at(0, bsz * i), i, g.get(Slot::Embedding))?;
            }
            _ => {
                let below = layers[k - 1].dhs.at(0, rows * i);
                if reg.dropout(k) > 0.0 {
                    ops.gemm(&Gemm { m: rows, n: i, k: 3 * h, alpha: 1.0, a: dgx, op_a: Op::N, b: w, op_b: Op::N, beta: 0.0, c: dxin })?;
                    ops.mask_rows(dxin, l.mask_x.at(0, bsz * i), i, below)?;
                } else {
                    ops.gemm(&Gemm { m: rows, n: i, k: 3 * h, alpha: 1.0, a: dgx, op_a: Op::N, b: w, op_b: Op::N, beta: 0.0, c: below })?;
                }
            }
        }
    }
    Ok(())
}
