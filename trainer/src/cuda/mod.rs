//! The CUDA training backend (feature `cuda`): the CPU backend's batched
//! forward pass and back-propagation through time on an NVIDIA GPU, through
//! `cudarc` with dynamic loading (no CUDA toolkit at build time).
//!
//! Matrix products go to cuBLAS (f32, or bf16/f16 operands with f32
//! accumulation); the rest are fused kernels in `kernels.cu`, compiled by
//! NVRTC when the engine starts: dropout masks (the same counter-based draws
//! as the CPU), embedding gather and gradient scatter, GRU gate math forward
//! and backward, bias and relu, softmax cross-entropy, L1/L2 penalties, the
//! gradient norm, and Adam / SGD with clipping and pruning masks. Parameters,
//! gradients and optimizer moments stay on the device; the host sees them at
//! checkpoints and pruning updates, in the CPU's layout, so checkpoints from
//! either device are interchangeable.

use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use cudarc::cublas::{result as blas, sys as blas_sys, CudaBlas};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, DeviceRepr, LaunchArgs, LaunchConfig, PushKernelArg, ValidAsZeroBits,
};
use cudarc::nvrtc::Ptx;

use crate::cpu::{Batch, Regularization, Stats};
use crate::engine::{Engine, Precision, StepResult};
use crate::linalg::Op;
use crate::optim::{Optimizer, OptimizerKind, Update};
use crate::params::{Params, Shape, Tensor, KERNELS};
use crate::prune::Masks;

/// The CUDA C source of the training kernels.
pub const KERNELS_SOURCE: &str = include_str!("kernels.cu");

/// Threads per block of the element-wise kernels (`sum_squares` assumes it).
const BLOCK: u32 = 256;

/// Checks that the driver, NVRTC and cuBLAS libraries can be loaded, so that
/// a missing library is a clear error instead of a panic inside cudarc.
pub fn check_libraries() -> Result<()> {
    // SAFETY: each check only tries to dlopen the library (libloading) and
    // reports whether it loaded; no CUDA function is called.
    let driver = unsafe { cudarc::driver::sys::is_culib_present() };
    if !driver {
        bail!("--device cuda: the NVIDIA driver library (libcuda.so) is not on this machine; train with --device cpu, or install the NVIDIA driver");
    }
    if !nvrtc_available() {
        bail!(
            "--device cuda: NVRTC (libnvrtc.so.13) was not found: install the CUDA 13 toolkit, or `pip install nvidia-cuda-nvrtc` and add its lib folder to LD_LIBRARY_PATH"
        );
    }
    // SAFETY: as above.
    let cublas = unsafe { blas_sys::is_culib_present() };
    if !cublas {
        bail!("--device cuda: cuBLAS (libcublas.so.13) was not found: install the CUDA 13 toolkit, or `pip install nvidia-cublas` and add its lib folder to LD_LIBRARY_PATH");
    }
    Ok(())
}

/// Whether NVRTC (`libnvrtc.so.13`) can be loaded: all `compile_kernels` needs.
pub fn nvrtc_available() -> bool {
    // SAFETY: only tries to dlopen the library and reports whether it loaded.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// GPUs the driver reports (call after `check_libraries`).
pub fn device_count() -> Result<usize> {
    let n = CudaContext::device_count().map_err(|e| anyhow!("--device cuda: no usable CUDA GPU ({e:?})"))?;
    Ok(n.max(0) as usize)
}

/// The kernels in `kernels.cu`.
pub const KERNEL_NAMES: [&str; 14] = [
    "dropout_mask",
    "embed_forward",
    "embed_backward",
    "bias_act",
    "gru_forward_step",
    "softmax_xent",
    "relu_backward",
    "gru_backward_step",
    "penalty",
    "sum_squares",
    "adam",
    "sgd",
    "to_f16",
    "to_bf16",
];

/// What NVRTC compiles the kernels to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelTarget {
    /// PTX for NVRTC's default virtual architecture.
    Ptx,
    /// Machine code for one GPU architecture (`sm_<major><minor>`). The engine
    /// uses this: a driver cannot JIT PTX from a newer NVRTC (PyPI's NVRTC is
    /// often newer than the driver), but it loads machine code from any
    /// NVRTC of the same major version.
    Cubin {
        /// Compute capability, major.
        major: i32,
        /// Compute capability, minor.
        minor: i32,
    },
}

