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

use super::ops::{Gemm, GruStep, GruStepGrad, IdSpan, Ops, RawStats, Span};
use super::{Batch, BatchInput, BatchTarget, Regularization, Stats};
use crate::network::{HeadSpec, NetSpec, Slot};
use edgegru_runtime::InputKind;

/// The windows of a batch that one pass computes (a shard, or all of them):
/// dropout masks are indexed by the whole batch's window numbers, and the
/// loss is averaged over the whole batch's scored positions, so the
/// gradients of the slices add up to the gradient of the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSlice {
    /// Index of the slice's first window in the whole batch.
    pub first_window: usize,
    /// Scored positions in the whole batch.
    pub batch_scored: usize,
}

impl BatchSlice {
    /// All of `batch`.
    pub fn whole(batch: &Batch<'_>) -> Self {
        BatchSlice { first_window: 0, batch_scored: batch.scored() }
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
    upload_inputs(ops, net, ws, b)?;
    upload_targets(ops, net, ws, b)
}

/// Row `i` of a time-major layout (`row = t * batch + w`) comes from this
/// position of the window-major batch.
fn window_major(i: usize, bsz: usize, seq: usize) -> usize {
    (i % bsz) * seq + i / bsz
}

fn upload_inputs<O: Ops>(ops: &mut O, net: &NetSpec, ws: &Workspace, b: &Batch<'_>) -> Result<()> {
    let (bsz, seq) = (b.batch, b.seq);
    let rows = bsz * seq;
    match (b.input, net.input) {
        (BatchInput::Tokens(ids), InputKind::Tokens { vocab, .. }) => {
            if ids.len() != rows {
                bail!("batch of {} tokens for {bsz} windows of {seq}", ids.len());
            }
            if let Some(bad) = ids.iter().find(|&&t| t as usize >= vocab) {
                bail!("token id {bad} outside the vocabulary of {vocab}");
            }
            let t: Vec<u32> = (0..rows).map(|i| ids[window_major(i, bsz, seq)]).collect();
            ops.upload_ids(IdSpan(ws.ids.0.at(0, rows)), &t)
        }
        (BatchInput::Features(x), InputKind::Features { count }) => {
            let f = count;
            if x.len() != rows * f {
                bail!("batch of {} feature values for {bsz} windows of {seq} steps of {f}", x.len());
            }
            let mut t = vec![0.0f32; rows * f];
            for i in 0..rows {
                let src = window_major(i, bsz, seq) * f;
                t[i * f..(i + 1) * f].copy_from_slice(&x[src..src + f]);
            }
            ops.upload(ws.x.at(0, rows * f), &t)
        }
        _ => bail!("the batch's input does not match the network's"),
    }
}

/// Per row: the target (id, or values) and the weight of its loss, uploaded;
/// returns the total weight.
fn upload_targets<O: Ops>(ops: &mut O, net: &NetSpec, ws: &Workspace, b: &Batch<'_>) -> Result<f64> {
    let (bsz, seq) = (b.batch, b.seq);
    let rows = bsz * seq;
    let outputs = net.outputs();
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
                *t = next[window_major(i, bsz, seq)];
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

/// What every stage of one pass works on.
struct Pass<'a> {
    ws: &'a Workspace,
    net: &'a NetSpec,
    /// The parameters.
    p: Tensors<'a>,
    /// Rows (`bsz * seq`), windows, steps.
    rows: usize,
    bsz: usize,
    seq: usize,
}

/// One forward pass over `batch` (a `slice` of a larger batch) with the
/// parameters in `params`; with `grads`, also the backward pass, adding the
/// gradients of the mean loss (over the whole batch) into `grads`, with
/// dropout masks drawn from `mask_seed`; without, dropout is off. The
/// penalties' gradients are added only by the slice that starts the batch.
#[allow(clippy::too_many_arguments)]
pub fn pass<O: Ops>(
    ops: &mut O,
    ws: &mut Option<Workspace>,
    net: &NetSpec,
    params: Span,
    grads: Option<Span>,
    batch: &Batch<'_>,
    slice: BatchSlice,
    reg: &Regularization,
    mask_seed: u64,
) -> Result<Stats> {
    let (bsz, seq) = (batch.batch, batch.seq);
    let rows = bsz * seq;
    Workspace::ensure(ws, ops, net, rows, bsz)?;
    let Some(ws) = ws.as_ref() else { bail!("no workspace") };
    let cx = Pass { ws, net, p: Tensors { net, base: params }, rows, bsz, seq };
    let training = grads.is_some();
    let weight = upload_batch(ops, net, ws, batch)?;
    // Every layer's masks, then the input of each layer.
    for (k, l) in ws.layers.iter().enumerate() {
        let (h, i) = (net.grus[k] as usize, net.gru_input(k));
        let (px, ph) = if training { (reg.dropout(k), reg.recurrent_dropout(k)) } else { (0.0, 0.0) };
        let w0 = slice.first_window;
        ops.dropout_mask(l.mask_x.at(0, bsz * i), (w0 * i) as u64, px, mask_seed, 2 * k as u64)?;
        ops.dropout_mask(l.mask_h.at(0, bsz * h), (w0 * h) as u64, ph, mask_seed, 2 * k as u64 + 1)?;
    }
    let inputs = layer_inputs(ops, &cx, reg, training)?;
    for (k, &input) in inputs.iter().enumerate() {
        forward_gru(ops, &cx, k, input)?;
        if let Some(next) = ws.layers.get(k + 1).filter(|_| training && reg.dropout(k + 1) > 0.0) {
            // The layer above reads these states through its input dropout mask.
            let h = net.grus[k] as usize;
            ops.mask_rows(ws.layers[k].h.at(bsz * h, rows * h), next.mask_x.at(0, bsz * h), h, next.xin.at(0, rows * h))?;
        }
    }
    let logits = forward_head(ops, &cx)?;
    // The loss; the outputs become its gradient.
    ops.clear_stats()?;
    let scale = 1.0 / slice.batch_scored.max(1) as f32;
    let weights = match batch.target {
        BatchTarget::NextTokens(_) => None,
        _ => Some(ws.weights.at(0, rows)),
    };
    let outputs = net.outputs();
    match net.head {
        HeadSpec::NextToken | HeadSpec::Classes { .. } => {
            ops.softmax_xent(logits, IdSpan(ws.targets.0.at(0, rows)), weights, outputs, scale)?
        }
        HeadSpec::Regression { .. } => ops.squared_error(logits, ws.values.at(0, rows * outputs), weights, outputs, scale)?,
    }
    if let Some(g) = grads {
        let g = Tensors { net, base: g };
        backward(ops, &cx, &g, &inputs, reg)?;
        if slice.first_window == 0 && (reg.l1 != 0.0 || reg.l2 != 0.0) {
            for (slot, _, _) in net.slots().into_iter().filter(|(s, _, _)| s.is_kernel()) {
                ops.penalty(cx.p.get(slot), g.get(slot), reg.l1, reg.l2)?;
            }
        }
    }
    let RawStats { loss, correct, penalty, .. } = ops.stats()?;
    Ok(Stats { loss: loss / weight.max(1e-12), penalty, correct: correct.round() as usize, tokens: batch.scored() })
}

/// GRU layer `k` over every step: the input projection of all rows at once,
/// then the recurrent product and the gates step by step.
fn forward_gru<O: Ops>(ops: &mut O, cx: &Pass<'_>, k: usize, input: Span) -> Result<()> {
    let (l, p, rows, bsz) = (&cx.ws.layers[k], &cx.p, cx.rows, cx.bsz);
    let (h, i) = (cx.net.grus[k] as usize, cx.net.gru_input(k));
    let gx = l.gx.at(0, rows * 3 * h);
    ops.gemm(&Gemm::a_bt(rows, 3 * h, i, input, p.get(Slot::GruInput(k)), gx))?;
    ops.bias_act(gx, p.get(Slot::GruInputBias(k)), Activation::Linear)?;
    ops.fill(l.h.at(0, bsz * h), 0.0)?;
    ops.fill(l.hd.at(0, bsz * h), 0.0)?;
    let u = p.get(Slot::GruRecurrent(k));
    for t in 0..cx.seq {
        let (o1, o3) = (t * bsz * h, t * bsz * 3 * h);
        let gh = l.gh.at(o3, bsz * 3 * h);
        ops.gemm(&Gemm::a_bt(bsz, 3 * h, h, l.hd.at(o1, bsz * h), u, gh))?;
        ops.gru_step(&GruStep {
            gx: gx.at(o3, bsz * 3 * h),
            gh,
            bias: p.get(Slot::GruRecurrentBias(k)),
            h_prev: l.h.at(o1, bsz * h),
            mask: l.mask_h.at(0, bsz * h),
            gates: l.gates.at(o3, bsz * 3 * h),
            h_next: l.h.at(o1 + bsz * h, bsz * h),
            hd_next: (t + 1 < cx.seq).then(|| l.hd.at(o1 + bsz * h, bsz * h)),
            batch: bsz,
            hidden: h,
        })?;
    }
    Ok(())
}

/// The dense layers and the output layer over all rows; returns the outputs.
fn forward_head<O: Ops>(ops: &mut O, cx: &Pass<'_>) -> Result<Span> {
    let (net, rows) = (cx.net, cx.rows);
    let top = cx.ws.layers.last().map(|l| l.h.at(cx.bsz * net.top_hidden(), rows * net.top_hidden())).unwrap_or(cx.ws.x);
    let mut v = top;
    for (j, d) in net.dense.iter().enumerate() {
        let out = cx.ws.dense[j].0.at(0, rows * d.width as usize);
        ops.gemm(&Gemm::a_bt(rows, d.width as usize, net.dense_input(j), v, cx.p.get(Slot::Dense(j)), out))?;
        ops.bias_act(out, cx.p.get(Slot::DenseBias(j)), d.activation)?;
        v = out;
    }
    let outputs = net.outputs();
    let logits = cx.ws.logits.at(0, rows * outputs);
    ops.gemm(&Gemm::a_bt(rows, outputs, net.head_input(), v, cx.p.get(Slot::Output), logits))?;
    ops.bias_act(logits, cx.p.get(Slot::OutputBias), Activation::Linear)?;
    Ok(logits)
}

/// The input span of each GRU layer: the first layer's embedding rows or
/// (dropped) features; the layers above read their `xin` (filled as the
/// layer below finishes) or, without dropout, the states below directly.
fn layer_inputs<O: Ops>(ops: &mut O, cx: &Pass<'_>, reg: &Regularization, training: bool) -> Result<Vec<Span>> {
    let (ws, net, p, rows, bsz) = (cx.ws, cx.net, &cx.p, cx.rows, cx.bsz);
    let mut inputs = Vec::with_capacity(ws.layers.len());
    let first = &ws.layers[0];
    let i0 = net.input_width();
    let dropped = |k: usize| training && reg.dropout(k) > 0.0;
    inputs.push(match net.input {
        InputKind::Tokens { .. } => {
            let out = first.xin.at(0, rows * i0);
            ops.embed(IdSpan(ws.ids.0.at(0, rows)), p.get(Slot::Embedding), first.mask_x.at(0, bsz * i0), i0, out)?;
            out
        }
        InputKind::Features { .. } if dropped(0) => {
            let out = first.xin.at(0, rows * i0);
            ops.mask_rows(ws.x.at(0, rows * i0), first.mask_x.at(0, bsz * i0), i0, out)?;
            out
        }
        InputKind::Features { .. } => ws.x.at(0, rows * i0),
    });
    for k in 1..ws.layers.len() {
        let below = net.grus[k - 1] as usize;
        inputs.push(if dropped(k) { ws.layers[k].xin.at(0, rows * below) } else { ws.layers[k - 1].h.at(bsz * below, rows * below) });
    }
    Ok(inputs)
}

/// Back-propagation from the loss gradient in the outputs to every tensor.
fn backward<O: Ops>(ops: &mut O, cx: &Pass<'_>, g: &Tensors<'_>, inputs: &[Span], reg: &Regularization) -> Result<()> {
    backward_head(ops, cx, g)?;
    for k in (0..cx.ws.layers.len()).rev() {
        backward_gru(ops, cx, g, k, inputs[k], reg)?;
    }
    Ok(())
}

/// The output layer, then the dense layers, top down: weight gradients, and
/// the gradient of each layer's input, down to the top GRU's states.
fn backward_head<O: Ops>(ops: &mut O, cx: &Pass<'_>, g: &Tensors<'_>) -> Result<()> {
    let (ws, net, rows) = (cx.ws, cx.net, cx.rows);
    let top_h = net.top_hidden();
    let top = &ws.layers[ws.layers.len() - 1];
    let (top_states, top_grad) = (top.h.at(cx.bsz * top_h, rows * top_h), top.dhs.at(0, rows * top_h));
    let mut cols = net.outputs();
    let mut grad = ws.logits.at(0, rows * cols);
    let mut input = net.dense.len().checked_sub(1).map_or(top_states, |j| ws.dense[j].0.at(0, rows * net.dense[j].width as usize));
    let (mut slot_w, mut slot_b, mut width_in) = (Slot::Output, Slot::OutputBias, net.head_input());
    for j in (0..=net.dense.len()).rev() {
        ops.gemm(&Gemm::add_at_b(cols, width_in, rows, grad, input, g.get(slot_w)))?;
        ops.col_sums(grad, g.get(slot_b))?;
        // The gradient of this layer's input: the dense layer below's output, or the top states.
        let below = if j == 0 { top_grad } else { ws.dense[j - 1].1.at(0, rows * width_in) };
        ops.gemm(&Gemm::a_b(rows, width_in, cols, grad, cx.p.get(slot_w), below))?;
        if j == 0 {
            break;
        }
        let d = net.dense[j - 1];
        ops.act_grad(below, ws.dense[j - 1].0.at(0, rows * d.width as usize), d.activation)?;
        grad = below;
        cols = d.width as usize;
        (slot_w, slot_b) = (Slot::Dense(j - 1), Slot::DenseBias(j - 1));
        width_in = net.dense_input(j - 1);
        input = if j >= 2 { ws.dense[j - 2].0.at(0, rows * width_in) } else { top_states };
    }
    Ok(())
}

/// GRU layer `k`: back through time, its weight gradients, and the gradient
/// of its input (the embedding's rows, or the states of the layer below).
fn backward_gru<O: Ops>(ops: &mut O, cx: &Pass<'_>, g: &Tensors<'_>, k: usize, input: Span, reg: &Regularization) -> Result<()> {
    let (ws, net, rows, bsz) = (cx.ws, cx.net, cx.rows, cx.bsz);
    let l = &ws.layers[k];
    let (h, i) = (net.grus[k] as usize, net.gru_input(k));
    through_time(ops, cx, k)?;
    let (dgx, dgh) = (l.dgx.at(0, rows * 3 * h), l.dgh.at(0, rows * 3 * h));
    ops.gemm(&Gemm::add_at_b(3 * h, h, rows, dgh, l.hd.at(0, rows * h), g.get(Slot::GruRecurrent(k))))?;
    ops.col_sums(dgh, g.get(Slot::GruRecurrentBias(k)))?;
    ops.gemm(&Gemm::add_at_b(3 * h, i, rows, dgx, input, g.get(Slot::GruInput(k))))?;
    ops.col_sums(dgx, g.get(Slot::GruInputBias(k)))?;
    let w = cx.p.get(Slot::GruInput(k));
    let dxin = l.dxin.at(0, rows * i);
    match (k, net.input) {
        (0, InputKind::Features { .. }) => {}
        (0, InputKind::Tokens { .. }) => {
            ops.gemm(&Gemm::a_b(rows, i, 3 * h, dgx, w, dxin))?;
            ops.embed_grad(IdSpan(ws.ids.0.at(0, rows)), dxin, l.mask_x.at(0, bsz * i), i, g.get(Slot::Embedding))?;
        }
        _ => {
            let below = ws.layers[k - 1].dhs.at(0, rows * i);
            if reg.dropout(k) > 0.0 {
                ops.gemm(&Gemm::a_b(rows, i, 3 * h, dgx, w, dxin))?;
                ops.mask_rows(dxin, l.mask_x.at(0, bsz * i), i, below)?;
            } else {
                ops.gemm(&Gemm::a_b(rows, i, 3 * h, dgx, w, below))?;
            }
        }
    }
    Ok(())
}

/// The gate gradients of GRU layer `k` at every step, last to first, the
/// state's gradient carried back through the recurrent weights.
fn through_time<O: Ops>(ops: &mut O, cx: &Pass<'_>, k: usize) -> Result<()> {
    let (l, bsz) = (&cx.ws.layers[k], cx.bsz);
    let h = cx.net.grus[k] as usize;
    ops.fill(l.carry.at(0, bsz * h), 0.0)?;
    ops.fill(l.rec.at(0, bsz * h), 0.0)?;
    let u = cx.p.get(Slot::GruRecurrent(k));
    for t in (0..cx.seq).rev() {
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
            ops.gemm(&Gemm::a_b(bsz, h, 3 * h, dgh, u, l.rec.at(0, bsz * h)))?;
        }
    }
    Ok(())
}
