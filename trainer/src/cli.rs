//! The `edgegru` command line: argument definitions and dispatch.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::checkpoint::Checkpoint;
use crate::commands::backend::Backend;
use crate::commands::export::ExportFormat;
use crate::commands::pipeline::{Budget, PipelineConfig, Preset};
use crate::commands::{self, generate::GenerateOptions};
use crate::cpu::Regularization;
use crate::data::WindowOffsets;
use crate::engine::{DeviceChoice, Precision};
use crate::onnx::OnnxWeights;
use crate::optim::{Decay, OptimizerConfig, OptimizerKind};
use crate::params::{EmbeddingInit, LayerInit};
use crate::prune::{PruneConfig, PruneShape};
use crate::train::{TokenizerChoice, TrainConfig};
use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use edgegru_runtime::writer::WeightKind;
use edgegru_runtime::SamplingParams;

/// Train, compress, export and run GRU text models for edge devices.
#[derive(Parser)]
#[command(name = "edgegru", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where a model comes from: a training checkpoint or an `.egru` file.
#[derive(Args)]
#[group(required = false, multiple = false)]
struct ModelSource {
    /// A training run folder (or its checkpoint file); run as f32.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// An .egru model file.
    #[arg(long)]
    model: Option<PathBuf>,
}

impl ModelSource {
    fn bytes(&self) -> Result<Vec<u8>> {
        match (&self.checkpoint, &self.model) {
            (Some(dir), _) => {
                let ck = Checkpoint::load(dir)?;
                commands::export::to_egru(&ck, &commands::export::options(WeightKind::F32, false, false), "checkpoint")
            }
            (None, Some(file)) => commands::read_file(file),
            (None, None) => bail!("give --checkpoint DIR or --model FILE"),
        }
    }

    /// The model's bytes, or the built-in default model when none is named.
    fn bytes_or_default(&self) -> Result<Vec<u8>> {
        if self.checkpoint.is_none() && self.model.is_none() {
            return Ok(crate::DEFAULT_MODEL.to_vec());
        }
        self.bytes()
    }
}

/// Weight encodings for `--weights`.
#[derive(Clone, Copy, ValueEnum)]
enum Weights {
    F32,
    F16,
    Int8,
}

/// The engine that runs the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    /// edgegru's runtime (an .egru file).
    Native,
    /// tract (an ONNX step graph from `export --format onnx`).
    Tract,
    /// ONNX Runtime (an ONNX step graph; its library from ORT_DYLIB_PATH or ./.venv's onnxruntime wheel).
    Ort,
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Native => Backend::Native,
            BackendArg::Tract => Backend::Tract,
            BackendArg::Ort => Backend::Ort,
        }
    }
}

/// File format of `export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// The edgegru model file.
    Egru,
    /// ONNX: one token and the state in, logits and the new state out.
    Onnx,
}

/// How an int8 model computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum NumericsArg {
    /// int8 products, f32 gates and biases (the default).
    Hybrid,
    /// Integer only, for cores without an FPU (Cortex-M0): int16 state, fixed-point gates.
    Int,
}

