//! The training run: data preparation, the step loop, validation,
//! checkpoints, history, resume, and stopping (step/epoch/time limits,
//! Ctrl-C, a non-finite loss).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use edgegru_runtime::Rng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::cpu::{self, Batch, Regularization, Stats, Workspace};
use crate::data::{self, Utf8Policy, WindowOffsets};
use crate::engine::{self, CpuParallelism, DeviceChoice, Engine, Precision, StepResult};
use crate::history::{History, Record};
use crate::optim::{Decay, Optimizer, OptimizerConfig};
use crate::params::{EmbeddingInit, LayerInit, Params, Shape};
use crate::prune::{Masks, PruneConfig};
use crate::tokenize::{Vocabulary, WordOptions};

/// Character or word tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum TokenizerChoice {
    /// One token per character.
    Char,
    /// Keras-style words with an OOV token.
    Word,
}

/// Everything that defines a training run (stored in its checkpoints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Corpus file or folder.
    pub corpus: PathBuf,
    /// Replace invalid UTF-8 instead of refusing the corpus.
    pub lossy: bool,
    /// Token granularity.
    pub tokenizer: TokenizerChoice,
    /// Word level: vocabulary size (Keras `num_words`, padding and OOV included).
    pub num_words: usize,
    /// Embedding width.
    pub emb: u32,
    /// GRU width.
    pub hidden: u32,
    /// Dense width.
    pub dense: u32,
    /// Steps per training window.
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
    /// Fraction of the corpus (its end) held out for validation.
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
    /// The device that trains (checkpoints are the same from either).
    #[serde(default)]
    pub device: DeviceChoice,
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
}

fn one_shard() -> usize {
    1
}

impl TrainConfig {
    /// Model layer sizes for a vocabulary of `vocab` tokens.
    pub fn shape(&self, vocab: usize) -> Shape {
        Shape { vocab: vocab as u32, emb: self.emb, hidden: self.hidden, dense: self.dense }
    }

    /// Checks ranges that would otherwise fail deep inside training.
    pub fn validate(&self) -> Result<()> {
        if self.emb == 0 || self.hidden == 0 || self.dense == 0 || self.seq_len == 0 || self.batch == 0 {
            bail!("--emb, --hidden, --dense, --seq-len and --batch must be at least 1");
        }
        if !(0.0..1.0).contains(&self.regularization.dropout) || !(0.0..1.0).contains(&self.regularization.recurrent_dropout) {
            bail!("--dropout and --recurrent-dropout must be in [0, 1)");
        }
        if !(0.0..1.0).contains(&self.val_split) {
            bail!("--val-split must be in [0, 1)");
        }
        if !(self.optimizer.lr.is_finite() && self.optimizer.lr > 0.0) {
            bail!("--lr must be a positive number");
        }
        if self.shards == 0 {
            bail!("--shards must be at least 1");
        }
        if self.epochs.is_none() && self.steps.is_none() && self.minutes.is_none() {
            bail!("say how long to train: --epochs N, --steps N or --minutes M");
        }
        Ok(())
    }
}

/// With a time limit and no step count, a decay schedule ends when the time
/// does: its length in steps is estimated from the wall time per step measured
/// so far in this run (checkpoints and validation included) and updated
/// every [`TimeSchedule::EVERY`] steps. Such runs are not bit-reproducible;
/// `--steps` is.
struct TimeSchedule {
    limit_sec: Option<f64>,
    first_step: u64,
    elapsed_before: f64,
}

impl TimeSchedule {
    /// Steps between estimates; also the steps measured before the first one.
    const EVERY: u64 = 10;

    fn new(minutes: Option<f64>, decay: Decay, total_steps: Option<u64>, first_step: u64, elapsed_before: f64) -> Self {
        let on = total_steps.is_none() && decay != Decay::None;
        TimeSchedule { limit_sec: minutes.filter(|_| on).map(|m| m * 60.0), first_step, elapsed_before }
    }

