//! Where a training run's arithmetic happens: the CPU (`cpu`) or an NVIDIA
//! GPU (`cuda`, behind the `cuda` feature).
//!
//! The network's forward and backward pass is written once, in [`graph`],
//! over the primitives of [`ops::Ops`] (matrix products, bias and
//! activation, GRU gate steps, softmax cross-entropy, embedding gather and
//! scatter, ...); each device implements the primitives. The optimizer's
//! policy (clipping, bias correction, learning rate, masks) lives in
//! [`crate::optim`]. An engine owns the parameters, the optimizer state and
//! the pruning masks between `create` and `state`, so a GPU engine keeps them
//! on the device and copies them back only for checkpoints and pruning updates.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::optim::{Optimizer, Update};
use crate::params::Params;
use crate::prune::Masks;

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod graph;
pub mod ops;

/// The device that trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Device {
    /// The CPU (matrixmultiply, multithreaded).
    #[default]
    Cpu,
    /// An NVIDIA GPU through cudarc (cuBLAS + NVRTC kernels).
    Cuda,
}

/// Storage precision of matrix-product operands on the GPU. Accumulation,
/// master weights, gate math and the optimizer stay f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Precision {
    /// Everything in f32.
    #[default]
    F32,
    /// bfloat16 operands, f32 accumulation.
    Bf16,
    /// IEEE half operands, f32 accumulation.
    F16,
}

/// What a batch feeds in, window-major (`b * seq + t`).
#[derive(Debug, Clone, Copy)]
pub enum BatchInput<'a> {
    /// Token ids, `batch * seq`.
    Tokens(&'a [u32]),
    /// Normalized features, `batch * seq * count`.
    Features(&'a [f32]),
}

/// What a batch is scored against.
#[derive(Debug, Clone, Copy)]
pub enum BatchTarget<'a> {
    /// The next token at every step, `batch * seq`, window-major.
    NextTokens(&'a [u32]),
    /// One class per window, scored at the window's last step (`lengths[b] - 1`).
    Classes {
        /// Class of each window.
        labels: &'a [u32],
        /// Real steps of each window (the rest is padding after it).
        lengths: &'a [usize],
    },
    /// Values per window, scored at its last step (mean squared error).
    Values {
        /// `batch * outputs` targets.
        values: &'a [f32],
        /// Real steps of each window.
        lengths: &'a [usize],
    },
}

/// One batch of training windows.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// The input.
    pub input: BatchInput<'a>,
    /// The targets.
    pub target: BatchTarget<'a>,
    /// Windows in the batch.
    pub batch: usize,
    /// Steps per window.
    pub seq: usize,
}

impl Batch<'_> {
    /// Scored positions: tokens for a language model, windows otherwise.
    pub fn scored(&self) -> usize {
        match self.target {
            BatchTarget::NextTokens(_) => self.batch * self.seq,
            BatchTarget::Classes { .. } | BatchTarget::Values { .. } => self.batch,
        }
    }
}

/// Dropout and weight penalties.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Regularization {
    /// Dropout on each GRU layer's inputs (one mask per sequence, as Keras
    /// does); one value for every layer, or one per layer.
    #[serde(with = "per_layer")]
    pub dropout: Vec<f32>,
    /// Dropout on each GRU layer's recurrent state fed to `U` (one mask per sequence).
    #[serde(with = "per_layer")]
    pub recurrent_dropout: Vec<f32>,
    /// L1 penalty on the kernels: `l1 * sum |w|`.
    pub l1: f32,
    /// L2 penalty on the kernels: `l2 * sum w^2`.
    pub l2: f32,
}

impl Regularization {
    /// Input dropout of GRU layer `k`.
    pub fn dropout(&self, k: usize) -> f32 {
        self.dropout.get(k).or(self.dropout.last()).copied().unwrap_or(0.0)
    }

    /// Recurrent dropout of GRU layer `k`.
    pub fn recurrent_dropout(&self, k: usize) -> f32 {
        self.recurrent_dropout.get(k).or(self.recurrent_dropout.last()).copied().unwrap_or(0.0)
    }
}

/// Dropout rates: configurations before stacked layers stored one number.
mod per_layer {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(f32),
        Many(Vec<f32>),
    }

    pub fn serialize<S: Serializer>(v: &[f32], s: S) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(x) => vec![x],
            OneOrMany::Many(v) => v,
        })
    }
}

/// What one forward (and backward) pass measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// Mean loss per scored position (nats for cross-entropy).
    pub loss: f64,
    /// Weight penalty added to the loss.
    pub penalty: f64,
    /// Positions predicted correctly (argmax; 0 for regression).
    pub correct: usize,
    /// Positions scored.
    pub tokens: usize,
}

impl Stats {
    /// Adds `s`, weighting the mean losses by their counts.
    pub fn merge(&mut self, s: &Stats) {
        let n = self.tokens + s.tokens;
        if n > 0 {
            self.loss = (self.loss * self.tokens as f64 + s.loss * s.tokens as f64) / n as f64;
        }
        self.correct += s.correct;
        self.tokens = n;
    }
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
    /// Data-parallel shards per batch (results depend on this).
    pub shards: usize,
    /// Threads that compute shards at the same time (results never depend on this).
    pub workers: usize,
    /// Threads each shard's matrix products may use.
    pub gemm_threads: usize,
}

impl Default for CpuParallelism {
    /// One shard: the whole batch in one pass, its products on one thread.
    fn default() -> Self {
        CpuParallelism { shards: 1, workers: 1, gemm_threads: 1 }
    }
}

/// Starts the engine for `device` with the given state.
pub fn create(
    device: Device,
    precision: Precision,
    params: Params,
    optimizer: Optimizer,
    masks: Option<Masks>,
    parallelism: CpuParallelism,
) -> Result<Box<dyn Engine>> {
    match device {
        Device::Cpu => {
            if precision != Precision::F32 {
                bail!("--precision {precision:?} is for --device cuda; the CPU backend trains in f32");
            }
            Ok(Box::new(cpu::CpuEngine::new(params, optimizer, masks, parallelism)))
        }
        Device::Cuda => cuda_engine(precision, params, optimizer, masks),
    }
}

#[cfg(feature = "cuda")]
fn cuda_engine(precision: Precision, params: Params, optimizer: Optimizer, masks: Option<Masks>) -> Result<Box<dyn Engine>> {
    Ok(Box::new(cuda::CudaEngine::new(0, precision, params, optimizer, masks)?))
}

#[cfg(not(feature = "cuda"))]
fn cuda_engine(_: Precision, _: Params, _: Optimizer, _: Option<Masks>) -> Result<Box<dyn Engine>> {
    bail!("--device cuda: this edgegru was built without the `cuda` feature (build with `cargo build --release -p edgegru-trainer --features cuda`)")
}