#[derive(Subcommand)]
enum Command {
    /// Train the model on a corpus (or continue a run with --resume).
    #[command(
        after_help = "Examples:\n  edgegru train --corpus /usr/share/games/fortunes --out runs/a --minutes 20\n  edgegru train --corpus notes.txt --out runs/w --tokenizer word --emb 128 --seq-len 32 --epochs 5\n  edgegru train --resume runs/a --minutes 40"
    )]
    Train(Box<TrainArgs>),
    /// Fine-tune a trained checkpoint while pruning it gradually (8x4 blocks).
    #[command(
        after_help = "Example:\n  edgegru prune --checkpoint runs/a --out runs/a-sparse --steps 1500 --prune-to 0.75 --keep-diagonal"
    )]
    Prune {
        /// The trained run folder (or checkpoint file).
        #[arg(long)]
        checkpoint: PathBuf,
        /// New run folder for the pruned model.
        #[arg(long)]
        out: PathBuf,
        /// Fine-tuning steps (added to the checkpoint's).
        #[arg(long)]
        steps: u64,
        /// Constant learning rate of the fine-tuning (default: half the run's peak, at least its --min-lr).
        #[arg(long)]
        lr: Option<f32>,
        #[command(flatten)]
        prune: PruneArgs,
    },
    /// Held-out loss, perplexity, accuracy, macro precision/recall/F1.
    #[command(
        after_help = "Examples:\n  edgegru eval --checkpoint runs/a --corpus /usr/share/games/fortunes\n  edgegru eval --model m.egru --corpus /usr/share/games/fortunes --json"
    )]
    Eval {
        #[command(flatten)]
        source: ModelSource,
        /// Corpus file or folder; its last --val-split is evaluated.
        #[arg(long)]
        corpus: PathBuf,
        /// Fraction of the corpus (its end) that was held out.
        #[arg(long, default_value_t = 0.1)]
        val_split: f64,
        /// Replace invalid UTF-8 instead of refusing the corpus.
        #[arg(long)]
        lossy: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Engine that runs the model (tract and ort take an ONNX file).
        #[arg(long, value_enum, default_value = "native")]
        backend: BackendArg,
    },
    /// Write a checkpoint as an .egru model file.
    #[command(
        after_help = "Examples:\n  edgegru export --checkpoint runs/a --weights int8 --out a.egru\n  edgegru export --checkpoint runs/a --weights f32 --format egru --out a-f32.egru\n  edgegru export --checkpoint runs/t --weights int8 --numerics int --out t.egru\n  edgegru export --checkpoint runs/a --weights int8 --format onnx --out a-qdq.onnx"
    )]
    Export {
        /// Training run folder or checkpoint file.
        #[arg(long)]
        checkpoint: PathBuf,
        /// Weight encoding.
        #[arg(long, value_enum, default_value = "int8")]
        weights: Weights,
        /// Store int8 matrices as 8x4 block-sparse (blocks that are all zero are dropped).
        #[arg(long)]
        sparse: bool,
        /// Arithmetic of an int8 model.
        #[arg(long, value_enum, default_value = "hybrid")]
        numerics: NumericsArg,
        /// Output format: an .egru file, or the ONNX step graph (float, or int8 weights as QDQ).
        #[arg(long, value_enum, default_value = "egru")]
        format: Format,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Generate text from a prompt, token by token (without --model: the built-in fortunes-char model).
    #[command(
        after_help = "Examples:\n  edgegru generate --prompt \"The meaning of life is\"\n  edgegru generate --model m.egru --prompt \"The \" --max-tokens 200\n  edgegru generate --checkpoint runs/a --prompt \"The \" --temperature 0.8 --top-k 40 --seed 7"
    )]
    Generate {
        #[command(flatten)]
        source: ModelSource,
        /// Text to start from.
        #[arg(long)]
        prompt: String,
        /// Number of tokens to generate.
        #[arg(long, default_value_t = 200)]
        max_tokens: usize,
        /// Always take the most likely token.
        #[arg(long)]
        greedy: bool,
        /// Softmax temperature (0 = greedy).
        #[arg(long, default_value_t = 0.8)]
        temperature: f32,
        /// Sample among the K most likely tokens (0 = all).
        #[arg(long, default_value_t = 0)]
        top_k: u32,
        /// Sample among the most likely tokens holding this much probability.
        #[arg(long, default_value_t = 1.0)]
        top_p: f32,
        /// Random seed of the sampler.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Engine that runs the model (tract and ort take an ONNX file).
        #[arg(long, value_enum, default_value = "native")]
        backend: BackendArg,
    },
    /// Step latency: µs/step (median and fastest round) and tokens/s, one thread, batch 1, state carried across steps.
    #[command(
        after_help = "Examples:\n  edgegru bench --model models/fortunes-char.egru\n  edgegru bench --model m.egru --kernels scalar,avx2 --json\n  edgegru bench --model dense.egru --model sparse.egru"
    )]
    Bench {
        /// The model: an .egru file (tract and ort then run its weights as the float ONNX graph), or an ONNX file (tract, ort).
        /// Repeat it to time several models in the same run (e.g. dense against sparse).
        #[arg(long, required = true)]
        model: Vec<PathBuf>,
        /// Backends to time, comma-separated: native, tract, ort.
        #[arg(long, default_value = "native")]
        backends: String,
        /// Kernel sets of the native backend to compare (default: the best available).
        #[arg(long)]
        kernels: Option<String>,
        /// Steps per timed round.
        #[arg(long, default_value_t = 2000)]
        steps: usize,
        /// Timed rounds (their median and the fastest are reported).
        #[arg(long, default_value_t = 7)]
        rounds: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Corpus to device model in one go: train, prune, quantize, export (.egru + .onnx), verify, summarize.
    #[command(
        after_help = "Examples:\n  edgegru pipeline --corpus /usr/share/games/fortunes --out out/a --minutes 20\n  edgegru pipeline --corpus notes.txt --out out/t --config t --steps 3000\n\nWrites DIR/model.egru (int8; block-sparse when pruned; integer-only for config t), DIR/model.onnx (float step graph),\nDIR/run and DIR/run-pruned (checkpoints, history), DIR/summary.md and DIR/summary.json."
    )]
    Pipeline {
        /// Corpus: a UTF-8 text file or a folder of them.
        #[arg(long)]
        corpus: PathBuf,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Model configuration (DESIGN.md): a = chars 64/256/256, t = chars 16/64/64 for microcontrollers, w = words 128/256/256.
        #[arg(long, value_enum, default_value = "a")]
        config: Preset,
        /// Wall-clock minutes of training and pruning together.
        #[arg(long, default_value_t = 20.0, conflicts_with = "steps")]
        minutes: f64,
        /// Training steps instead of minutes (pruning adds half as many).
        #[arg(long)]
        steps: Option<u64>,
        /// Block sparsity to prune to (default: 0.75 for config a, 0 for t and w).
        #[arg(long)]
        prune_to: Option<f32>,
        /// Arithmetic of the shipped file (default: int for config t, hybrid otherwise).
        #[arg(long, value_enum)]
        numerics: Option<NumericsArg>,
        /// Threads for training (0: all cores).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Seed of initialization, shuffling and dropout.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Replace invalid UTF-8 instead of refusing the corpus.
        #[arg(long)]
        lossy: bool,
        /// Windows per batch (default: the config's, 64); lower it for a small corpus.
        #[arg(long)]
        batch: Option<usize>,
        /// Tokens per training window (default: the config's).
        #[arg(long)]
        seq_len: Option<usize>,
        /// The device that trains: cpu or cuda.
        #[arg(long, value_enum, default_value = "cpu")]
        device: DeviceChoice,
        /// Embedding initialization: unit (variance 1; learns faster) or keras (uniform ±0.05).
        #[arg(long, value_enum, default_value = "unit")]
        embedding_init: EmbeddingInit,
        /// Initialization of the GRU and dense layers: torch (PyTorch's defaults) or keras.
        #[arg(long, value_enum, default_value = "torch")]
        layer_init: LayerInit,
        /// CPU: data-parallel shards per batch, one thread each (1: the whole batch in one pass).
        #[arg(long, default_value_t = 2)]
        shards: usize,
        /// Where each epoch cuts the text into windows: random (a new shift every epoch) or fixed.
        #[arg(long, value_enum, default_value = "random")]
        window_offsets: WindowOffsets,
    },
    /// Bring in a GRU language model trained with PyTorch or Keras, from ONNX, as an .egru file.
    #[command(
        after_help = "Examples:\n  edgegru import --onnx lm.onnx --vocab vocab.json --out lm.egru\n  edgegru import --onnx keras_lm.onnx --vocab tokenizer.json --weights int8 --out lm.egru\n\nThe ONNX graph: Gather (embedding) -> GRU (forward, one layer, linear_before_reset=1) -> Linear -> ReLU -> Linear [-> Softmax],\nfrom torch.onnx.export or tf2onnx. VOCAB: Keras' tokenizer.to_json(), or a JSON list of tokens in id order."
    )]
    Import {
        /// The ONNX model.
        #[arg(long)]
        onnx: PathBuf,
        /// The vocabulary: Keras tokenizer JSON, or a JSON list of tokens in id order.
        #[arg(long)]
        vocab: PathBuf,
        /// With a token list: the out-of-vocabulary token.
        #[arg(long)]
        oov: Option<String>,
        /// Weight encoding.
        #[arg(long, value_enum, default_value = "f32")]
        weights: Weights,
        /// Store int8 matrices as 8x4 block-sparse.
        #[arg(long)]
        sparse: bool,
        /// Arithmetic of an int8 model.
        #[arg(long, value_enum, default_value = "hybrid")]
        numerics: NumericsArg,
        /// Output .egru file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Show what is inside a model file: dims, tokenizer, numerics, tensors, sizes.
    #[command(after_help = "Example:\n  edgegru inspect models/fortunes-char.egru")]
    Inspect {
        /// The .egru file.
        file: PathBuf,
    },
}