    /// The schedule's new length in steps, when it is due for an estimate at `step`.
    fn estimate(&self, step: u64, elapsed_sec: f64) -> Option<u64> {
        let limit = self.limit_sec?;
        let done = step.checked_sub(self.first_step)?;
        if done < Self::EVERY || !done.is_multiple_of(Self::EVERY) {
            return None;
        }
        let per_step = (elapsed_sec - self.elapsed_before).max(1e-9) / done as f64;
        let remaining = (limit - elapsed_sec).max(0.0);
        Some(step + 1 + (remaining / per_step).round() as u64)
    }
}

/// The corpus as token ids, split.
pub struct Corpus {
    /// The tokenizer.
    pub vocab: Vocabulary,
    /// Training ids.
    pub train: Vec<u32>,
    /// Validation ids (the corpus' tail).
    pub val: Vec<u32>,
}

/// Reads and tokenizes a corpus; fits a vocabulary unless one is given.
pub fn prepare_corpus(
    path: &Path,
    lossy: bool,
    choice: TokenizerChoice,
    num_words: usize,
    val_split: f64,
    vocab: Option<Vocabulary>,
) -> Result<Corpus> {
    let text = data::read_corpus(path, if lossy { Utf8Policy::Lossy } else { Utf8Policy::Strict })?;
    let vocab = match vocab {
        Some(v) => v,
        None => match choice {
            TokenizerChoice::Char => Vocabulary::fit_chars(&text),
            TokenizerChoice::Word => Vocabulary::fit_words(&text, &WordOptions { num_words, ..WordOptions::default() })?,
        },
    };
    let ids = vocab.encode(&text)?;
    let (train, val) = data::split_tail(&ids, val_split);
    Ok(Corpus { vocab, train: train.to_vec(), val: val.to_vec() })
}

/// Gathers the inputs and targets of the windows starting at `starts`.
pub fn gather(ids: &[u32], starts: &[usize], seq: usize, inputs: &mut Vec<u32>, targets: &mut Vec<u32>) {
    inputs.clear();
    targets.clear();
    for &s in starts {
        inputs.extend_from_slice(&ids[s..s + seq]);
        targets.extend_from_slice(&ids[s + 1..s + seq + 1]);
    }
}

/// Mean loss and accuracy over windows of `ids` (no dropout), on the CPU.
pub fn evaluate_windows(params: &Params, ids: &[u32], seq: usize, batch: usize) -> Stats {
    let mut ws = Workspace::default();
    let cpu_eval = |b: &Batch<'_>| Ok(cpu::forward_backward(params, b, &Regularization::default(), 0, None, &mut ws));
    evaluate_windows_with(ids, seq, batch, cpu_eval).unwrap_or_default()
}

/// Mean loss and accuracy over windows of `ids`, each batch measured by `eval`.
pub fn evaluate_windows_with(ids: &[u32], seq: usize, batch: usize, mut eval: impl FnMut(&Batch<'_>) -> Result<Stats>) -> Result<Stats> {
    let starts = data::window_starts(ids.len(), seq);
    let (mut inputs, mut targets) = (Vec::new(), Vec::new());
    let mut total = Stats::default();
    for chunk in starts.chunks(batch) {
        gather(ids, chunk, seq, &mut inputs, &mut targets);
        let s = eval(&Batch { inputs: &inputs, targets: &targets, batch: chunk.len(), seq })?;
        total.loss += s.loss * s.tokens as f64;
        total.correct += s.correct;
        total.tokens += s.tokens;
    }
    if total.tokens > 0 {
        total.loss /= total.tokens as f64;
    }
    Ok(total)
}

/// What a run is about to do.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Training tokens.
    pub train_tokens: usize,
    /// Validation tokens.
    pub val_tokens: usize,
    /// Optimizer steps per epoch.
    pub steps_per_epoch: u64,
    /// Step the run starts at (non-zero when resuming).
    pub first_step: u64,
}

