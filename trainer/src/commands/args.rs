//! Flag groups that several commands share (each defined once, so their
//! help texts cannot drift apart): where a model comes from, the network's
//! sizes, the optimizer and regularization, run control, pruning, sampling,
//! how weights are stored; and the parsers of flags whose values are the
//! runtime's types (weights, layout, numerics, head, kernel set).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::Args;
use edgegru_runtime::writer::{Layout, WeightKind};
use edgegru_runtime::{Fill, HeadKind, Isa, SamplingParams};

use crate::checkpoint::{locate, Checkpoint, Which};
use crate::config::{Task, TokenizerChoice};
use crate::data::{Columns, WindowOffsets};
use crate::engine::{Device, Precision, Regularization};
use crate::export::Encoding;
use crate::optim::{Decay, OptimizerConfig, OptimizerKind};
use crate::params::{EmbeddingInit, LayerInit};
use crate::prune::{PruneConfig, PruneShape};

/// Where a model comes from: a training checkpoint, an `.egru` file, or a built-in model.
#[derive(Args, Debug, Clone)]
pub struct ModelSource {
    /// A training run folder (its best checkpoint, in best/, unless --last) or a checkpoint file; run as f32.
    #[arg(long, conflicts_with = "model")]
    pub checkpoint: Option<PathBuf>,
    /// With --checkpoint DIR: the run's last checkpoint instead of its best.
    #[arg(long, requires = "checkpoint")]
    pub last: bool,
    /// An .egru model file, an ONNX file (tract, ort), or a built-in model's name (`edgegru models` lists them).
    #[arg(long)]
    pub model: Option<String>,
    /// With --model a user's own ONNX export (a network `edgegru import` accepts), run on
    /// --backend tract or ort as it is: its vocabulary (Keras tokenizer JSON or a JSON list of tokens).
    #[arg(long, requires = "model")]
    pub vocab: Option<PathBuf>,
}

impl ModelSource {
    /// The model's bytes (a checkpoint exported as f32).
    pub fn bytes(&self) -> Result<Vec<u8>> {
        match (&self.checkpoint, &self.model) {
            (Some(dir), _) => crate::export::to_f32_egru(&Checkpoint::load(&locate(dir, which(self.last)))?, "checkpoint"),
            (None, Some(m)) => {
                let bytes = crate::builtin::resolve(m)?;
                if crate::backend::is_egru(&bytes) || edgegru_onnx::decode(&bytes).is_err() {
                    return Ok(bytes);
                }
                let vocab = self.vocab.as_deref().map(crate::files::read_file).transpose()?;
                Ok(crate::backend::user_onnx(&bytes, vocab.as_deref())?.into_owned())
            }
            (None, None) => bail!("give --checkpoint DIR or --model FILE"),
        }
    }

    /// The model's bytes, or the built-in default model when none is named.
    pub fn bytes_or_default(&self) -> Result<Vec<u8>> {
        if self.checkpoint.is_none() && self.model.is_none() {
            return Ok(crate::builtin::DEFAULT_MODEL.to_vec());
        }
        self.bytes()
    }
}

/// The training data.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// What to learn: lm (the next token of a text corpus), classify (a class per sequence of float
    /// features) or regress (a value per sequence).
    #[arg(long, value_enum, default_value = "lm")]
    pub task: Task,
    /// Text corpus (a UTF-8 file or a folder of them), for --task lm.
    #[arg(long, required_unless_present_any = ["resume", "data"])]
    pub corpus: Option<PathBuf>,
    /// Training sequences (a .ts file, or CSV), for --task classify or regress.
    #[arg(long, conflicts_with = "corpus")]
    pub data: Option<PathBuf>,
    /// Validation sequences (e.g. a dataset's TEST file), for --task classify or regress; default: the last --val-split of --data.
    #[arg(long)]
    pub val_data: Option<PathBuf>,
    /// Fraction held out for validation: a corpus' end; sequences drawn by --seed (stratified by class).
    #[arg(long, default_value_t = 0.1)]
    pub val_split: f64,
    /// Missing feature values (empty CSV cells, ?, NA, NaN): refused, or filled with 0, the training mean,
    /// or the feature's previous value; the model fills them the same way on the device.
    #[arg(long, value_parser = fill_parser(), default_value = "refuse")]
    pub fill: Fill,
    /// CSV columns.
    #[command(flatten)]
    pub columns: ColumnArgs,
    /// Replace invalid UTF-8 instead of refusing the corpus.
    #[arg(long)]
    pub lossy: bool,
    /// Continue the run in this folder (its settings are kept; limits may be raised).
    #[arg(long)]
    pub resume: Option<PathBuf>,
}