/// Compiles `kernels.cu` with NVRTC (no GPU needed, only the library).
pub fn compile_kernels(target: KernelTarget) -> Result<Ptx> {
    use cudarc::nvrtc::{result as nvrtc, sys as nvrtc_sys};
    let src = std::ffi::CString::new(KERNELS_SOURCE)?;
    let name = std::ffi::CString::new("edgegru_kernels.cu")?;
    let prog = cu(nvrtc::create_program(&src, Some(&name)), "NVRTC")?;
    let options: Vec<String> = match target {
        KernelTarget::Ptx => Vec::new(),
        KernelTarget::Cubin { major, minor } => vec![format!("--gpu-architecture=sm_{major}{minor}")],
    };
    // SAFETY: `prog` was just created and is destroyed only below; the
    // buffers handed to NVRTC are sized by the size NVRTC reports.
    let result = unsafe {
        match nvrtc::compile_program(prog, &options) {
            Err(e) => {
                let log = nvrtc::get_program_log(prog).map(|l| l.iter().map(|&c| c as u8 as char).collect::<String>()).unwrap_or_default();
                Err(anyhow!("NVRTC could not compile the training kernels ({e:?}):\n{}", log.trim_end_matches('\0')))
            }
            Ok(()) => match target {
                KernelTarget::Ptx => cu(nvrtc::get_ptx(prog), "reading the PTX")
                    .map(|p| Ptx::from_src(p.iter().take_while(|&&c| c != 0).map(|&c| c as u8 as char).collect::<String>())),
                KernelTarget::Cubin { .. } => {
                    let mut size = 0usize;
                    cu(nvrtc_sys::nvrtcGetCUBINSize(prog, &mut size).result(), "reading the machine code size").and_then(|()| {
                        let mut bin = vec![0u8; size];
                        cu(nvrtc_sys::nvrtcGetCUBIN(prog, bin.as_mut_ptr().cast()).result(), "reading the machine code")
                            .map(|()| Ptx::from_binary(bin))
                    })
                }
            },
        }
    };
    // SAFETY: `prog` is live and not used after this.
    let _ = unsafe { nvrtc::destroy_program(prog) };
    result
}

fn cu<T, E: std::fmt::Debug>(r: Result<T, E>, what: &str) -> Result<T> {
    r.map_err(|e| anyhow!("cuda: {what}: {e:?}"))
}

struct Kernels {
    dropout_mask: CudaFunction,
    embed_forward: CudaFunction,
    embed_backward: CudaFunction,
    bias_act: CudaFunction,
    gru_forward_step: CudaFunction,
    softmax_xent: CudaFunction,
    relu_backward: CudaFunction,
    gru_backward_step: CudaFunction,
    penalty: CudaFunction,
    sum_squares: CudaFunction,
    adam: CudaFunction,
    sgd: CudaFunction,
    to_f16: CudaFunction,
    to_bf16: CudaFunction,
}

/// A device buffer and its raw address (the stream is the only user, so the
/// address is all the kernels and cuBLAS need).
struct Buf<T> {
    slice: CudaSlice<T>,
    ptr: u64,
}

impl<T: DeviceRepr + ValidAsZeroBits> Buf<T> {
    fn zeros(stream: &Arc<CudaStream>, n: usize) -> Result<Self> {
        let slice = cu(stream.alloc_zeros::<T>(n.max(1)), "allocating device memory")?;
        let ptr = {
            let (ptr, _sync) = slice.device_ptr(stream);
            ptr
        };
        Ok(Buf { slice, ptr })
    }

    fn from_host(stream: &Arc<CudaStream>, data: &[T]) -> Result<Self> {
        let mut b = Buf::zeros(stream, data.len())?;
        if !data.is_empty() {
            cu(stream.memcpy_htod(data, &mut b.slice), "copying to the device")?;
        }
        Ok(b)
    }

    /// Address of element `i`.
    fn at(&self, i: usize) -> u64 {
        self.ptr + (i * std::mem::size_of::<T>()) as u64
    }
}

/// Activation buffers for batches of up to `rows` rows and `batch` windows.
struct Workspace {
    rows: usize,
    batch: usize,
    ids: Buf<u32>,
    targets: Buf<u32>,
    mask_x: Buf<f32>,
    mask_h: Buf<f32>,
    xe: Buf<f32>,
    gx: Buf<f32>,
    gh: Buf<f32>,
    gates: Buf<f32>,
    h: Buf<f32>,
    hd: Buf<f32>,
    d: Buf<f32>,
    logits: Buf<f32>,
    dd: Buf<f32>,
    dhs: Buf<f32>,
    dgx: Buf<f32>,
    dgh: Buf<f32>,
    carry: Buf<f32>,
    rec: Buf<f32>,
    dxe: Buf<f32>,
    /// `rows` ones: bias gradients are `ones^T X` products.
    ones: Buf<f32>,
    /// Reduced-precision copies of the two operands of a product.
    half_a: Buf<u16>,
    half_b: Buf<u16>,
}