/// Receives progress while training.
pub trait Progress {
    /// Called once the model shape is known, before the first step.
    fn start(&mut self, shape: &Shape, config: &TrainConfig, plan: &Plan);
    /// Called after each optimizer step.
    fn step(&mut self, step: u64, total: Option<u64>, loss: f64, tokens_per_sec: f64, eta_sec: Option<f64>);
    /// Called with each history row.
    fn record(&mut self, r: &Record);
    /// A line worth showing (pruning updates).
    fn note(&mut self, _line: &str) {}
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The step, epoch or time limit was reached.
    Finished,
    /// Stopped by the user (Ctrl-C); a checkpoint was written.
    Interrupted,
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// How it ended.
    pub ending: Ending,
    /// Optimizer steps taken in all.
    pub steps: u64,
    /// Per-step training losses of this run, in order (for resume tests).
    pub losses: Vec<f64>,
    /// Final validation loss, nats/token.
    pub val_loss: Option<f64>,
}

/// Threads the run may use: `--threads`, or every core for 0.
fn thread_budget(config: &TrainConfig) -> usize {
    match config.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// Shards from the configuration, computed on as many threads as the budget
/// allows, at most one per shard.
fn cpu_parallelism(config: &TrainConfig) -> CpuParallelism {
    CpuParallelism { shards: config.shards, workers: thread_budget(config).min(config.shards).max(1) }
}

fn shuffled(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng::new(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03);
    for i in (1..n).rev() {
        order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    order
}

/// Trains (or continues `resume`), writing checkpoints and history to `out`.
pub fn train(
    config: TrainConfig,
    out: &Path,
    resume: Option<Checkpoint>,
    stop: Arc<AtomicBool>,
    progress: &mut dyn Progress,
) -> Result<Outcome> {
    config.validate()?;
    let parallelism = cpu_parallelism(&config);
    if config.threads > 0 || parallelism.workers > 1 {
        // What the shard threads leave to each matrix product (read once per process).
        std::env::set_var("MATMUL_NUM_THREADS", (thread_budget(&config) / parallelism.workers).max(1).to_string());
    }
    let corpus = prepare_corpus(
        &config.corpus,
        config.lossy,
        config.tokenizer,
        config.num_words,
        config.val_split,
        resume.as_ref().map(|c| c.vocab.clone()),
    )?;
    let per_epoch = (config.window_offsets.windows_per_epoch(corpus.train.len(), config.seq_len) / config.batch) as u64;
    if per_epoch == 0 {
        bail!(
            "the training text ({} tokens) is too short for one batch of {} windows of {} tokens",
            corpus.train.len(),
            config.batch,
            config.seq_len
        );
    }
    let shape = config.shape(corpus.vocab.len());
    let total_steps = match (config.steps, config.epochs) {
        (Some(s), Some(e)) => Some(s.min(e * per_epoch)),
        (Some(s), None) => Some(s),
        (None, Some(e)) => Some(e * per_epoch),
        (None, None) => None,
    };
    let mut opt_config = config.optimizer;
    opt_config.total_steps = total_steps;
    let (params, optimizer, mut masks) = match resume {
        Some(c) => {
            if c.params.shape != shape {
                bail!("checkpoint shape {:?} differs from the configuration {:?}", c.params.shape, shape);
            }
            let mut o = c.optimizer;
            o.config = opt_config;
            (c.params, o, c.masks)
        }
        None => {
            let p = Params::init_with(shape, config.seed, config.embedding_init, config.layer_init);
            let n = p.data.len();
            (p, Optimizer::new(opt_config, n), None)
        }
    };
    if config.prune.is_some() && masks.is_none() {
        masks = Some(Masks::dense(&params));
    }
    let first_step = optimizer.step;
    // The device first: a missing GPU is reported before anything is written.
    let mut engine = engine::create(config.device, config.precision, params, optimizer, masks.clone(), parallelism)?;
    progress.start(
        &shape,
        &config,
        &Plan { train_tokens: corpus.train.len(), val_tokens: corpus.val.len(), steps_per_epoch: per_epoch, first_step },
    );
    let mut history = History::open(out, first_step)?;
    let elapsed_before = history.records.last().map_or(0.0, |r| r.elapsed_sec);
    let started = Instant::now();
    let elapsed = || elapsed_before + started.elapsed().as_secs_f64();
    let save = |engine: &mut dyn Engine, masks: &Option<Masks>| -> Result<()> {
        let (params, optimizer) = engine.state()?;
        Checkpoint { config: config.clone(), vocab: corpus.vocab.clone(), params, optimizer, masks: masks.clone() }.save(out)
    };
    let validate = |engine: &mut dyn Engine| evaluate_windows_with(&corpus.val, config.seq_len, config.batch, |b| engine.evaluate(b));

    let time_schedule = TimeSchedule::new(config.minutes, opt_config.decay, total_steps, first_step, elapsed_before);
    let (mut inputs, mut targets) = (Vec::new(), Vec::new());
    let mut order_epoch = u64::MAX;
    let (mut order, mut starts) = (Vec::new(), Vec::new());
    let mut losses = Vec::new();
    let (mut window_loss, mut window_correct, mut window_tokens, mut window_start) = (0.0f64, 0usize, 0usize, Instant::now());
    let mut ending = Ending::Finished;
    let mut step = first_step;
    loop {
        if total_steps.is_some_and(|t| step >= t) || config.minutes.is_some_and(|m| elapsed() >= m * 60.0) {
            break;
        }
        if stop.load(Ordering::SeqCst) {
            ending = Ending::Interrupted;
            break;
        }
        let epoch = step / per_epoch;
        if epoch != order_epoch {
            starts = config.window_offsets.epoch_starts(corpus.train.len(), config.seq_len, config.seed, epoch);
            order = shuffled(starts.len(), config.seed, epoch);
            order_epoch = epoch;
        }
        let pos = (step % per_epoch) as usize * config.batch;
        let batch_starts: Vec<usize> = order[pos..pos + config.batch].iter().map(|&i| starts[i]).collect();
        gather(&corpus.train, &batch_starts, config.seq_len, &mut inputs, &mut targets);
        let batch = Batch { inputs: &inputs, targets: &targets, batch: config.batch, seq: config.seq_len };
        if let Some(total) = time_schedule.estimate(step, elapsed()) {
            opt_config.total_steps = Some(total);
            engine.set_schedule_length(Some(total));
        }
        let mask_seed = config.seed ^ step.wrapping_mul(0xA24B_AED4_963E_E407);
        let StepResult { stats, update } = engine.step(&batch, &config.regularization, mask_seed)?;
        let Some(update) = update else {
            bail!(
                "training diverged at step {step}: the loss is {} (try a lower --lr or --clip); the last good checkpoint in {} is kept",
                if stats.loss.is_finite() { "finite but a gradient is not".to_string() } else { format!("{}", stats.loss) },
                out.display()
            );
        };
        step += 1;
        if let (Some(pc), Some(m)) = (&config.prune, masks.as_mut()) {
            if pc.updates_at(step) {
                let (params, _) = engine.state()?;
                let parts = m.update(&params, pc, step);
                engine.set_masks(m)?;
                let line: Vec<String> = parts.iter().map(|p| format!("{} {:.1}%", p.name, p.achieved * 100.0)).collect();
                progress.note(&format!("step {step}: pruned to {:.1}% sparsity ({})", m.sparsity() * 100.0, line.join(", ")));
            }
        }
        losses.push(stats.loss);
        window_loss += stats.loss * stats.tokens as f64;
        window_correct += stats.correct;
        window_tokens += stats.tokens;
        let tps = window_tokens as f64 / window_start.elapsed().as_secs_f64().max(1e-9);
        let eta = total_steps.map(|t| (t - step) as f64 * (config.batch * config.seq_len) as f64 / tps.max(1e-9));
        progress.step(step, total_steps, stats.loss, tps, eta);

        let epoch_end = step % per_epoch == 0;
        let checkpoint_now = config.checkpoint_every > 0 && step % config.checkpoint_every == 0;
        if step % config.log_every.max(1) == 0 || epoch_end || checkpoint_now {
            let val = if epoch_end || checkpoint_now { Some(validate(engine.as_mut())?) } else { None }.filter(|s| s.tokens > 0);
            let loss = window_loss / window_tokens.max(1) as f64;
            let r = Record {
                step,
                epoch: step as f64 / per_epoch as f64,
                loss,
                accuracy: window_correct as f64 / window_tokens.max(1) as f64,
                val_loss: val.map(|s| s.loss),
                val_accuracy: val.map(|s| s.correct as f64 / s.tokens as f64),
                perplexity: val.map_or(loss, |s| s.loss).exp(),
                lr: update.lr as f64,
                tokens_per_sec: tps,
                elapsed_sec: elapsed(),
                sparsity: masks.as_ref().map_or(0.0, |m| m.sparsity() as f64),
            };
            history.push(r)?;
            progress.record(&r);
            (window_loss, window_correct, window_tokens, window_start) = (0.0, 0, 0, Instant::now());
        }
        if checkpoint_now {
            save(engine.as_mut(), &masks)?;
        }
    }
    // Final validation, unless the last history row already measured this step.
    let measured = history.records.last().filter(|r| r.step == step).and_then(|r| r.val_loss);
    let val_loss = match measured {
        Some(v) => Some(v),
        None => {
            let val = validate(engine.as_mut())?;
            let val_loss = (val.tokens > 0).then_some(val.loss);
            if step > first_step && val.tokens > 0 {
                let (vl, va) = (val.loss, val.correct as f64 / val.tokens as f64);
                if history.records.last().is_some_and(|r| r.step == step) {
                    history.set_last_validation(vl, va)?;
                } else {
                    history.push(Record {
                        step,
                        epoch: step as f64 / per_epoch as f64,
                        loss: window_loss / window_tokens.max(1) as f64,
                        accuracy: window_correct as f64 / window_tokens.max(1) as f64,
                        val_loss: Some(vl),
                        val_accuracy: Some(va),
                        perplexity: vl.exp(),
                        lr: opt_config.lr_at(step.saturating_sub(1)) as f64,
                        tokens_per_sec: window_tokens as f64 / window_start.elapsed().as_secs_f64().max(1e-9),
                        elapsed_sec: elapsed(),
                        sparsity: masks.as_ref().map_or(0.0, |m| m.sparsity() as f64),
                    })?;
                }
                if let Some(r) = history.records.last() {
                    progress.record(r);
                }
            }
            val_loss
        }
    };
    save(engine.as_mut(), &masks)?;
    Ok(Outcome { ending, steps: step, losses, val_loss })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_from_before_an_option_read_as_they_ran() {
        let mut config = crate::commands::pipeline::Preset::A.train_config(Path::new("corpus.txt"), false, 2, 1);
        (config.layer_init, config.shards, config.window_offsets) = (LayerInit::Torch, 2, WindowOffsets::Random);
        let mut json = serde_json::to_value(&config).unwrap();
        let fields = json.as_object_mut().unwrap();
        for name in ["layer_init", "shards", "window_offsets"] {
            assert!(fields.remove(name).is_some(), "{name} is a field");
        }
        let old: TrainConfig = serde_json::from_value(json).unwrap();
        assert_eq!((old.layer_init, old.shards, old.window_offsets), (LayerInit::Keras, 1, WindowOffsets::Fixed));
    }

    #[test]
    fn a_time_schedule_ends_at_the_time_limit() {
        let t = TimeSchedule::new(Some(1.0), Decay::Cosine, None, 0, 0.0);
        assert_eq!(t.estimate(5, 3.0), None, "too few steps measured");
        assert_eq!(t.estimate(11, 6.6), None, "not due");
        // 0.6 s per step, 54 s left: 90 more steps after this one.
        assert_eq!(t.estimate(10, 6.0), Some(101));
        // A resumed run measures only its own steps and time.
        let r = TimeSchedule::new(Some(1.0), Decay::Cosine, None, 100, 30.0);
        assert_eq!(r.estimate(120, 40.0), Some(120 + 1 + 40));
        // Past the limit the schedule ends now.
        assert_eq!(t.estimate(20, 70.0), Some(21));
    }

    #[test]
    fn a_time_schedule_is_off_without_decay_or_with_a_step_count() {
        let cases = [
            (Some(1.0), Decay::None, None),
            (Some(1.0), Decay::Cosine, Some(50)),
            (None, Decay::Cosine, Some(50)),
            (None, Decay::Linear, None),
        ];
        for (minutes, decay, total) in cases {
            assert_eq!(TimeSchedule::new(minutes, decay, total, 0, 0.0).estimate(10, 5.0), None);
        }
    }
}