/// How CSV sequences are laid out (a header names the columns; see `docs/training.md`).
#[derive(Args, Debug, Clone, Default)]
pub struct ColumnArgs {
    /// CSV: the column naming each row's sequence (default: id, sequence, sequence_id, series_id or session;
    /// without one, a run of rows with the same label is one sequence).
    #[arg(long)]
    pub id_column: Option<String>,
    /// CSV: the column of the class name, or the target value (default: label, class, target or y).
    #[arg(long)]
    pub label_column: Option<String>,
    /// CSV: a time column, not a feature; it must not go back within a sequence (default: time or timestamp).
    #[arg(long)]
    pub time_column: Option<String>,
    /// CSV: gather the rows of a sequence id wherever they are (default: an id that comes back is refused).
    #[arg(long)]
    pub group_ids: bool,
}

impl ColumnArgs {
    /// The columns as the data readers take them.
    pub fn columns(&self) -> Columns {
        Columns { id: self.id_column.clone(), label: self.label_column.clone(), time: self.time_column.clone(), group_ids: self.group_ids }
    }
}

/// The network's sizes.
#[derive(Args, Debug, Clone)]
pub struct NetworkArgs {
    /// Token granularity.
    #[arg(long, value_enum, default_value = "char")]
    pub tokenizer: TokenizerChoice,
    /// Word level: vocabulary size, padding and OOV included (Keras num_words, at least 3).
    #[arg(long, value_parser = whole::<usize>(3), default_value_t = 5002, allow_negative_numbers = true)]
    pub num_words: usize,
    /// Embedding width.
    #[arg(long, value_parser = whole::<u32>(1), default_value_t = 64, allow_negative_numbers = true)]
    pub emb: u32,
    /// GRU width: one for every layer, or one per layer (e.g. 256,128).
    #[arg(long, value_parser = whole::<u32>(1), value_delimiter = ',', default_value = "256", allow_negative_numbers = true)]
    pub hidden: Vec<u32>,
    /// Stacked GRU layers (1 to 4); --hidden gives one width for all or one per layer.
    #[arg(long, value_parser = whole::<usize>(1), default_value_t = 1, allow_negative_numbers = true)]
    pub layers: usize,
    /// Width of the relu dense layer before the head (0: none; a language model needs one).
    #[arg(long, value_parser = whole::<u32>(0), default_value_t = 256, allow_negative_numbers = true)]
    pub dense: u32,
}

impl NetworkArgs {
    /// Each GRU layer's width.
    pub fn widths(&self) -> Result<Vec<u32>> {
        let max = edgegru_runtime::format::MAX_GRU_LAYERS;
        if !(1..=max).contains(&self.layers) {
            bail!("--layers must be 1 to {max}, got {}", self.layers);
        }
        let widths = match self.hidden.len() {
            1 => vec![self.hidden[0]; self.layers],
            n if n == self.layers || self.layers == 1 => self.hidden.clone(),
            n => bail!("--hidden gives {n} widths for --layers {}; give one, or one per layer", self.layers),
        };
        let limit = edgegru_runtime::MAX_WIDTH;
        for (name, v) in widths.iter().map(|&h| ("--hidden", h)).chain([("--emb", self.emb), ("--dense", self.dense)]) {
            if v > limit {
                bail!("{name} {v} is larger than a model file holds ({limit})");
            }
        }
        Ok(widths)
    }
}

