//! Where a training run's arithmetic happens: the CPU (`cpu`) or an NVIDIA
//! GPU (`cuda`, behind the `cuda` feature). An engine owns the parameters,
//! the optimizer state and the pruning masks between `new` and `state`, so a
//! GPU engine keeps them on the device and copies them back only for
//! checkpoints and pruning updates.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::cpu::{self, Batch, Regularization, ShardBuffers, Stats};
use crate::optim::{Optimizer, Update};
use crate::params::Params;
use crate::prune::Masks;

/// The device that trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
pub enum DeviceChoice {
    /// The CPU backend (matrixmultiply, multithreaded).
    #[default]
    Cpu,
    /// An NVIDIA GPU through cudarc (cuBLAS + NVRTC kernels).
    Cuda,
}

/// Storage precision of matrix-product operands on the GPU. Accumulation,
/// master weights, gate math and the optimizer stay f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
pub enum Precision {
    /// Everything in f32.
    #[default]
    F32,
    /// bfloat16 operands, f32 accumulation.
    Bf16,
    /// IEEE half operands, f32 accumulation.
    F16,
}

/// What one optimizer step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepResult {
    /// Loss and accuracy of the batch.
    pub stats: Stats,
    /// The update, or `None` when the loss or a gradient was not finite (the
    /// parameters were left as they were).
    pub update: Option<Update>,
}

/// A training device: forward, backward, clipping, update and masks.
pub trait Engine {
    /// One optimizer step on `batch` (dropout masks drawn from `mask_seed`).
    fn step(&mut self, batch: &Batch<'_>, reg: &Regularization, mask_seed: u64) -> Result<StepResult>;
    /// Loss and accuracy of the current parameters on `batch`, without dropout.
    fn evaluate(&mut self, batch: &Batch<'_>) -> Result<Stats>;
    /// The current parameters and optimizer state (copied from the device).
    fn state(&mut self) -> Result<(Params, Optimizer)>;
    /// Replaces the pruning masks and zeroes the weights they remove.
    fn set_masks(&mut self, masks: &Masks) -> Result<()>;
    /// Sets the step at which the learning-rate decay ends (see [`crate::optim::OptimizerConfig::lr_at`]).
    fn set_schedule_length(&mut self, total_steps: Option<u64>);
}

/// How the CPU engine spreads a batch over cores (the GPU engine ignores it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuParallelism {
    /// Data-parallel shards per batch (results depend on this, see [`cpu::forward_backward_sharded`]).
    pub shards: usize,
    /// Threads that compute shards at the same time (results never depend on this).
    pub workers: usize,
}

impl Default for CpuParallelism {
    /// One shard: the whole batch in one pass, its products multithreaded.
    fn default() -> Self {
        CpuParallelism { shards: 1, workers: 1 }
    }
}

/// Starts the engine for `device` with the given state.
pub fn create(
    device: DeviceChoice,
    precision: Precision,
    params: Params,
    optimizer: Optimizer,
    masks: Option<Masks>,
    parallelism: CpuParallelism,
) -> Result<Box<dyn Engine>> {
    match device {
        DeviceChoice::Cpu => {
            if precision != Precision::F32 {
                bail!("--precision {precision:?} is for --device cuda; the CPU backend trains in f32");
            }
            Ok(Box::new(CpuEngine::new(params, optimizer, masks).with_parallelism(parallelism)))
        }
        DeviceChoice::Cuda => cuda_engine(precision, params, optimizer, masks),
    }
}

#[cfg(feature = "cuda")]
fn cuda_engine(precision: Precision, params: Params, optimizer: Optimizer, masks: Option<Masks>) -> Result<Box<dyn Engine>> {
    Ok(Box::new(crate::cuda::CudaEngine::new(0, precision, params, optimizer, masks)?))
}

#[cfg(not(feature = "cuda"))]
fn cuda_engine(_: Precision, _: Params, _: Optimizer, _: Option<Masks>) -> Result<Box<dyn Engine>> {
    bail!("--device cuda: this edgegru was built without the `cuda` feature (build with `cargo build --release -p edgegru-trainer --features cuda`)")
}

/// The CPU engine: `cpu::forward_backward_sharded` and `Optimizer::apply`.
pub struct CpuEngine {
    params: Params,
    optimizer: Optimizer,
    masks: Option<Masks>,
    grads: Params,
    parallelism: CpuParallelism,
    buffers: ShardBuffers,
}

impl CpuEngine {
    /// An engine over the given state (one shard).
    pub fn new(params: Params, optimizer: Optimizer, masks: Option<Masks>) -> Self {
        let grads = Params::zeros(params.shape);
        CpuEngine { params, optimizer, masks, grads, parallelism: CpuParallelism::default(), buffers: ShardBuffers::default() }
    }

    /// The same engine with batches split as `parallelism` says.
    pub fn with_parallelism(self, parallelism: CpuParallelism) -> Self {
        CpuEngine { parallelism, ..self }
    }

    fn pass(&mut self, batch: &Batch<'_>, reg: &Regularization, mask_seed: u64, with_grads: bool) -> Stats {
        let CpuParallelism { shards, workers } = self.parallelism;
        let grads = with_grads.then_some(&mut self.grads);
        cpu::forward_backward_sharded(&self.params, batch, reg, mask_seed, grads, shards, workers, &mut self.buffers)
    }
}

impl Engine for CpuEngine {
    fn step(&mut self, batch: &Batch<'_>, reg: &Regularization, mask_seed: u64) -> Result<StepResult> {
        self.grads.data.iter_mut().for_each(|g| *g = 0.0);
        let stats = self.pass(batch, reg, mask_seed, true);
        if !stats.loss.is_finite() || !self.grads.data.iter().all(|g| g.is_finite()) {
            return Ok(StepResult { stats, update: None });
        }
        let update = self.optimizer.apply(&mut self.params, &mut self.grads);
        if let Some(m) = &self.masks {
            m.apply(&mut self.params);
        }
        Ok(StepResult { stats, update: Some(update) })
    }

    fn evaluate(&mut self, batch: &Batch<'_>) -> Result<Stats> {
        Ok(self.pass(batch, &Regularization::default(), 0, false))
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
