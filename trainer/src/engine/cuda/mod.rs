//! The CUDA device (feature `cuda`): the [`Ops`] primitives on an NVIDIA GPU
//! through `cudarc` with dynamic loading (no CUDA toolkit at build time), and
//! the engine that runs the shared graph on it.
//!
//! - `device`: loading the driver, NVRTC and cuBLAS; the context; buffers.
//! - `blas`: matrix products (f32, or bf16/f16 operands with f32 accumulation).
//! - `kernels`: the other primitives (`kernels.cu`, compiled by NVRTC when the
//!   engine starts) and the one list of their names.
//!
//! Parameters, gradients and optimizer moments stay on the device; the host
//! sees them at checkpoints and pruning updates, in the CPU's layout, so
//! checkpoints from either device are interchangeable.

mod blas;
mod device;
mod kernels;

use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use cudarc::cublas::CudaBlas;
use cudarc::driver::{CudaFunction, CudaStream, DeviceRepr, LaunchArgs, LaunchConfig, PushKernelArg};
use edgegru_runtime::Activation;

pub use device::{check_libraries, device_count, nvrtc_available};
pub use kernels::{compile_kernels, KernelTarget, KERNELS_SOURCE, KERNEL_NAMES};

use self::blas::Product;
use self::device::{cu, Buf};
use self::kernels::Kernels;
use super::graph::{self, BatchSlice, Workspace};
use super::ops::{Gemm, GruStep, GruStepGrad, IdSpan, Ops, RawStats, Span};
use super::{Batch, Engine, Precision, Regularization, Stats, StepResult};
use crate::network::NetSpec;
use crate::optim::{Optimizer, OptimizerKind, Update};
use crate::params::Params;
use crate::prune::Masks;

/// Threads per block of the element-wise kernels (the reductions assume it).
const BLOCK: u32 = 256;

/// A kernel argument: a scalar or a device address, pushed by value.
trait Arg {
    fn push<'a>(&'a self, b: &mut LaunchArgs<'a>);
}

impl<T: DeviceRepr> Arg for T {
    fn push<'a>(&'a self, b: &mut LaunchArgs<'a>) {
        b.arg(self);
    }
}