/// The optimizer and regularization.
#[derive(Args, Debug, Clone)]
pub struct OptimArgs {
    /// Optimizer.
    #[arg(long, value_enum, default_value = "adam")]
    pub optimizer: OptimizerKind,
    /// Peak learning rate.
    #[arg(long, default_value_t = 2e-3, allow_negative_numbers = true)]
    pub lr: f32,
    /// SGD momentum, in [0, 1).
    #[arg(long, default_value_t = 0.9, allow_negative_numbers = true)]
    pub momentum: f32,
    /// Linear learning-rate warm-up steps.
    #[arg(long, value_parser = whole::<u64>(0), default_value_t = 0, allow_negative_numbers = true)]
    pub warmup_steps: u64,
    /// Learning-rate decay after warm-up, over --steps or --epochs; with only --minutes, over the time limit.
    #[arg(long, value_enum, default_value = "none")]
    pub decay: Decay,
    /// Learning rate at the end of the decay (at most --lr).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub min_lr: f32,
    /// Dropout on each GRU layer's inputs: one rate for all, or one per layer.
    #[arg(long, value_delimiter = ',', default_value = "0", allow_negative_numbers = true)]
    pub dropout: Vec<f32>,
    /// Dropout on each GRU layer's recurrent state: one rate for all, or one per layer.
    #[arg(long, value_delimiter = ',', default_value = "0", allow_negative_numbers = true)]
    pub recurrent_dropout: Vec<f32>,
    /// L1 penalty on the kernels, in [0, 1].
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub l1: f32,
    /// L2 penalty on the kernels, in [0, 1].
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub l2: f32,
    /// Clip the global gradient norm (0: off).
    #[arg(long, default_value_t = 5.0, allow_negative_numbers = true)]
    pub clip: f32,
}

impl OptimArgs {
    /// The optimizer settings.
    pub fn optimizer(&self) -> OptimizerConfig {
        OptimizerConfig {
            kind: self.optimizer,
            lr: self.lr,
            momentum: self.momentum,
            clip: self.clip,
            warmup_steps: self.warmup_steps,
            decay: self.decay,
            min_lr: self.min_lr,
            ..OptimizerConfig::default()
        }
    }

    /// Dropout and penalties.
    pub fn regularization(&self) -> Regularization {
        Regularization { dropout: self.dropout.clone(), recurrent_dropout: self.recurrent_dropout.clone(), l1: self.l1, l2: self.l2 }
    }
}

/// How long and where a run trains.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Stop after N epochs.
    #[arg(long, value_parser = whole::<u64>(1), allow_negative_numbers = true)]
    pub epochs: Option<u64>,
    /// Stop after N optimizer steps in all (steps before a resume included).
    #[arg(long, value_parser = whole::<u64>(1), allow_negative_numbers = true)]
    pub steps: Option<u64>,
    /// Stop after M minutes of training in all.
    #[arg(long, allow_negative_numbers = true)]
    pub minutes: Option<f64>,
    /// Threads (0: all cores): up to --shards of them compute shards side by side, each shard's matrix products get the rest.
    #[arg(long, value_parser = whole::<usize>(0), default_value_t = 0, allow_negative_numbers = true)]
    pub threads: usize,
    /// The device that trains: cpu, or cuda (an NVIDIA GPU; needs the driver, NVRTC and cuBLAS of CUDA 13).
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: Device,
    /// Matrix-product operand precision on the GPU (f32 accumulation either way).
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: Precision,
    /// CPU: cut every batch into N data-parallel shards computed side by side,
    /// one thread each, their gradients summed (1: the whole batch in one pass,
    /// its matrix products multithreaded). Results depend on N, never on --threads.
    #[arg(long, value_parser = whole::<usize>(1), default_value_t = 2, allow_negative_numbers = true)]
    pub shards: usize,
    /// Seed of initialization, shuffling and dropout.
    #[arg(long, value_parser = whole::<u64>(0), default_value_t = 1, allow_negative_numbers = true)]
    pub seed: u64,
    /// Write a checkpoint every N steps (0: only at the end).
    #[arg(long, value_parser = whole::<u64>(0), default_value_t = 500, allow_negative_numbers = true)]
    pub checkpoint_every: u64,
    /// Record history every N steps.
    #[arg(long, value_parser = whole::<u64>(1), default_value_t = 50, allow_negative_numbers = true)]
    pub log_every: u64,
    /// Stop after N validations without a better validation loss (the best
    /// checkpoint is kept in RUN/best/ whether or not the run stops early).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub patience: Option<u32>,
    /// Replace a run that is already in --out (its checkpoint, history and TensorBoard files).
    #[arg(long)]
    pub force: bool,
}