/// Gradual magnitude pruning flags (train and prune).
#[derive(Args, Clone)]
struct PruneArgs {
    /// Final sparsity of the GRU, dense and output matrices (fraction removed), e.g. 0.75.
    #[arg(long)]
    prune_to: Option<f32>,
    /// Step at which pruning starts (prune: default the checkpoint's step).
    #[arg(long)]
    prune_start: Option<u64>,
    /// Step at which the final sparsity is reached (default: 70% into the run).
    #[arg(long)]
    prune_end: Option<u64>,
    /// Update the masks every N steps.
    #[arg(long, default_value_t = 50)]
    prune_every: u64,
    /// Per-part densities (fraction kept), overriding --prune-to: input.z, input.r,
    /// input.n, recurrent.z, recurrent.r, recurrent.n, dense, output; e.g. "recurrent.n=0.4,output=0.5".
    #[arg(long, default_value = "")]
    prune_density: String,
    /// Keep the diagonal of each recurrent gate matrix dense.
    #[arg(long)]
    keep_diagonal: bool,
    /// 8x4 blocks (what the sparse kernel runs) or single weights (for comparison).
    #[arg(long, value_enum, default_value = "block")]
    prune_shape: PruneShape,
}

impl PruneArgs {
    /// The pruning configuration for a run from `first` to `last` step, if --prune-to is given.
    fn config(&self, first: u64, last: Option<u64>) -> Result<Option<PruneConfig>> {
        let Some(target) = self.prune_to else { return Ok(None) };
        let start = self.prune_start.unwrap_or(first);
        let end = match (self.prune_end, last) {
            (Some(e), _) => e,
            (None, Some(l)) => start + (l.saturating_sub(start) * 7 / 10).max(1),
            (None, None) => bail!("give --prune-end (or --steps, to place it 70% into the run)"),
        };
        Ok(Some(PruneConfig::new(target, &self.prune_density, start, end, self.prune_every, self.keep_diagonal, self.prune_shape)?))
    }
}