fn elementwise(n: usize) -> LaunchConfig {
    LaunchConfig { grid_dim: ((n as u32).div_ceil(BLOCK).max(1), 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 }
}

fn act_code(a: Activation) -> i32 {
    match a {
        Activation::Linear => 0,
        Activation::Relu => 1,
        Activation::Tanh => 2,
        Activation::Sigmoid => 3,
    }
}

/// The GPU's buffers, kernels and cuBLAS handle.
pub struct CudaOps {
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    k: Kernels,
    precision: Precision,
    f: Vec<Buf<f32>>,
    ids: Vec<Buf<u32>>,
    /// loss sum, correct count, penalty, squared gradient norm.
    stats: Buf<f64>,
    /// Ones, for bias gradients as `ones^T X` products.
    ones: Option<Buf<f32>>,
    /// A buffer (the parameters) whose reduced-precision copy is kept, and the copy.
    kept_half: Option<(usize, Buf<u16>)>,
    /// Reduced-precision copies of the two operands of a product.
    scratch: [Option<Buf<u16>>; 2],
}

impl CudaOps {
    /// The primitives on GPU `ordinal` (its kernels compiled for it).
    pub fn new(ordinal: usize, precision: Precision) -> Result<Self> {
        let (ctx, stream) = device::open(ordinal)?;
        let blas = cu(CudaBlas::new(stream.clone()), "creating the cuBLAS handle")?;
        let k = Kernels::load(&ctx)?;
        let stats = Buf::zeros(&stream, 4)?;
        Ok(CudaOps {
            stream,
            blas,
            k,
            precision,
            f: Vec::new(),
            ids: Vec::new(),
            stats,
            ones: None,
            kept_half: None,
            scratch: [None, None],
        })
    }

    /// Address of a span's first element, checked against its buffer.
    fn ptr(&self, s: Span) -> Result<u64> {
        match self.f.get(s.buf) {
            Some(b) if s.off + s.len <= b.len => Ok(b.at(s.off)),
            _ => bail!("internal: span {s:?} is out of range"),
        }
    }

    fn id_ptr(&self, s: IdSpan) -> Result<u64> {
        match self.ids.get(s.0.buf) {
            Some(b) if s.0.off + s.0.len <= b.len => Ok(b.at(s.0.off)),
            _ => bail!("internal: id span {s:?} is out of range"),
        }
    }

    fn launch<'a>(&'a self, f: &'a CudaFunction, cfg: LaunchConfig, args: &[&'a dyn Arg]) -> Result<()> {
        let mut b = self.stream.launch_builder(f);
        for a in args {
            a.push(&mut b);
        }
        // SAFETY: every pointer argument addresses a live buffer of this device
        // sized for the counts passed beside it (each span is checked against
        // its buffer), and the argument list matches the kernel's C signature
        // in kernels.cu in order and type.
        cu(unsafe { b.launch(cfg) }, "launching a kernel")?;
        Ok(())
    }

    /// Keeps a reduced-precision copy of `s` (the parameters), refreshed by
    /// [`CudaOps::refresh_half`]; products read it instead of converting.
    fn keep_half(&mut self, s: Span) -> Result<()> {
        if self.precision != Precision::F32 {
            self.kept_half = Some((s.buf, Buf::zeros(&self.stream, s.len)?));
        }
        Ok(())
    }

    /// Converts the kept buffer into its reduced-precision copy.
    fn refresh_half(&self) -> Result<()> {
        if let Some((buf, half)) = &self.kept_half {
            let src = self.ptr(Span { buf: *buf, off: 0, len: half.len })?;
            self.convert(src, half.ptr, half.len)?;
        }
        Ok(())
    }

    fn convert(&self, src: u64, dst: u64, n: usize) -> Result<()> {
        let f = if self.precision == Precision::Bf16 { &self.k.to_bf16 } else { &self.k.to_f16 };
        self.launch(f, elementwise(n), &[&src, &dst, &(n as i32)])
    }

    /// The reduced-precision address of operand `s`: the kept copy, or a
    /// conversion into scratch buffer `which`.
    fn half_of(&mut self, s: Span, which: usize) -> Result<u64> {
        if let Some((buf, half)) = &self.kept_half {
            if *buf == s.buf {
                return Ok(half.at(s.off));
            }
        }
        if self.scratch[which].as_ref().is_none_or(|b| b.len < s.len) {
            self.scratch[which] = Some(Buf::zeros(&self.stream, s.len)?);
        }
        let dst = self.scratch[which].as_ref().map(|b| b.ptr).ok_or_else(|| anyhow!("no scratch"))?;
        self.convert(self.ptr(s)?, dst, s.len)?;
        Ok(dst)
    }

    fn gemm_in(&mut self, precision: Precision, g: &Gemm) -> Result<()> {
        let (a, b) =
            if precision == Precision::F32 { (self.ptr(g.a)?, self.ptr(g.b)?) } else { (self.half_of(g.a, 0)?, self.half_of(g.b, 1)?) };
        let p = Product { m: g.m, n: g.n, k: g.k, alpha: g.alpha, a, op_a: g.op_a, b, op_b: g.op_b, beta: g.beta, c: self.ptr(g.c)? };
        blas::gemm(&self.blas, precision, &p)
    }

    fn download_into<T: DeviceRepr>(&self, buf: &Buf<T>, n: usize) -> Result<Vec<T>> {
        let mut v = cu(self.stream.clone_dtoh(&buf.slice), "copying from the device")?;
        cu(self.stream.synchronize(), "waiting for the device")?;
        v.truncate(n);
        Ok(v)
    }
}

