//! What defines a training run (stored in its checkpoints): the task, the
//! data, the network's sizes, the optimizer, regularization and limits.

use std::path::PathBuf;

use anyhow::{bail, Result};
use edgegru_runtime::{Activation, Fill};
use serde::{Deserialize, Deserializer, Serialize};

use crate::data::{Columns, WindowOffsets};
use crate::engine::{Device, Precision, Regularization};
use crate::network::{DenseSpec, HeadSpec, NetSpec};
use crate::optim::OptimizerConfig;
use crate::params::{EmbeddingInit, LayerInit};
use crate::prune::PruneConfig;
use edgegru_runtime::InputKind;

/// Character or word tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum TokenizerChoice {
    /// One token per character.
    Char,
    /// Keras-style words with an OOV token.
    Word,
}

/// What a run learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Task {
    /// A language model: the next token of a text corpus.
    #[default]
    Lm,
    /// A sequence classifier on float feature vectors (`.ts` or CSV files).
    Classify,
    /// A sequence regressor: one value per sequence of float feature vectors
    /// (`.ts` files with `@targetLabel true`, CSV with a `target` column).
    Regress,
}

impl Task {
    /// Whether the run learns from feature sequences (not a text corpus).
    pub fn reads_sequences(self) -> bool {
        matches!(self, Task::Classify | Task::Regress)
    }
}

/// Widths that configurations before stacked layers stored as one number.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(u32),
        Many(Vec<u32>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(x) => vec![x],
        OneOrMany::Many(v) => v,
    })
}

/// Everything that defines a training run (stored in its checkpoints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The training data: a text corpus (file or folder), or labelled
    /// sequences (`.ts` or CSV) for `Task::Classify`. Absolute once a run starts.
    pub corpus: PathBuf,
    /// What the run learns (runs from before this option: a language model).
    #[serde(default)]
    pub task: Task,
    /// Classifiers: the validation sequences (e.g. a dataset's TEST file);
    /// without them the last `val_split` of the training sequences.
    #[serde(default)]
    pub val_data: Option<PathBuf>,
    /// Replace invalid UTF-8 instead of refusing the corpus.
    pub lossy: bool,
    /// Token granularity.
    pub tokenizer: TokenizerChoice,
    /// Word level: vocabulary size (Keras `num_words`, padding and OOV included).
    pub num_words: usize,
    /// Embedding width.
    pub emb: u32,
    /// State width of each GRU layer, first to last.
    #[serde(deserialize_with = "one_or_many")]
    pub hidden: Vec<u32>,
    /// Width of the relu dense layer before the head (0: none).
    pub dense: u32,
    /// Steps per training window (classifiers: unused, a window is a sequence).
    pub seq_len: usize,
    /// Windows per batch.
    pub batch: usize,
    /// Stop after this many epochs.
    pub epochs: Option<u64>,
    /// Stop after this many optimizer steps in all (earlier runs included).
    pub steps: Option<u64>,
    /// Stop after this many minutes of training in all.
    pub minutes: Option<f64>,
    /// Optimizer settings.
    pub optimizer: OptimizerConfig,
    /// Dropout and penalties.
    pub regularization: Regularization,
    /// Fraction of the data (its end) held out for validation.
    pub val_split: f64,
    /// Seed of initialization, shuffling and dropout.
    pub seed: u64,
    /// Threads: shards side by side, the rest for each shard's matrix products (0: all cores).
    pub threads: usize,
    /// Write a checkpoint every this many steps (0: only at the end).
    pub checkpoint_every: u64,
    /// Record history every this many steps.
    pub log_every: u64,
    /// Gradual magnitude pruning, if any.
    #[serde(default)]
    pub prune: Option<PruneConfig>,
    /// Stop after this many validations without a better validation loss.
    #[serde(default)]
    pub patience: Option<u32>,
    /// The device that trains (checkpoints are the same from either).
    #[serde(default)]
    pub device: Device,
    /// Matrix-product operand precision on the GPU.
    #[serde(default)]
    pub precision: Precision,
    /// How the embedding starts (runs from before this option: Keras').
    #[serde(default)]
    pub embedding_init: EmbeddingInit,
    /// How the GRU and dense layers start (runs from before this option: Keras').
    #[serde(default)]
    pub layer_init: LayerInit,
    /// CPU: data-parallel shards per batch (runs from before this option: 1).
    #[serde(default = "one_shard")]
    pub shards: usize,
    /// Where each epoch cuts the training text into windows (runs from before this option: fixed).
    #[serde(default)]
    pub window_offsets: WindowOffsets,
    /// What the training data was when the run started: its size and CRC-32
    /// (so that a resume can check a corpus given at another path).
    #[serde(default)]
    pub data_fingerprint: Option<String>,
    /// CSV data: which columns are the sequence id, label and time (runs from before this option: the defaults).
    #[serde(default)]
    pub columns: Columns,
    /// What a missing feature value becomes, in training and in the model (runs from before this option: refused).
    #[serde(default)]
    pub fill: Fill,
}