#[derive(Args)]
struct TrainArgs {
    /// Corpus: a UTF-8 text file or a folder of them.
    #[arg(long, required_unless_present = "resume")]
    corpus: Option<PathBuf>,
    /// Run folder: checkpoint, history.csv/json, loss.svg, tensorboard/.
    #[arg(long, required_unless_present = "resume")]
    out: Option<PathBuf>,
    /// Continue the run in this folder (its settings are kept; limits may be raised).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Replace invalid UTF-8 instead of refusing the corpus.
    #[arg(long)]
    lossy: bool,
    /// Token granularity.
    #[arg(long, value_enum, default_value = "char")]
    tokenizer: TokenizerChoice,
    /// Word level: vocabulary size, padding and OOV included (Keras num_words).
    #[arg(long, default_value_t = 5002)]
    num_words: usize,
    /// Embedding width.
    #[arg(long, default_value_t = 64)]
    emb: u32,
    /// GRU width.
    #[arg(long, default_value_t = 256)]
    hidden: u32,
    /// Dense layer width.
    #[arg(long, default_value_t = 256)]
    dense: u32,
    /// Tokens per training window.
    #[arg(long, default_value_t = 100)]
    seq_len: usize,
    /// Windows per batch.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Stop after N epochs.
    #[arg(long)]
    epochs: Option<u64>,
    /// Stop after N optimizer steps in all (steps before a resume included).
    #[arg(long)]
    steps: Option<u64>,
    /// Stop after M minutes of training in all.
    #[arg(long)]
    minutes: Option<f64>,
    /// Optimizer.
    #[arg(long, value_enum, default_value = "adam")]
    optimizer: OptimizerKind,
    /// Peak learning rate.
    #[arg(long, default_value_t = 2e-3)]
    lr: f32,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    momentum: f32,
    /// Linear learning-rate warm-up steps.
    #[arg(long, default_value_t = 0)]
    warmup_steps: u64,
    /// Learning-rate decay after warm-up, over --steps or --epochs; with only --minutes, over the time limit.
    #[arg(long, value_enum, default_value = "none")]
    decay: Decay,
    /// Learning rate at the end of the decay.
    #[arg(long, default_value_t = 0.0)]
    min_lr: f32,
    /// Dropout on GRU inputs.
    #[arg(long, default_value_t = 0.0)]
    dropout: f32,
    /// Dropout on the recurrent state.
    #[arg(long, default_value_t = 0.0)]
    recurrent_dropout: f32,
    /// L1 penalty on the kernels.
    #[arg(long, default_value_t = 0.0)]
    l1: f32,
    /// L2 penalty on the kernels.
    #[arg(long, default_value_t = 0.0)]
    l2: f32,
    /// Clip the global gradient norm (0: off).
    #[arg(long, default_value_t = 5.0)]
    clip: f32,
    /// Fraction of the corpus (its end) held out for validation.
    #[arg(long, default_value_t = 0.1)]
    val_split: f64,
    /// Seed of initialization, shuffling and dropout.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Threads (0: all cores): up to --shards of them compute shards side by side, each shard's matrix products get the rest.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// The device that trains: cpu, or cuda (an NVIDIA GPU; needs the driver, NVRTC and cuBLAS of CUDA 13).
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceChoice,
    /// Matrix-product operand precision on the GPU (f32 accumulation either way).
    #[arg(long, value_enum, default_value = "f32")]
    precision: Precision,
    /// Embedding initialization: unit (variance 1, as PyTorch; learns faster) or keras (uniform ±0.05).
    #[arg(long, value_enum, default_value = "unit")]
    embedding_init: EmbeddingInit,
    /// Initialization of the GRU and dense layers: torch (PyTorch's defaults, uniform
    /// ±1/sqrt(fan_in) for weights and biases; generalizes better on long runs) or keras
    /// (Glorot kernels, orthogonal recurrent kernel, zero biases).
    #[arg(long, value_enum, default_value = "torch")]
    layer_init: LayerInit,
    /// CPU: cut every batch into N data-parallel shards computed side by side,
    /// one thread each, their gradients summed (1: the whole batch in one pass,
    /// its matrix products multithreaded). Results depend on N, never on --threads.
    #[arg(long, default_value_t = 2)]
    shards: usize,
    /// Where each epoch cuts the text into windows of --seq-len: random (shifted by
    /// 0 to seq-len - 1 tokens, new every epoch, from --seed; less overfitting on
    /// long runs) or fixed (0, seq-len, 2 seq-len, ... every epoch).
    #[arg(long, value_enum, default_value = "random")]
    window_offsets: WindowOffsets,
    /// Write a checkpoint every N steps (0: only at the end).
    #[arg(long, default_value_t = 500)]
    checkpoint_every: u64,
    /// Record history every N steps.
    #[arg(long, default_value_t = 50)]
    log_every: u64,
    #[command(flatten)]
    prune: PruneArgs,
}