impl Ops for CudaOps {
    fn alloc(&mut self, len: usize) -> Result<Span> {
        self.f.push(Buf::zeros(&self.stream, len)?);
        Ok(Span { buf: self.f.len() - 1, off: 0, len })
    }

    fn alloc_ids(&mut self, len: usize) -> Result<IdSpan> {
        self.ids.push(Buf::zeros(&self.stream, len)?);
        Ok(IdSpan(Span { buf: self.ids.len() - 1, off: 0, len }))
    }

    fn upload(&mut self, dst: Span, src: &[f32]) -> Result<()> {
        let p = self.ptr(dst)?;
        if src.len() != dst.len {
            bail!("internal: uploading {} values into a span of {}", src.len(), dst.len);
        }
        // SAFETY: `p` addresses `dst.len` floats of a live buffer (checked).
        unsafe { cu(cudarc::driver::result::memcpy_htod_async(p, src, self.stream.cu_stream()), "copying to the device") }
    }

    fn upload_ids(&mut self, dst: IdSpan, src: &[u32]) -> Result<()> {
        let p = self.id_ptr(dst)?;
        if src.len() != dst.0.len {
            bail!("internal: uploading {} ids into a span of {}", src.len(), dst.0.len);
        }
        // SAFETY: `p` addresses `dst.len` ids of a live buffer (checked).
        unsafe { cu(cudarc::driver::result::memcpy_htod_async(p, src, self.stream.cu_stream()), "copying ids to the device") }
    }

    fn download(&mut self, src: Span, dst: &mut [f32]) -> Result<()> {
        let b = self.f.get(src.buf).ok_or_else(|| anyhow!("internal: no buffer {}", src.buf))?;
        let all = self.download_into(b, b.len)?;
        let part = all.get(src.off..src.off + src.len).ok_or_else(|| anyhow!("internal: span {src:?} is out of range"))?;
        dst.copy_from_slice(part);
        Ok(())
    }

    fn fill(&mut self, dst: Span, value: f32) -> Result<()> {
        let p = self.ptr(dst)?;
        self.launch(&self.k.fill, elementwise(dst.len), &[&p, &(dst.len as i32), &value])
    }

    fn gemm(&mut self, g: &Gemm) -> Result<()> {
        self.gemm_in(self.precision, g)
    }

    fn bias_act(&mut self, x: Span, bias: Span, act: Activation) -> Result<()> {
        let (px, pb, cols) = (self.ptr(x)?, self.ptr(bias)?, bias.len);
        let rows = (x.len / cols.max(1)) as i32;
        self.launch(&self.k.bias_act, elementwise(x.len), &[&px, &pb, &rows, &(cols as i32), &act_code(act)])
    }

    fn act_grad(&mut self, dy: Span, y: Span, act: Activation) -> Result<()> {
        let (pd, py) = (self.ptr(dy)?, self.ptr(y)?);
        self.launch(&self.k.act_grad, elementwise(dy.len), &[&pd, &py, &(dy.len as i32), &act_code(act)])
    }

    fn col_sums(&mut self, x: Span, out: Span) -> Result<()> {
        let cols = out.len;
        let rows = x.len / cols.max(1);
        if self.ones.as_ref().is_none_or(|b| b.len < rows) {
            self.ones = Some(Buf::from_host(&self.stream, &vec![1.0f32; rows])?);
        }
        let ones = self.ones.as_ref().map(|b| b.ptr).ok_or_else(|| anyhow!("no ones"))?;
        let p = Product {
            m: 1,
            n: cols,
            k: rows,
            alpha: 1.0,
            a: ones,
            op_a: super::ops::Op::N,
            b: self.ptr(x)?,
            op_b: super::ops::Op::N,
            beta: 1.0,
            c: self.ptr(out)?,
        };
        // Bias gradients in f32 whatever the precision.
        blas::gemm(&self.blas, Precision::F32, &p)
    }

    fn dropout_mask(&mut self, mask: Span, first: u64, p: f32, seed: u64, stream: u64) -> Result<()> {
        let pm = self.ptr(mask)?;
        self.launch(&self.k.dropout_mask, elementwise(mask.len), &[&pm, &(mask.len as i32), &p, &seed, &stream, &first])
    }