/// Windows and initialization.
#[derive(Args, Debug, Clone)]
pub struct WindowArgs {
    /// Tokens per training window.
    #[arg(long, value_parser = whole::<usize>(1), default_value_t = 100, allow_negative_numbers = true)]
    pub seq_len: usize,
    /// Windows (or sequences) per batch.
    #[arg(long, value_parser = whole::<usize>(1), default_value_t = 64, allow_negative_numbers = true)]
    pub batch: usize,
    /// Embedding initialization: unit (variance 1, as PyTorch; learns faster) or keras (uniform ±0.05).
    #[arg(long, value_enum, default_value = "unit")]
    pub embedding_init: EmbeddingInit,
    /// Initialization of the GRU and dense layers: torch (PyTorch's defaults, uniform
    /// ±1/sqrt(fan_in) for weights and biases; generalizes better on long runs) or keras
    /// (Glorot kernels, orthogonal recurrent kernel, zero biases).
    #[arg(long, value_enum, default_value = "torch")]
    pub layer_init: LayerInit,
    /// Where each epoch cuts the text into windows of --seq-len: random (shifted by
    /// 0 to seq-len - 1 tokens, new every epoch, from --seed; less overfitting on
    /// long runs) or fixed (0, seq-len, 2 seq-len, ... every epoch).
    #[arg(long, value_enum, default_value = "random")]
    pub window_offsets: WindowOffsets,
}

/// Gradual magnitude pruning flags (train and prune).
#[derive(Args, Debug, Clone)]
pub struct PruneArgs {
    /// Final sparsity of the GRU, dense and output matrices (fraction removed), e.g. 0.75.
    #[arg(long, allow_negative_numbers = true)]
    pub prune_to: Option<f32>,
    /// Step at which pruning starts (prune: default the checkpoint's step).
    #[arg(long, value_parser = whole::<u64>(0), allow_negative_numbers = true)]
    pub prune_start: Option<u64>,
    /// Step at which the final sparsity is reached (default: 70% into the run).
    #[arg(long, value_parser = whole::<u64>(1), allow_negative_numbers = true)]
    pub prune_end: Option<u64>,
    /// Update the masks every N steps.
    #[arg(long, value_parser = whole::<u64>(1), default_value_t = 50, allow_negative_numbers = true)]
    pub prune_every: u64,
    /// Per-group densities (fraction kept), overriding --prune-to: input.z, input.r,
    /// input.n, recurrent.z, recurrent.r, recurrent.n, dense, output (layers above the
    /// first: gru1.input.z, ..., dense1); e.g. "recurrent.n=0.4,output=0.5".
    #[arg(long, default_value = "")]
    pub prune_density: String,
    /// Keep the diagonal of each recurrent gate matrix dense.
    #[arg(long)]
    pub keep_diagonal: bool,
    /// 8x4 blocks (what the sparse kernel runs) or single weights (for comparison).
    #[arg(long, value_enum, default_value = "block")]
    pub prune_shape: PruneShape,
}

impl PruneArgs {
    /// The pruning schedule of a run from step `first` to `last` (when known).
    pub fn config(&self, first: u64, last: Option<u64>) -> Result<Option<PruneConfig>> {
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

/// How generation picks tokens.
#[derive(Args, Debug, Clone)]
pub struct SamplingArgs {
    /// Always take the most likely token.
    #[arg(long)]
    pub greedy: bool,
    /// Softmax temperature (0 = greedy), >= 0.
    #[arg(long, default_value_t = 0.8, allow_negative_numbers = true)]
    pub temperature: f32,
    /// Sample among the K most likely tokens (0 = all).
    #[arg(long, value_parser = whole::<u32>(0), default_value_t = 0, allow_negative_numbers = true)]
    pub top_k: u32,
    /// Sample among the most likely tokens holding this much probability, in (0, 1].
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub top_p: f32,
    /// Random seed of the sampler.
    #[arg(long, value_parser = whole::<u64>(0), default_value_t = 0, allow_negative_numbers = true)]
    pub seed: u64,
    /// Let the out-of-vocabulary token be generated (with --greedy: the source framework's argmax).
    #[arg(long)]
    pub allow_oov: bool,
}

impl SamplingArgs {
    /// The sampling parameters, checked.
    pub fn params(&self) -> Result<SamplingParams> {
        let params = if self.greedy {
            SamplingParams { allow_oov: self.allow_oov, ..SamplingParams::GREEDY }
        } else {
            SamplingParams { temperature: self.temperature, top_k: self.top_k, top_p: self.top_p, allow_oov: self.allow_oov }
        };
        params.validate().map_err(|e| anyhow::anyhow!("{e} (--temperature, --top-p)"))?;
        Ok(params)
    }
}

/// A whole number of at least `min` for a flag of type `T`: a negative
/// value is a range error that names the flag, not an unknown flag.
pub fn whole<T: TryFrom<i128>>(min: i128) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        let v: i128 = s.trim().parse().map_err(|_| format!("{s:?} is not a whole number"))?;
        if v < min {
            return Err(format!("must be at least {min}, got {v}"));
        }
        T::try_from(v).map_err(|_| format!("{v} is too large"))
    }
}