fn train(a: TrainArgs) -> Result<()> {
    if let Some(dir) = &a.resume {
        let ck = Checkpoint::load(dir)?;
        let mut config = ck.config.clone();
        // Limits may be raised and the device changed when resuming; everything else stays as it was.
        config.device = a.device;
        config.precision = a.precision;
        config.steps = a.steps.or(config.steps);
        config.epochs = a.epochs.or(config.epochs);
        config.minutes = a.minutes.or(config.minutes);
        let out = a.out.clone().unwrap_or_else(|| dir.clone());
        commands::train::run(config, &out, Some(ck))?;
        return Ok(());
    }
    let (Some(corpus), Some(out)) = (a.corpus, a.out) else { bail!("--corpus and --out are required") };
    let config = TrainConfig {
        corpus,
        lossy: a.lossy,
        tokenizer: a.tokenizer,
        num_words: a.num_words,
        emb: a.emb,
        hidden: a.hidden,
        dense: a.dense,
        seq_len: a.seq_len,
        batch: a.batch,
        epochs: a.epochs,
        steps: a.steps,
        minutes: a.minutes,
        optimizer: OptimizerConfig {
            kind: a.optimizer,
            lr: a.lr,
            momentum: a.momentum,
            clip: a.clip,
            warmup_steps: a.warmup_steps,
            decay: a.decay,
            min_lr: a.min_lr,
            ..OptimizerConfig::default()
        },
        regularization: Regularization { dropout: a.dropout, recurrent_dropout: a.recurrent_dropout, l1: a.l1, l2: a.l2 },
        val_split: a.val_split,
        seed: a.seed,
        threads: a.threads,
        checkpoint_every: a.checkpoint_every,
        log_every: a.log_every,
        device: a.device,
        precision: a.precision,
        embedding_init: a.embedding_init,
        layer_init: a.layer_init,
        shards: a.shards,
        window_offsets: a.window_offsets,
        prune: a.prune.config(0, a.steps)?,
    };
    commands::train::run(config, &out, None)?;
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(a) => train(*a),
        Command::Prune { checkpoint, out, steps, lr, prune } => {
            let ck = Checkpoint::load(&checkpoint)?;
            if prune.prune_to.is_none() {
                bail!("say how sparse: --prune-to 0.75");
            }
            let mut config = commands::train::fine_tune_config(&ck, steps, lr);
            config.prune = prune.config(ck.optimizer.step, config.steps)?;
            commands::train::run(config, &out, Some(ck))?;
            Ok(())
        }
        Command::Eval { source, corpus, val_split, lossy, json, backend } => {
            commands::eval::run(backend.into(), &source.bytes()?, &corpus, lossy, val_split, json)
        }
        Command::Export { checkpoint, weights, sparse, numerics, format, out } => {
            let (kind, integer) = weight_options(weights, sparse, numerics)?;
            let format = match format {
                Format::Egru => ExportFormat::Egru(commands::export::options(kind, sparse, integer)),
                Format::Onnx => {
                    if sparse || integer {
                        bail!("ONNX has no block-sparse or integer-only encoding: export --format onnx with --weights f32 or int8 (QDQ)");
                    }
                    ExportFormat::Onnx(match kind {
                        WeightKind::F32 => OnnxWeights::Float,
                        WeightKind::Int8 => OnnxWeights::Int8Qdq,
                        WeightKind::F16 => bail!("--format onnx takes --weights f32 or int8"),
                    })
                }
            };
            commands::export::run(&checkpoint, format, &out)
        }
        Command::Generate { source, prompt, max_tokens, greedy, temperature, top_k, top_p, seed, backend } => {
            let bytes = source.bytes_or_default()?;
            let params = if greedy { SamplingParams::GREEDY } else { SamplingParams { temperature, top_k, top_p } };
            params.validate().context("bad sampling option")?;
            let opts = GenerateOptions { prompt, max_tokens, params, seed };
            let mut stdout = std::io::stdout();
            print!("{}", opts.prompt);
            commands::generate::generate(backend.into(), &bytes, &opts, &mut stdout)?;
            println!();
            Ok(())
        }
        Command::Bench { model, backends, kernels, steps, rounds, json } => {
            let files = model.iter().map(|m| Ok((m.display().to_string(), commands::read_file(m)?))).collect::<Result<Vec<_>>>()?;
            let backends = backends.split(',').map(|b| Backend::from_name(b.trim())).collect::<Result<Vec<_>>>()?;
            let isas: Vec<Option<edgegru_runtime::Isa>> = match kernels {
                None => vec![None],
                Some(list) => list
                    .split(',')
                    .map(|n| edgegru_runtime::Isa::from_name(n.trim()).map(Some).with_context(|| format!("unknown kernel set {n}")))
                    .collect::<Result<_>>()?,
            };
            let mut targets = Vec::new();
            for (name, bytes) in &files {
                for &backend in &backends {
                    let kernels = if backend == Backend::Native { isas.clone() } else { vec![None] };
                    targets.extend(kernels.into_iter().map(|isa| commands::bench::Target { name, backend, isa, model: bytes }));
                }
            }
            let results = commands::bench::run(&targets, steps, rounds)?;
            if json {
                println!("{}", serde_json::to_string(&results)?);
            } else {
                print!("{}", commands::bench::table(&results));
            }
            Ok(())
        }
        Command::Pipeline {
            corpus,
            out,
            config,
            minutes,
            steps,
            prune_to,
            numerics,
            threads,
            seed,
            lossy,
            batch,
            seq_len,
            device,
            embedding_init,
            layer_init,
            shards,
            window_offsets,
        } => {
            let budget = match steps {
                Some(n) => Budget::Steps(n),
                None => Budget::Minutes(minutes),
            };
            let cfg = PipelineConfig {
                corpus,
                out,
                preset: config,
                budget,
                prune_to: prune_to.unwrap_or(config.default_prune_to()),
                integer: numerics.map_or(config.default_integer(), |n| n == NumericsArg::Int),
                threads,
                seed,
                lossy,
                batch,
                seq_len,
                device,
                embedding_init,
                layer_init,
                shards,
                window_offsets,
            };
            commands::pipeline::run(&cfg).map(|_| ())
        }
        Command::Import { onnx, vocab, oov, weights, sparse, numerics, out } => {
            let (kind, integer) = weight_options(weights, sparse, numerics)?;
            let tokenizer = crate::import::vocabulary(&commands::read_file(&vocab)?, oov.as_deref())
                .with_context(|| format!("vocabulary {}", vocab.display()))?;
            let name = out.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
            let model =
                crate::import::import(&commands::read_file(&onnx)?, tokenizer, name).with_context(|| format!("{}", onnx.display()))?;
            let bytes = model.to_checked_bytes(&commands::export::options(kind, sparse, integer))?;
            commands::write_file(&out, &bytes)?;
            let d = model.dims;
            println!(
                "wrote {} ({} bytes): vocab {}, emb {}, GRU {}, dense {}",
                out.display(),
                bytes.len(),
                d.vocab,
                d.emb,
                d.hidden,
                d.dense
            );
            Ok(())
        }
        Command::Inspect { file } => commands::inspect::run(Path::new(&file)),
    }
}

/// The weight encoding of `--weights`, and whether `--numerics int` is asked;
/// refuses `--sparse` and `--numerics int` without int8 weights.
fn weight_options(weights: Weights, sparse: bool, numerics: NumericsArg) -> Result<(WeightKind, bool)> {
    let kind = match weights {
        Weights::F32 => WeightKind::F32,
        Weights::F16 => WeightKind::F16,
        Weights::Int8 => WeightKind::Int8,
    };
    let integer = numerics == NumericsArg::Int;
    if (sparse || integer) && !matches!(kind, WeightKind::Int8) {
        bail!("--sparse and --numerics int need --weights int8");
    }
    Ok((kind, integer))
}

/// Checks that `args` (program name first) form a valid command line, without running it.
pub fn check_args<I, T>(args: I) -> std::result::Result<(), String>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    Cli::try_parse_from(args).map(|_| ()).map_err(|e| e.to_string())
}

/// Runs the command line of this process; exit code 0 on success, 1 with a
/// one-line `error: ...` otherwise.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(1);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(1)
        }
    }
}