    fn mask_rows(&mut self, x: Span, mask: Span, cols: usize, out: Span) -> Result<()> {
        let (px, pm, po) = (self.ptr(x)?, self.ptr(mask)?, self.ptr(out)?);
        let (rows, batch) = ((out.len / cols.max(1)) as i32, (mask.len / cols.max(1)) as i32);
        self.launch(&self.k.mask_rows, elementwise(out.len), &[&px, &pm, &po, &rows, &(cols as i32), &batch])
    }

    fn embed(&mut self, ids: IdSpan, table: Span, mask: Span, width: usize, out: Span) -> Result<()> {
        let (pi, pt, pm, po) = (self.id_ptr(ids)?, self.ptr(table)?, self.ptr(mask)?, self.ptr(out)?);
        let (rows, batch) = (ids.0.len as i32, (mask.len / width.max(1)) as i32);
        self.launch(&self.k.embed_forward, elementwise(out.len), &[&pi, &pt, &pm, &po, &rows, &batch, &(width as i32)])
    }

    fn embed_grad(&mut self, ids: IdSpan, grad: Span, mask: Span, width: usize, table_grad: Span) -> Result<()> {
        let (pi, pg, pm, pt) = (self.id_ptr(ids)?, self.ptr(grad)?, self.ptr(mask)?, self.ptr(table_grad)?);
        let (rows, batch) = (ids.0.len as i32, (mask.len / width.max(1)) as i32);
        self.launch(&self.k.embed_backward, elementwise(grad.len), &[&pi, &pg, &pm, &pt, &rows, &batch, &(width as i32)])
    }

    fn gru_step(&mut self, s: &GruStep) -> Result<()> {
        let hd = s.hd_next.map(|d| self.ptr(d)).transpose()?.unwrap_or(0u64);
        let (gx, gh, bu, hp, mask, gates, hn) = (
            self.ptr(s.gx)?,
            self.ptr(s.gh)?,
            self.ptr(s.bias)?,
            self.ptr(s.h_prev)?,
            self.ptr(s.mask)?,
            self.ptr(s.gates)?,
            self.ptr(s.h_next)?,
        );
        let (b, h) = (s.batch as i32, s.hidden as i32);
        let args: [&dyn Arg; 10] = [&gx, &gh, &bu, &hp, &mask, &gates, &hn, &hd, &b, &h];
        self.launch(&self.k.gru_forward_step, elementwise(s.batch * s.hidden), &args)
    }

    fn gru_step_grad(&mut self, s: &GruStepGrad) -> Result<()> {
        let (gates, gh, hp, dhs, carry, rec, mask, dgx, dgh) = (
            self.ptr(s.gates)?,
            self.ptr(s.gh)?,
            self.ptr(s.h_prev)?,
            self.ptr(s.dhs)?,
            self.ptr(s.carry)?,
            self.ptr(s.rec)?,
            self.ptr(s.mask)?,
            self.ptr(s.dgx)?,
            self.ptr(s.dgh)?,
        );
        let (b, h) = (s.batch as i32, s.hidden as i32);
        let args: [&dyn Arg; 11] = [&gates, &gh, &hp, &dhs, &carry, &rec, &mask, &dgx, &dgh, &b, &h];
        self.launch(&self.k.gru_backward_step, elementwise(s.batch * s.hidden), &args)
    }