/// The checkpoint `--last` asks for.
pub fn which(last: bool) -> Which {
    if last {
        Which::Last
    } else {
        Which::Best
    }
}

/// The weight flags shared by `export` and `import`.
#[derive(Args, Debug, Clone)]
pub struct EncodingArgs {
    /// Weight encoding (default: int8 for export, f32 for import).
    #[arg(long, value_parser = weights_parser())]
    pub weights: Option<WeightKind>,
    /// Store int8 matrices as 8x4 block-sparse (blocks that are all zero are dropped).
    #[arg(long)]
    pub sparse: bool,
    /// Arithmetic of an int8 model.
    #[arg(long = "numerics", value_name = "NUMERICS", default_value = "hybrid", value_parser = numerics_parser(), action = clap::ArgAction::Set)]
    pub integer: bool,
    /// Layout of the int8 matrices.
    #[arg(long, default_value = "portable", value_parser = layout_parser())]
    pub layout: Layout,
}

impl EncodingArgs {
    /// The library's description of these flags.
    pub fn encoding(&self) -> Encoding {
        Encoding { weights: self.weights, sparse: self.sparse, integer: self.integer, layout: self.layout }
    }
}

/// `--weights f32|f16|int8`.
fn weights_parser() -> impl TypedValueParser<Value = WeightKind> {
    PossibleValuesParser::new([
        PossibleValue::new("f32").help("32-bit float"),
        PossibleValue::new("f16").help("16-bit float"),
        PossibleValue::new("int8").help("int8, one scale per row"),
    ])
    .map(|s| match s.as_str() {
        "f32" => WeightKind::F32,
        "f16" => WeightKind::F16,
        _ => WeightKind::Int8,
    })
}

/// `--numerics hybrid|int`: whether an int8 model is integer-only.
pub fn numerics_parser() -> impl TypedValueParser<Value = bool> {
    PossibleValuesParser::new([
        PossibleValue::new("hybrid").help("int8 products, f32 gates and biases"),
        PossibleValue::new("int").help("integer only, for cores without an FPU (Cortex-M0): int16 state, fixed-point gates"),
    ])
    .map(|s| s == "int")
}

/// `--layout portable|arm-dsp`: the runtime's layouts by their names.
fn layout_parser() -> impl TypedValueParser<Value = Layout> {
    PossibleValuesParser::new([
        PossibleValue::new(Layout::Portable.name()).help("one byte per int8 weight: every core, the smallest file"),
        PossibleValue::new(Layout::ArmDsp.name()).help(
            "int8 weights stored as 16-bit values in the order the Cortex-M DSP extension multiplies them \
             (M4, M7, M33, M55): faster products for twice the flash of the int8 matrices (format version 3)",
        ),
    ])
    .map(|s| if s == Layout::ArmDsp.name() { Layout::ArmDsp } else { Layout::Portable })
}

/// `--head next-token|classes|regression`: the runtime's head kinds by their names.
pub fn head_parser() -> impl TypedValueParser<Value = HeadKind> {
    PossibleValuesParser::new(HeadKind::ALL.map(HeadKind::name)).map(|s| HeadKind::from_name(&s).unwrap_or(HeadKind::NextToken))
}

/// A fill policy by its name: `refuse`, `zero`, `mean` or `previous`.
pub fn fill_parser() -> impl TypedValueParser<Value = Fill> {
    PossibleValuesParser::new(Fill::ALL.map(Fill::name)).map(|s| Fill::from_name(&s).unwrap_or(Fill::Refuse))
}

/// A kernel set by its name (`scalar`, `avx2`, `vnni`, `neon`, `neon-dot`, ...).
pub fn parse_isa(name: &str) -> Result<Isa, String> {
    let names: Vec<&str> = Isa::ALL.iter().map(|i| i.name()).collect();
    Isa::from_name(name.trim()).ok_or_else(|| format!("unknown kernel set {name:?} ({})", names.join(", ")))
}