impl Workspace {
    fn new(stream: &Arc<CudaStream>, s: Shape, rows: usize, batch: usize, half: bool) -> Result<Self> {
        let (e, h, dn, v) = (s.emb as usize, s.hidden as usize, s.dense as usize, s.vocab as usize);
        let z = |n: usize| Buf::<f32>::zeros(stream, n);
        let biggest = [rows * 3 * h, rows * v, rows * dn, rows * e, 3 * h * h.max(e), v * dn, dn * h].into_iter().max().unwrap_or(1);
        let half_len = if half { biggest } else { 1 };
        Ok(Workspace {
            rows,
            batch,
            ids: Buf::zeros(stream, rows)?,
            targets: Buf::zeros(stream, rows)?,
            mask_x: z(batch * e)?,
            mask_h: z(batch * h)?,
            xe: z(rows * e)?,
            gx: z(rows * 3 * h)?,
            gh: z(rows * 3 * h)?,
            gates: z(rows * 3 * h)?,
            h: z(rows * h + batch * h)?,
            hd: z(rows * h)?,
            d: z(rows * dn)?,
            logits: z(rows * v)?,
            dd: z(rows * dn)?,
            dhs: z(rows * h)?,
            dgx: z(rows * 3 * h)?,
            dgh: z(rows * 3 * h)?,
            carry: z(batch * h)?,
            rec: z(batch * h)?,
            dxe: z(rows * e)?,
            ones: Buf::from_host(stream, &vec![1.0f32; rows])?,
            half_a: Buf::zeros(stream, half_len)?,
            half_b: Buf::zeros(stream, half_len)?,
        })
    }
}

/// A matrix-product operand: an f32 buffer address, and its reduced-precision
/// copy when one is kept (the parameters).
#[derive(Clone, Copy)]
struct Operand {
    f32: u64,
    half: Option<u64>,
}

/// A kernel argument: a scalar or a device address, pushed by value.
trait Arg {
    fn push<'a>(&'a self, b: &mut LaunchArgs<'a>);
}

impl<T: DeviceRepr> Arg for T {
    fn push<'a>(&'a self, b: &mut LaunchArgs<'a>) {
        b.arg(self);
    }
}

fn act(ptr: u64) -> Operand {
    Operand { f32: ptr, half: None }
}

/// Training on one CUDA device.
pub struct CudaEngine {
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    k: Kernels,
    precision: Precision,
    /// Layer sizes (the values live in `p`).
    shape: Shape,
    /// Settings and step count (the moments live in `m` and `v`; its own
    /// vectors are left empty).
    optimizer: Optimizer,
    p: Buf<f32>,
    g: Buf<f32>,
    m: Buf<f32>,
    v: Buf<f32>,
    mask: Option<Buf<f32>>,
    p_half: Option<Buf<u16>>,
    /// loss sum, correct count, penalty, squared gradient norm.
    stats: Buf<f64>,
    /// Global gradient norm of the last backward pass.
    last_norm: f64,
    /// The workspace's reduced-precision operand buffers (a, b).
    half_scratch: (u64, u64),
    ws: Option<Workspace>,
}

impl CudaEngine {
    /// Parameter count.
    fn len(&self) -> usize {
        Params::count(&self.shape)
    }

    /// Starts the engine on GPU `ordinal` with the given state.
    pub fn new(ordinal: usize, precision: Precision, params: Params, optimizer: Optimizer, masks: Option<Masks>) -> Result<Self> {
        check_libraries()?;
        let count = device_count()?;
        if count <= ordinal {
            bail!("--device cuda: no CUDA GPU found (the driver reports {count} devices)");
        }
        let ctx = cu(CudaContext::new(ordinal), "creating the context")?;
        // SAFETY: the engine uses a single stream, so the cross-stream event
        // tracking that this turns off has nothing to order.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.default_stream();
        let blas = cu(CudaBlas::new(stream.clone()), "creating the cuBLAS handle")?;
        let (major, minor) = cu(ctx.compute_capability(), "reading the compute capability")?;
        let module = cu(ctx.load_module(compile_kernels(KernelTarget::Cubin { major, minor })?), "loading the kernels")?;
        let f = |name: &str| cu(module.load_function(name), name);
        let k = Kernels {
            dropout_mask: f("dropout_mask")?,
            embed_forward: f("embed_forward")?,
            embed_backward: f("embed_backward")?,
            bias_act: f("bias_act")?,
            gru_forward_step: f("gru_forward_step")?,
            softmax_xent: f("softmax_xent")?,
            relu_backward: f("relu_backward")?,
            gru_backward_step: f("gru_backward_step")?,
            penalty: f("penalty")?,
            sum_squares: f("sum_squares")?,
            adam: f("adam")?,
            sgd: f("sgd")?,
            to_f16: f("to_f16")?,
            to_bf16: f("to_bf16")?,
        };
        let n = params.data.len();
        let p = Buf::from_host(&stream, &params.data)?;
        let g = Buf::zeros(&stream, n)?;
        let m = if optimizer.m.len() == n { Buf::from_host(&stream, &optimizer.m)? } else { Buf::zeros(&stream, n)? };
        let v = if optimizer.v.len() == n { Buf::from_host(&stream, &optimizer.v)? } else { Buf::zeros(&stream, n)? };
        let p_half = if precision == Precision::F32 { None } else { Some(Buf::zeros(&stream, n)?) };
        let stats = Buf::zeros(&stream, 4)?;
        let optimizer = Optimizer { m: Vec::new(), v: Vec::new(), ..optimizer };
        let mut engine = CudaEngine {
            stream,
            blas,
            k,
            precision,
            shape: params.shape,
            optimizer,
            p,
            g,
            m,
            v,
            mask: None,
            p_half,
            stats,
            last_norm: 0.0,
            half_scratch: (0, 0),
            ws: None,
        };
        if let Some(masks) = masks {
            engine.set_masks(&masks)?;
        }
        Ok(engine)
    }