    fn softmax_xent(&mut self, logits: Span, targets: IdSpan, weights: Option<Span>, cols: usize, scale: f32) -> Result<()> {
        let (pl, pt) = (self.ptr(logits)?, self.id_ptr(targets)?);
        let pw = weights.map(|w| self.ptr(w)).transpose()?.unwrap_or(0u64);
        let rows = logits.len / cols.max(1);
        let cfg = LaunchConfig { grid_dim: (rows.max(1) as u32, 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 2 * BLOCK * 4 };
        self.launch(&self.k.softmax_xent, cfg, &[&pl, &pt, &pw, &(rows as i32), &(cols as i32), &scale, &self.stats.ptr])
    }

    fn squared_error(&mut self, out: Span, targets: Span, weights: Option<Span>, cols: usize, scale: f32) -> Result<()> {
        let (po, pt) = (self.ptr(out)?, self.ptr(targets)?);
        let pw = weights.map(|w| self.ptr(w)).transpose()?.unwrap_or(0u64);
        let rows = (out.len / cols.max(1)) as i32;
        self.launch(&self.k.squared_error, elementwise(out.len), &[&po, &pt, &pw, &rows, &(cols as i32), &scale, &self.stats.ptr])
    }

    fn penalty(&mut self, w: Span, g: Span, l1: f32, l2: f32) -> Result<()> {
        let (pw, pg, acc) = (self.ptr(w)?, self.ptr(g)?, self.stats.at(2));
        self.launch(&self.k.penalty, elementwise(w.len), &[&pw, &pg, &(w.len as i32), &l1, &l2, &acc])
    }

    fn sum_squares(&mut self, g: Span) -> Result<()> {
        let (pg, acc) = (self.ptr(g)?, self.stats.at(3));
        self.launch(&self.k.sum_squares, elementwise(g.len), &[&pg, &(g.len as i32), &acc])
    }

    fn clear_stats(&mut self) -> Result<()> {
        // SAFETY: the stats buffer holds 4 doubles (32 bytes).
        let r = unsafe { cudarc::driver::result::memset_d8_async(self.stats.ptr, 0, 32, self.stream.cu_stream()) };
        cu(r, "memset")
    }

    fn stats(&mut self) -> Result<RawStats> {
        let v = self.download_into(&self.stats, 4)?;
        Ok(RawStats { loss: v[0], correct: v[1], penalty: v[2], grad_sq: v[3] })
    }
}

/// Training on one CUDA device: the shared graph on [`CudaOps`], and the
/// optimizer's policy applied by the `adam` / `sgd` kernels.
pub struct CudaEngine {
    ops: CudaOps,
    net: NetSpec,
    /// Settings and step count (the moments live in `m` and `v`; its own
    /// vectors are left empty).
    optimizer: Optimizer,
    p: Span,
    g: Span,
    m: Span,
    v: Span,
    mask: Option<Span>,
    ws: Option<Workspace>,
}

impl CudaEngine {
    /// Starts the engine on GPU `ordinal` with the given state.
    pub fn new(ordinal: usize, precision: Precision, params: Params, optimizer: Optimizer, masks: Option<Masks>) -> Result<Self> {
        let mut ops = CudaOps::new(ordinal, precision)?;
        let n = params.data.len();
        let p = ops.alloc(n)?;
        ops.upload(p, &params.data)?;
        ops.keep_half(p)?;
        let g = ops.alloc(n)?;
        let m = ops.alloc(n)?;
        let v = ops.alloc(n)?;
        if optimizer.m.len() == n {
            ops.upload(m, &optimizer.m)?;
        }
        if optimizer.v.len() == n {
            ops.upload(v, &optimizer.v)?;
        }
        let optimizer = Optimizer { m: Vec::new(), v: Vec::new(), ..optimizer };
        let mut engine = CudaEngine { ops, net: params.net, optimizer, p, g, m, v, mask: None, ws: None };
        if let Some(masks) = masks {
            engine.set_masks(&masks)?;
        }
        Ok(engine)
    }

    fn run(&mut self, batch: &Batch<'_>, train: Option<(&Regularization, u64)>) -> Result<Stats> {
        self.ops.refresh_half()?;
        let (reg, seed) = train.map_or((Regularization::default(), 0), |(r, s)| (r.clone(), s));
        let grads = train.map(|_| self.g);
        if let Some(g) = grads {
            self.ops.fill(g, 0.0)?;
        }
        graph::pass(&mut self.ops, &mut self.ws, &self.net, self.p, grads, batch, BatchSlice::whole(batch), &reg, seed)
    }