fn one_shard() -> usize {
    1
}

impl TrainConfig {
    /// A run of `task` on `data` (a text corpus, or `.ts` / CSV sequences)
    /// with the command line's defaults: embedding 64, one GRU of 256, a relu
    /// dense layer of 256, windows of 100, batch 64, Adam at 2e-3 clipped at
    /// 5, 10% held out, two CPU shards. Set a limit (`steps`, `epochs` or
    /// `minutes`) before training; a classifier or regressor usually wants
    /// smaller layers and batches.
    pub fn new(task: Task, data: impl Into<PathBuf>) -> TrainConfig {
        TrainConfig {
            corpus: data.into(),
            task,
            val_data: None,
            lossy: false,
            tokenizer: TokenizerChoice::Char,
            num_words: 5002,
            emb: 64,
            hidden: vec![256],
            dense: 256,
            seq_len: 100,
            batch: 64,
            epochs: None,
            steps: None,
            minutes: None,
            optimizer: OptimizerConfig::default(),
            regularization: Regularization { dropout: vec![0.0], recurrent_dropout: vec![0.0], l1: 0.0, l2: 0.0 },
            val_split: 0.1,
            seed: 1,
            threads: 0,
            checkpoint_every: 500,
            log_every: 50,
            prune: None,
            patience: None,
            device: Device::Cpu,
            precision: Precision::F32,
            embedding_init: EmbeddingInit::Unit,
            layer_init: LayerInit::Torch,
            shards: 2,
            window_offsets: WindowOffsets::Random,
            data_fingerprint: None,
            columns: Columns::default(),
            fill: Fill::Refuse,
        }
    }

    /// The network for a vocabulary of `vocab` tokens (language models) or
    /// `features` inputs and `classes` classes (classifiers) or outputs (regression).
    pub fn network(&self, vocab: usize, features: usize, classes: usize) -> NetSpec {
        let dense = (self.dense > 0).then_some(DenseSpec { width: self.dense, activation: Activation::Relu }).into_iter().collect();
        match self.task {
            Task::Lm => NetSpec {
                input: InputKind::Tokens { vocab, emb: self.emb as usize },
                grus: self.hidden.clone(),
                dense,
                head: HeadSpec::NextToken,
            },
            Task::Classify => NetSpec {
                input: InputKind::Features { count: features },
                grus: self.hidden.clone(),
                dense,
                head: HeadSpec::Classes { count: classes as u32 },
            },
            Task::Regress => NetSpec {
                input: InputKind::Features { count: features },
                grus: self.hidden.clone(),
                dense,
                head: HeadSpec::Regression { count: classes as u32 },
            },
        }
    }