    fn launch<'a>(&'a self, f: &'a CudaFunction, cfg: LaunchConfig, args: &[&'a dyn Arg]) -> Result<()> {
        let mut b = self.stream.launch_builder(f);
        for a in args {
            a.push(&mut b);
        }
        // SAFETY: every pointer argument addresses a live buffer of this
        // engine sized for the counts passed beside it (the workspace is
        // grown before a batch uses it), and the argument list matches the
        // kernel's C signature in kernels.cu in order and type.
        cu(unsafe { b.launch(cfg) }, "launching a kernel")?;
        Ok(())
    }

    fn elementwise(n: usize) -> LaunchConfig {
        LaunchConfig { grid_dim: ((n as u32).div_ceil(BLOCK).max(1), 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 }
    }

    fn tensor(&self, t: Tensor) -> Operand {
        let start = Params::range(&self.shape, t).start;
        Operand { f32: self.p.at(start), half: self.p_half.as_ref().map(|b| b.at(start)) }
    }

    fn grad(&self, t: Tensor) -> u64 {
        self.g.at(Params::range(&self.shape, t).start)
    }

    /// The reduced-precision copy of `op` (`len` elements): the one kept, or
    /// a conversion into `scratch`.
    fn half_of(&self, op: Operand, scratch: u64, len: usize) -> Result<u64> {
        match op.half {
            Some(p) => Ok(p),
            None => {
                self.convert(op.f32, scratch, len)?;
                Ok(scratch)
            }
        }
    }

    fn convert(&self, src: u64, dst: u64, n: usize) -> Result<()> {
        let f = if self.precision == Precision::Bf16 { &self.k.to_bf16 } else { &self.k.to_f16 };
        self.launch(f, Self::elementwise(n), &[&src, &dst, &(n as i32)])
    }

    /// `C = alpha op(A) op(B) + beta C` on row-major buffers (the CPU's
    /// `linalg::gemm`), as the column-major product `C^T = op(B)^T op(A)^T`.
    #[allow(clippy::too_many_arguments)]
    fn gemm(&self, m: usize, n: usize, k: usize, alpha: f32, a: Operand, op_a: Op, b: Operand, op_b: Op, beta: f32, c: u64) -> Result<()> {
        self.gemm_in(self.precision, m, n, k, alpha, a, op_a, b, op_b, beta, c)
    }

    /// `gemm` with the operand precision given.
    #[allow(clippy::too_many_arguments)]
    fn gemm_in(
        &self,
        precision: Precision,
        m: usize,
        n: usize,
        k: usize,
        alpha: f32,
        a: Operand,
        op_a: Op,
        b: Operand,
        op_b: Op,
        beta: f32,
        c: u64,
    ) -> Result<()> {
        use blas_sys::cublasOperation_t::{CUBLAS_OP_N, CUBLAS_OP_T};
        if m == 0 || n == 0 {
            return Ok(());
        }
        let (transa, lda) = match op_b {
            Op::N => (CUBLAS_OP_N, n),
            Op::T => (CUBLAS_OP_T, k),
        };
        let (transb, ldb) = match op_a {
            Op::N => (CUBLAS_OP_N, k),
            Op::T => (CUBLAS_OP_T, m),
        };
        let (mi, ni, ki) = (n as i32, m as i32, k as i32);
        let handle = *self.blas.handle();
        if precision == Precision::F32 {
            // SAFETY: `a`, `b` and `c` address device buffers of at least
            // m*k, k*n and m*n floats (the callers size them from the model
            // shape and batch), and the leading dimensions follow the stored
            // row-major shapes.
            let r = unsafe {
                blas::sgemm(
                    handle,
                    transa,
                    transb,
                    mi,
                    ni,
                    ki,
                    &alpha,
                    b.f32 as *const f32,
                    lda as i32,
                    a.f32 as *const f32,
                    ldb as i32,
                    &beta,
                    c as *mut f32,
                    n as i32,
                )
            };
            return cu(r, "sgemm");
        }
        let (scratch_a, scratch_b) = self.half_scratch;
        let a_half = self.half_of(a, scratch_a, m * k)?;
        let b_half = self.half_of(b, scratch_b, k * n)?;
        let dtype =
            if self.precision == Precision::Bf16 { blas_sys::cudaDataType::CUDA_R_16BF } else { blas_sys::cudaDataType::CUDA_R_16F };
        // SAFETY: as for sgemm; the half copies hold as many elements as
        // their f32 sources, and alpha/beta are f32 as CUBLAS_COMPUTE_32F
        // requires.
        let r = unsafe {
            blas::gemm_ex(
                handle,
                transa,
                transb,
                mi,
                ni,
                ki,
                &alpha as *const f32 as *const _,
                b_half as *const _,
                dtype,
                lda as i32,
                a_half as *const _,
                dtype,
                ldb as i32,
                &beta as *const f32 as *const _,
                c as *mut _,
                blas_sys::cudaDataType::CUDA_R_32F,
                n as i32,
                blas_sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
                blas_sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        };
        cu(r, "gemm_ex")
    }

    fn ensure_workspace(&mut self, rows: usize, batch: usize) -> Result<()> {
        if self.ws.as_ref().is_some_and(|w| w.rows >= rows && w.batch >= batch) {
            return Ok(());
        }
        let (r, b) = self.ws.as_ref().map_or((rows, batch), |w| (w.rows.max(rows), w.batch.max(batch)));
        self.ws = None;
        let ws = Workspace::new(&self.stream, self.shape, r, b, self.precision != Precision::F32)?;
        self.half_scratch = (ws.half_a.ptr, ws.half_b.ptr);
        self.ws = Some(ws);
        Ok(())
    }

    fn zero(&self, ptr: u64, n: usize) -> Result<()> {
        // SAFETY: `ptr` addresses at least `n` floats of a live buffer.
        let r = unsafe { cudarc::driver::result::memset_d8_async(ptr, 0, n * 4, self.stream.cu_stream()) };
        cu(r, "memset")
    }

    fn read_stats(&self) -> Result<[f64; 4]> {
        let v = self.download(&self.stats.slice, 4)?;
        Ok([v[0], v[1], v[2], v[3]])
    }

    fn download<T: DeviceRepr>(&self, slice: &CudaSlice<T>, n: usize) -> Result<Vec<T>> {
        let mut v = cu(self.stream.clone_dtoh(slice), "copying from the device")?;
        cu(self.stream.synchronize(), "waiting for the device")?;
        v.truncate(n);
        Ok(v)
    }

    /// Loss and gradients of one batch without updating anything: what the
    /// parity tests compare with `cpu::forward_backward`.
    pub fn gradients(&mut self, batch: &Batch<'_>, reg: &Regularization, mask_seed: u64) -> Result<(Stats, Params)> {
        let stats = self.run(batch, Some((reg, mask_seed)))?;
        let data = self.download(&self.g.slice, self.len())?;
        Ok((stats, Params { shape: self.shape, data }))
    }

    /// Forward pass (and, with `reg`, the backward pass into `g`).
    fn run(&mut self, batch: &Batch<'_>, reg: Option<(&Regularization, u64)>) -> Result<Stats> {
        let s = self.shape;
        let (e, h, dn, v) = (s.emb as usize, s.hidden as usize, s.dense as usize, s.vocab as usize);
        let (bsz, seq) = (batch.batch, batch.seq);
        let rows = bsz * seq;
        if batch.inputs.len() != rows || batch.targets.len() != rows {
            bail!("cuda: batch of {} inputs for {bsz} windows of {seq}", batch.inputs.len());
        }
        if let Some(&bad) = batch.inputs.iter().chain(batch.targets).find(|&&t| t as usize >= v) {
            bail!("cuda: token id {bad} outside the vocabulary of {v}");
        }
        self.ensure_workspace(rows, bsz)?;
        if let Some(ph) = &self.p_half {
            self.convert(self.p.ptr, ph.ptr, self.len())?;
        }
        let ws = self.ws.take().ok_or_else(|| anyhow!("cuda: no workspace"))?;
        let r = self.run_with(&ws, batch, reg, (e, h, dn, v));
        self.ws = Some(ws);
        r
    }

    fn run_with(
        &mut self,
        ws: &Workspace,
        batch: &Batch<'_>,
        reg: Option<(&Regularization, u64)>,
        dims: (usize, usize, usize, usize),
    ) -> Result<Stats> {
        let (e, h, dn, v) = dims;
        let (bsz, seq) = (batch.batch, batch.seq);
        let rows = bsz * seq;
        // Time-major ids and targets.
        let mut ids = vec![0u32; rows];
        let mut targets = vec![0u32; rows];
        for t in 0..seq {
            for b in 0..bsz {
                ids[t * bsz + b] = batch.inputs[b * seq + t];
                targets[t * bsz + b] = batch.targets[b * seq + t];
            }
        }
        // SAFETY: the workspace's id buffers hold at least `rows` entries.
        unsafe {
            cu(cudarc::driver::result::memcpy_htod_async(ws.ids.ptr, &ids, self.stream.cu_stream()), "copying ids")?;
            cu(cudarc::driver::result::memcpy_htod_async(ws.targets.ptr, &targets, self.stream.cu_stream()), "copying targets")?;
        }
        let (p_x, p_h, seed) = match reg {
            Some((r, seed)) => (r.dropout, r.recurrent_dropout, seed),
            None => (0.0, 0.0, 0),
        };
        let k = &self.k;
        let (n_x, n_h) = ((bsz * e) as i32, (bsz * h) as i32);
        self.launch(&k.dropout_mask, Self::elementwise(bsz * e), &[&ws.mask_x.ptr, &n_x, &p_x, &seed, &0u64])?;
        self.launch(&k.dropout_mask, Self::elementwise(bsz * h), &[&ws.mask_h.ptr, &n_h, &p_h, &seed, &1u64])?;
        let (rows_i, bsz_i, e_i, h_i, dn_i, v_i) = (rows as i32, bsz as i32, e as i32, h as i32, dn as i32, v as i32);
        let emb = self.tensor(Tensor::Embedding).f32;
        self.launch(
            &k.embed_forward,
            Self::elementwise(rows * e),
            &[&ws.ids.ptr, &emb, &ws.mask_x.ptr, &ws.xe.ptr, &rows_i, &bsz_i, &e_i],
        )?;

        // Input projection of every step, then the recurrence.
        self.gemm(rows, 3 * h, e, 1.0, act(ws.xe.ptr), Op::N, self.tensor(Tensor::GruInput), Op::T, 0.0, ws.gx.ptr)?;
        let (bi, bu) = (self.tensor(Tensor::GruInputBias).f32, self.tensor(Tensor::GruRecurrentBias).f32);
        let (h3, zero_i) = ((3 * h) as i32, 0i32);
        self.launch(&k.bias_act, Self::elementwise(rows * 3 * h), &[&ws.gx.ptr, &bi, &rows_i, &h3, &zero_i])?;
        self.zero(ws.h.ptr, bsz * h)?;
        self.zero(ws.hd.ptr, bsz * h)?;
        let u = self.tensor(Tensor::GruRecurrent);
        for t in 0..seq {
            let (o1, o3) = (t * bsz * h, t * bsz * 3 * h);
            self.gemm(bsz, 3 * h, h, 1.0, act(ws.hd.at(o1)), Op::N, u, Op::T, 0.0, ws.gh.at(o3))?;
            let hd_next = if t + 1 < seq { ws.hd.at(o1 + bsz * h) } else { 0u64 };
            let (gx_t, gh_t, hp, gates_t, hn) = (ws.gx.at(o3), ws.gh.at(o3), ws.h.at(o1), ws.gates.at(o3), ws.h.at(o1 + bsz * h));
            let args: [&dyn Arg; 10] = [&gx_t, &gh_t, &bu, &hp, &ws.mask_h.ptr, &gates_t, &hn, &hd_next, &bsz_i, &h_i];
            self.launch(&k.gru_forward_step, Self::elementwise(bsz * h), &args)?;
        }
        let hs = ws.h.at(bsz * h);

        // Dense(relu) and the output layer over all rows.
        self.gemm(rows, dn, h, 1.0, act(hs), Op::N, self.tensor(Tensor::Dense), Op::T, 0.0, ws.d.ptr)?;
        let bd = self.tensor(Tensor::DenseBias).f32;
        self.launch(&k.bias_act, Self::elementwise(rows * dn), &[&ws.d.ptr, &bd, &rows_i, &dn_i, &1i32])?;
        self.gemm(rows, v, dn, 1.0, act(ws.d.ptr), Op::N, self.tensor(Tensor::Output), Op::T, 0.0, ws.logits.ptr)?;
        let bo = self.tensor(Tensor::OutputBias).f32;
        self.launch(&k.bias_act, Self::elementwise(rows * v), &[&ws.logits.ptr, &bo, &rows_i, &v_i, &zero_i])?;
        self.zero(self.stats.ptr, 8)?;
        let inv_n = 1.0f32 / rows as f32;
        let softmax_cfg = LaunchConfig { grid_dim: (rows as u32, 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 2 * BLOCK * 4 };
        self.launch(&k.softmax_xent, softmax_cfg, &[&ws.logits.ptr, &ws.targets.ptr, &rows_i, &v_i, &inv_n, &self.stats.ptr])?;

        let Some((reg, _)) = reg else {
            let st = self.read_stats()?;
            return Ok(Stats { loss: st[0] / rows as f64, penalty: 0.0, correct: st[1] as usize, tokens: rows });
        };
        self.backward(ws, reg, dims, bsz, seq)?;
        let st = self.read_stats()?;
        self.last_norm = st[3].sqrt();
        Ok(Stats { loss: st[0] / rows as f64, penalty: st[2], correct: st[1] as usize, tokens: rows })
    }

    fn backward(&mut self, ws: &Workspace, reg: &Regularization, dims: (usize, usize, usize, usize), bsz: usize, seq: usize) -> Result<()> {
        let (e, h, dn, v) = dims;
        let rows = bsz * seq;
        let k = &self.k;
        let (rows_i, bsz_i, e_i, h_i) = (rows as i32, bsz as i32, e as i32, h as i32);
        let n_all = self.len();
        self.zero(self.g.ptr, n_all)?;
        let hs = ws.h.at(bsz * h);
        // Bias gradients: out += ones^T X, in f32 whatever the precision.
        let col_sums = |x: u64, out: u64, cols: usize| -> Result<()> {
            self.gemm_in(Precision::F32, 1, cols, rows, 1.0, act(ws.ones.ptr), Op::N, act(x), Op::N, 1.0, out)
        };

        // Output layer.
        self.gemm(v, dn, rows, 1.0, act(ws.logits.ptr), Op::T, act(ws.d.ptr), Op::N, 1.0, self.grad(Tensor::Output))?;
        col_sums(ws.logits.ptr, self.grad(Tensor::OutputBias), v)?;
        self.gemm(rows, dn, v, 1.0, act(ws.logits.ptr), Op::N, self.tensor(Tensor::Output), Op::N, 0.0, ws.dd.ptr)?;
        let n_d = (rows * dn) as i32;
        self.launch(&k.relu_backward, Self::elementwise(rows * dn), &[&ws.dd.ptr, &ws.d.ptr, &n_d])?;

        // Dense layer.
        self.gemm(dn, h, rows, 1.0, act(ws.dd.ptr), Op::T, act(hs), Op::N, 1.0, self.grad(Tensor::Dense))?;
        col_sums(ws.dd.ptr, self.grad(Tensor::DenseBias), dn)?;
        self.gemm(rows, h, dn, 1.0, act(ws.dd.ptr), Op::N, self.tensor(Tensor::Dense), Op::N, 0.0, ws.dhs.ptr)?;

        // Back-propagation through time.
        self.zero(ws.carry.ptr, bsz * h)?;
        self.zero(ws.rec.ptr, bsz * h)?;
        let u = self.tensor(Tensor::GruRecurrent);
        for t in (0..seq).rev() {
            let (o1, o3) = (t * bsz * h, t * bsz * 3 * h);
            let (gates_t, gh_t, hp, dhs_t, dgx_t, dgh_t) =
                (ws.gates.at(o3), ws.gh.at(o3), ws.h.at(o1), ws.dhs.at(o1), ws.dgx.at(o3), ws.dgh.at(o3));
            let args: [&dyn Arg; 11] =
                [&gates_t, &gh_t, &hp, &dhs_t, &ws.carry.ptr, &ws.rec.ptr, &ws.mask_h.ptr, &dgx_t, &dgh_t, &bsz_i, &h_i];
            self.launch(&k.gru_backward_step, Self::elementwise(bsz * h), &args)?;
            if t > 0 {
                self.gemm(bsz, h, 3 * h, 1.0, act(dgh_t), Op::N, u, Op::N, 0.0, ws.rec.ptr)?;
            }
        }
        self.gemm(3 * h, h, rows, 1.0, act(ws.dgh.ptr), Op::T, act(ws.hd.ptr), Op::N, 1.0, self.grad(Tensor::GruRecurrent))?;
        col_sums(ws.dgh.ptr, self.grad(Tensor::GruRecurrentBias), 3 * h)?;
        self.gemm(3 * h, e, rows, 1.0, act(ws.dgx.ptr), Op::T, act(ws.xe.ptr), Op::N, 1.0, self.grad(Tensor::GruInput))?;
        col_sums(ws.dgx.ptr, self.grad(Tensor::GruInputBias), 3 * h)?;

        // Embedding: scatter the input gradient through the dropout mask.
        self.gemm(rows, e, 3 * h, 1.0, act(ws.dgx.ptr), Op::N, self.tensor(Tensor::GruInput), Op::N, 0.0, ws.dxe.ptr)?;
        let demb = self.grad(Tensor::Embedding);
        self.launch(
            &k.embed_backward,
            Self::elementwise(rows * e),
            &[&ws.ids.ptr, &ws.dxe.ptr, &ws.mask_x.ptr, &demb, &rows_i, &bsz_i, &e_i],
        )?;

        // Penalties, then the global norm of the whole gradient.
        let penalty_acc = self.stats.at(2);
        if reg.l1 != 0.0 || reg.l2 != 0.0 {
            for t in KERNELS {
                let n = Params::range(&self.shape, t).len();
                let (w, g, n_i) = (self.tensor(t).f32, self.grad(t), n as i32);
                self.launch(&k.penalty, Self::elementwise(n), &[&w, &g, &n_i, &reg.l1, &reg.l2, &penalty_acc])?;
            }
        }
        let (n_i, norm_acc) = (n_all as i32, self.stats.at(3));
        self.launch(&k.sum_squares, Self::elementwise(n_all), &[&self.g.ptr, &n_i, &norm_acc])
    }
}

impl Engine for CudaEngine {
    fn step(&mut self, batch: &Batch<'_>, reg: &Regularization, mask_seed: u64) -> Result<StepResult> {
        let stats = self.run(batch, Some((reg, mask_seed)))?;
        let norm = self.last_norm;
        if !stats.loss.is_finite() || !norm.is_finite() {
            return Ok(StepResult { stats, update: None });
        }
        let c = self.optimizer.config;
        let scale = if c.clip > 0.0 && norm > c.clip as f64 { (c.clip as f64 / norm) as f32 } else { 1.0 };
        let lr = c.lr_at(self.optimizer.step);
        self.optimizer.step += 1;
        let n = self.len();
        let n_i = n as i32;
        let mask = self.mask.as_ref().map_or(0u64, |m| m.ptr);
        match c.kind {
            OptimizerKind::Adam => {
                let t = self.optimizer.step as i32;
                let (bc1, bc2) = (1.0 - c.beta1.powi(t), 1.0 - c.beta2.powi(t));
                let args: [&dyn Arg; 13] =
                    [&self.p.ptr, &self.g.ptr, &self.m.ptr, &self.v.ptr, &mask, &n_i, &lr, &c.beta1, &c.beta2, &c.eps, &bc1, &bc2, &scale];
                self.launch(&self.k.adam, Self::elementwise(n), &args)?;
            }
            OptimizerKind::Sgd => {
                let args: [&dyn Arg; 8] = [&self.p.ptr, &self.g.ptr, &self.m.ptr, &mask, &n_i, &lr, &c.momentum, &scale];
                self.launch(&self.k.sgd, Self::elementwise(n), &args)?;
            }
        }
        Ok(StepResult { stats, update: Some(Update { lr, grad_norm: norm }) })
    }

    fn evaluate(&mut self, batch: &Batch<'_>) -> Result<Stats> {
        self.run(batch, None)
    }

    fn state(&mut self) -> Result<(Params, Optimizer)> {
        let n = self.len();
        let params = Params { shape: self.shape, data: self.download(&self.p.slice, n)? };
        let mut optimizer = self.optimizer.clone();
        optimizer.m = self.download(&self.m.slice, n)?;
        if optimizer.config.kind == OptimizerKind::Adam {
            optimizer.v = self.download(&self.v.slice, n)?;
        }
        Ok((params, optimizer))
    }

    fn set_masks(&mut self, masks: &Masks) -> Result<()> {
        // Full-length 0/1 mask: the non-prunable tensors are all ones.
        let mut full = Params { shape: self.shape, data: vec![1.0; self.len()] };
        masks.apply(&mut full);
        let mut params = Params { shape: self.shape, data: self.download(&self.p.slice, self.len())? };
        masks.apply(&mut params);
        cu(self.stream.memcpy_htod(&params.data, &mut self.p.slice), "writing the parameters")?;
        self.mask = Some(Buf::from_host(&self.stream, &full.data)?);
        Ok(())
    }

    fn set_schedule_length(&mut self, total_steps: Option<u64>) {
        self.optimizer.config.total_steps = total_steps;
    }
}