    /// Loss and gradients of one batch without updating anything: what the
    /// parity tests compare with the CPU engine's.
    pub fn gradients(&mut self, batch: &Batch<'_>, reg: &Regularization, mask_seed: u64) -> Result<(Stats, Params)> {
        let stats = self.run(batch, Some((reg, mask_seed)))?;
        let mut data = vec![0.0; self.g.len];
        self.ops.download(self.g, &mut data)?;
        Ok((stats, Params { net: self.net.clone(), data }))
    }
}

impl Engine for CudaEngine {
    fn step(&mut self, batch: &Batch<'_>, reg: &Regularization, mask_seed: u64) -> Result<StepResult> {
        let stats = self.run(batch, Some((reg, mask_seed)))?;
        self.ops.sum_squares(self.g)?;
        let norm = self.ops.stats()?.grad_sq.sqrt();
        if !stats.loss.is_finite() || !norm.is_finite() {
            return Ok(StepResult { stats, update: None });
        }
        let c = self.optimizer.config;
        let plan = self.optimizer.plan(norm);
        let n_i = self.p.len as i32;
        let (p, g, m, v) = (self.ops.ptr(self.p)?, self.ops.ptr(self.g)?, self.ops.ptr(self.m)?, self.ops.ptr(self.v)?);
        let mask = self.mask.map(|s| self.ops.ptr(s)).transpose()?.unwrap_or(0u64);
        match c.kind {
            OptimizerKind::Adam => {
                let args: [&dyn Arg; 13] =
                    [&p, &g, &m, &v, &mask, &n_i, &plan.lr, &c.beta1, &c.beta2, &c.eps, &plan.bc1, &plan.bc2, &plan.scale];
                self.ops.launch(&self.ops.k.adam, elementwise(self.p.len), &args)?;
            }
            OptimizerKind::Sgd => {
                let args: [&dyn Arg; 8] = [&p, &g, &m, &mask, &n_i, &plan.lr, &c.momentum, &plan.scale];
                self.ops.launch(&self.ops.k.sgd, elementwise(self.p.len), &args)?;
            }
        }
        Ok(StepResult { stats, update: Some(Update { lr: plan.lr, grad_norm: norm }) })
    }

    fn evaluate(&mut self, batch: &Batch<'_>) -> Result<Stats> {
        self.run(batch, None)
    }

    fn state(&mut self) -> Result<(Params, Optimizer)> {
        let n = self.p.len;
        let mut params = Params { net: self.net.clone(), data: vec![0.0; n] };
        self.ops.download(self.p, &mut params.data)?;
        let mut optimizer = self.optimizer.clone();
        optimizer.m = vec![0.0; n];
        self.ops.download(self.m, &mut optimizer.m)?;
        if optimizer.config.kind == OptimizerKind::Adam {
            optimizer.v = vec![0.0; n];
            self.ops.download(self.v, &mut optimizer.v)?;
        }
        Ok((params, optimizer))
    }

    fn set_masks(&mut self, masks: &Masks) -> Result<()> {
        // Full-length 0/1 mask: the tensors that are not pruned are all ones.
        let n = self.p.len;
        let mut full = Params { net: self.net.clone(), data: vec![1.0; n] };
        masks.apply(&mut full);
        let mut params = Params { net: self.net.clone(), data: vec![0.0; n] };
        self.ops.download(self.p, &mut params.data)?;
        masks.apply(&mut params);
        self.ops.upload(self.p, &params.data)?;
        let mask = match self.mask {
            Some(s) => s,
            None => self.ops.alloc(n)?,
        };
        self.ops.upload(mask, &full.data)?;
        self.mask = Some(mask);
        Ok(())
    }

    fn set_schedule_length(&mut self, total_steps: Option<u64>) {
        self.optimizer.config.total_steps = total_steps;
    }
}