    /// The configuration that fine-tunes `ck` for `steps` more optimizer steps
    /// (pruning is the caller's to set): a constant learning rate, `lr` or
    /// half the run's peak (at least its minimum; at a quarter, 75% block
    /// pruning of config A lost +12.6% after 3000 steps, at half +7.9%), no warm-up.
    pub fn fine_tune(ck: &crate::checkpoint::Checkpoint, steps: u64, lr: Option<f32>) -> TrainConfig {
        let mut config = ck.config.clone();
        config.steps = Some(ck.optimizer.step + steps);
        config.epochs = None;
        config.minutes = None;
        config.optimizer.lr = lr.unwrap_or((config.optimizer.lr * 0.5).max(config.optimizer.min_lr));
        config.optimizer.decay = crate::optim::Decay::None;
        config.optimizer.warmup_steps = 0;
        config
    }

    /// Checks ranges that would otherwise fail deep inside training.
    pub fn validate(&self) -> Result<()> {
        if self.hidden.is_empty() || self.hidden.contains(&0) || self.batch == 0 {
            bail!("--hidden and --batch must be at least 1");
        }
        if self.task == Task::Lm && (self.emb == 0 || self.seq_len == 0 || self.dense == 0) {
            bail!("--emb, --dense and --seq-len must be at least 1");
        }
        if self.hidden.len() > edgegru_runtime::format::MAX_GRU_LAYERS {
            bail!("--layers: at most {} GRU layers", edgegru_runtime::format::MAX_GRU_LAYERS);
        }
        let r = &self.regularization;
        for &p in r.dropout.iter().chain(&r.recurrent_dropout) {
            if !(0.0..1.0).contains(&p) {
                bail!("--dropout and --recurrent-dropout must be in [0, 1), got {p}");
            }
        }
        if r.dropout.len() > self.hidden.len().max(1) || r.recurrent_dropout.len() > self.hidden.len().max(1) {
            bail!("--dropout and --recurrent-dropout take one value, or one per GRU layer ({} layers)", self.hidden.len());
        }
        for (name, v) in [("--l1", r.l1), ("--l2", r.l2)] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                bail!("{name} must be in [0, 1], got {v}");
            }
        }
        if !(0.0..1.0).contains(&self.val_split) {
            bail!("--val-split must be in [0, 1)");
        }
        self.optimizer.validate()?;
        if self.shards == 0 {
            bail!("--shards must be at least 1");
        }
        if self.epochs.is_none() && self.steps.is_none() && self.minutes.is_none() {
            bail!("say how long to train: --epochs N, --steps N or --minutes M");
        }
        if self.epochs == Some(0) || self.steps == Some(0) {
            bail!("--epochs and --steps must be at least 1");
        }
        if let Some(m) = self.minutes {
            if !(m.is_finite() && m > 0.0) {
                bail!("--minutes must be a positive number, got {m}");
            }
        }
        if self.task == Task::Lm && self.tokenizer == TokenizerChoice::Word && self.num_words < 3 {
            bail!("--num-words must be at least 3 (padding, the OOV token and one word)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_from_before_an_option_read_as_they_ran() {
        let config = crate::pipeline::Preset::A.train_config(std::path::Path::new("corpus.txt"), false, 2, 1);
        let mut json = serde_json::to_value(&config).unwrap();
        let fields = json.as_object_mut().unwrap();
        for name in ["layer_init", "shards", "window_offsets", "task", "val_data", "data_fingerprint", "columns", "fill"] {
            assert!(fields.remove(name).is_some(), "{name} is a field");
        }
        // Before stacked layers: one hidden width and one dropout rate.
        fields.insert("hidden".into(), serde_json::json!(256));
        let reg = fields.get_mut("regularization").unwrap().as_object_mut().unwrap();
        reg.insert("dropout".into(), serde_json::json!(0.25));
        let old: TrainConfig = serde_json::from_value(json).unwrap();
        assert_eq!((old.layer_init, old.shards, old.window_offsets, old.task), (LayerInit::Keras, 1, WindowOffsets::Fixed, Task::Lm));
        assert_eq!((old.hidden.clone(), old.regularization.dropout(0)), (vec![256], 0.25));
        assert_eq!(old.network(113, 0, 0), NetSpec::language_model(113, 64, &[256], 256));
    }
}
