//! The pipeline: corpus -> train -> prune -> quantize -> export (.egru and
//! float .onnx) -> verify, ending with a summary. Its folder holds what goes
//! to a device (`model.egru`) or to ONNX Runtime / tract (`model.onnx`), the
//! training runs, and `summary.md` / `summary.json`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use edgegru_onnx::OnnxWeights;
use edgegru_runtime::writer::WeightKind;
use edgegru_runtime::Model;
use serde::{Deserialize, Serialize};

use crate::backend::{compare_greedy, with_session, Agreement, Backend};
use crate::checkpoint::{self, Checkpoint, Which};
use crate::config::{Task, TokenizerChoice, TrainConfig};
use crate::data::{self, Utf8Policy, WindowOffsets};
use crate::engine::{Device, Regularization};
use crate::files::{read_file, write_file};
use crate::history::History;
use crate::metrics::Report;
use crate::optim::Decay;
use crate::params::{EmbeddingInit, LayerInit};
use crate::prune::{PruneConfig, PruneShape};
use crate::run::{self, Ending, OutMode, Progress};
use crate::{bench, evaluate, export};

/// Where a pipeline keeps its own settings, so that `--resume` continues it as it was asked.
const SETTINGS_FILE: &str = "pipeline.json";

/// The model configurations the pipeline trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Preset {
    /// Characters; emb 64, GRU 256, dense 256; windows of 100, batch 64.
    A,
    /// Characters, for microcontrollers; emb 16, GRU 64, dense 64; windows of 64, batch 64.
    T,
    /// Words (5000 + OOV); emb 128, GRU 256, dense 256; windows of 32, batch 64.
    W,
}

impl Preset {
    /// Sparsity the pipeline prunes to unless told otherwise: 75% for A
    /// and W (the shipped fortunes-char and fortunes-word), none for T.
    pub fn default_prune_to(self) -> f32 {
        match self {
            Preset::A | Preset::W => 0.75,
            Preset::T => 0.0,
        }
    }

    /// Whether the shipped file uses integer-only numerics (T: FPU-less cores).
    pub fn default_integer(self) -> bool {
        self == Preset::T
    }

    /// The training configuration of this preset (its run length left unset).
    pub(crate) fn train_config(self, corpus: &Path, lossy: bool, threads: usize, seed: u64) -> TrainConfig {
        let (tokenizer, emb, hidden, dense, seq_len) = match self {
            Preset::A => (TokenizerChoice::Char, 64, 256, 256, 100),
            Preset::T => (TokenizerChoice::Char, 16, 64, 64, 64),
            Preset::W => (TokenizerChoice::Word, 128, 256, 256, 32),
        };
        TrainConfig {
            tokenizer,
            emb,
            hidden: vec![hidden],
            dense,
            seq_len,
            seed,
            threads,
            lossy,
            log_every: 100,
            layer_init: LayerInit::Keras,
            shards: 1,
            window_offsets: WindowOffsets::Fixed,
            regularization: Regularization::default(),
            ..TrainConfig::new(Task::Lm, corpus)
        }
    }
}

/// How long the pipeline trains.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Budget {
    /// Wall-clock minutes for training and pruning together (70% / 30% when pruning).
    Minutes(f64),
    /// Training steps (cosine decay to a tenth of the peak); pruning adds half as many.
    Steps(u64),
}

/// What `edgegru pipeline` is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineConfig {
    /// Corpus file or folder.
    pub corpus: PathBuf,
    /// Output folder.
    pub out: PathBuf,
    /// Model configuration.
    pub preset: Preset,
    /// Run length.
    pub budget: Budget,
    /// Block sparsity to prune to (0: no pruning).
    pub prune_to: f32,
    /// Integer-only numerics for the shipped file.
    pub integer: bool,
    /// Threads for training (0: all cores).
    pub threads: usize,
    /// Seed of initialization, shuffling and dropout.
    pub seed: u64,
    /// Replace invalid UTF-8 instead of refusing the corpus.
    pub lossy: bool,
    /// Windows per batch, instead of the preset's (for small corpora).
    pub batch: Option<usize>,
    /// Tokens per training window, instead of the preset's.
    pub seq_len: Option<usize>,
    /// The device that trains.
    pub device: Device,
    /// How the embedding starts.
    pub embedding_init: EmbeddingInit,
    /// How the GRU and dense layers start.
    pub layer_init: LayerInit,
    /// CPU: data-parallel shards per batch.
    pub shards: usize,
    /// Where each epoch cuts the text into windows.
    pub window_offsets: WindowOffsets,
    /// Continue a pipeline that stopped.
    pub resume: bool,
    /// Replace a pipeline that is there.
    pub force: bool,
}

/// One row of the summary's quality table.
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    /// What was evaluated.
    pub stage: String,
    /// Bytes of the file (an f32 `.egru` for the float stages).
    pub bytes: usize,
    /// Held-out figures, streaming.
    pub held_out: Report,
}

/// Step latency of one engine on the shipped model.
#[derive(Debug, Clone, Serialize)]
pub struct Speed {
    /// Engine and kernel set.
    pub backend: String,
    /// Median microseconds per step.
    pub us_per_step: f64,
}

/// Everything the pipeline measured.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Model configuration.
    pub preset: Preset,
    /// Optimizer steps of training and of pruning.
    pub train_steps: u64,
    /// Optimizer steps of the pruning fine-tune (0: not pruned).
    pub prune_steps: u64,
    /// Wall-clock seconds of training plus pruning.
    pub train_seconds: f64,
    /// Fraction of prunable weights that are zero in the shipped model.
    pub sparsity: f32,
    /// Quality and size, trained f32 -> pruned f32 -> shipped.
    pub stages: Vec<Stage>,
    /// Bytes of `model.egru`.
    pub egru_bytes: usize,
    /// Bytes of `model.onnx`.
    pub onnx_bytes: usize,
    /// Session arena of `model.egru`, bytes.
    pub arena_bytes: usize,
    /// Native f32 runtime vs tract on `model.onnx`, greedy from held-out text.
    pub parity: Agreement,
    /// Step latency: native on `model.egru`, tract on `model.onnx`.
    pub speed: Vec<Speed>,
    /// The checkpoint that shipped (the best validation of the last stage) and its step.
    pub shipped_from: String,
}

/// Greedy tokens compared between the native runtime and tract.
const PARITY_TOKENS: usize = 200;
/// Largest logit difference accepted between the native f32 runtime and tract.
const PARITY_TOLERANCE: f32 = 1e-4;

/// A pipeline running: its settings, the stop flag its training runs
/// watch, and where progress goes.
struct Running<'p> {
    cfg: &'p PipelineConfig,
    stop: Arc<AtomicBool>,
    progress: &'p mut dyn Progress,
}

impl Running<'_> {
    /// A line of progress: a stage's banner, a file written.
    fn note(&mut self, line: &str) {
        self.progress.note(line);
    }

    /// The training run of a stage: continued from its checkpoint when
    /// resuming, else a new run with `config`; `None` when it was interrupted.
    fn stage(&mut self, dir: &Path, config: impl FnOnce() -> Result<(TrainConfig, Option<Checkpoint>)>) -> Result<Option<Checkpoint>> {
        let saved = checkpoint::path_in(dir);
        let (config, resume) = if self.cfg.resume && saved.is_file() {
            let ck = Checkpoint::load(dir)?;
            if ck.config.steps.is_some_and(|s| ck.optimizer.step >= s) {
                self.note(&format!("{} has finished its {} steps", dir.display(), ck.optimizer.step));
                return Ok(Some(Checkpoint::load(&checkpoint::locate(dir, Which::Best))?));
            }
            (ck.config.clone(), Some(ck))
        } else {
            run::prepare_out(dir, OutMode::Replace)?;
            config()?
        };
        let outcome = run::train(config, dir, resume, self.stop.clone(), &mut *self.progress)?;
        self.note(&outcome.describe(dir));
        if outcome.ending == Ending::Interrupted {
            let out = self.cfg.out.display();
            self.note(&format!("continue the pipeline with `edgegru pipeline --resume --out {out}`"));
            return Ok(None);
        }
        Ok(Some(Checkpoint::load(&checkpoint::locate(dir, Which::Best))?))
    }
}

/// Runs the pipeline, reporting progress to `progress`, and returns what it
/// measured (also written to `summary.md` and `summary.json` in the output
/// folder), or `None` when a stage was interrupted (`stop` set). Fails when
/// tract and the native runtime disagree on the exported model.
pub fn run(cfg: &PipelineConfig, stop: Arc<AtomicBool>, progress: &mut dyn Progress) -> Result<Option<Summary>> {
    check_out(cfg)?;
    if !cfg.resume {
        std::fs::create_dir_all(&cfg.out).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", cfg.out.display()))?;
        write_file(&cfg.out.join(SETTINGS_FILE), serde_json::to_string_pretty(cfg)?.as_bytes())?;
    }
    let mut p = Running { cfg, stop, progress };
    let started = Instant::now();
    let trained = train_stage(&mut p).inspect_err(|_| {
        // A pipeline that failed to start leaves nothing behind.
        if !cfg.resume && !cfg.out.join("run").exists() {
            let _ = std::fs::remove_file(cfg.out.join(SETTINGS_FILE));
            let _ = std::fs::remove_dir(&cfg.out);
        }
    })?;
    let Some(trained) = trained else { return Ok(None) };
    let Some((last, prune_steps)) = prune_stage(&mut p, &trained, started)? else { return Ok(None) };
    // Training time in all, this invocation's and any before a --resume.
    let elapsed = |dir: &str| -> Result<f64> { Ok(History::read(&cfg.out.join(dir))?.last().map_or(0.0, |r| r.elapsed_sec)) };
    let train_seconds = elapsed("run")? + elapsed("run-pruned")?;

    p.note("\n==> 3/4 quantizing and exporting");
    let pruning = cfg.prune_to > 0.0;
    let shipped = export::to_egru(&last, &export::options(WeightKind::Int8, pruning, cfg.integer), "model")?;
    let onnx = edgegru_onnx::to_bytes(&export::float_model(&last, "model")?, OnnxWeights::Float)?;
    for (name, bytes) in [("model.egru", &shipped), ("model.onnx", &onnx)] {
        let path = cfg.out.join(name);
        write_file(&path, bytes)?;
        p.note(&format!("wrote {} ({} bytes)", path.display(), bytes.len()));
    }

    p.note("\n==> 4/4 verifying: held-out loss, native vs tract, sizes, speed");
    let summary = verify(cfg, &trained, &last, prune_steps, train_seconds, &shipped, &onnx)?;
    let table = render(&summary, &cfg.out);
    p.note(&format!("\n{table}"));
    write_file(&cfg.out.join("summary.md"), table.as_bytes())?;
    write_file(&cfg.out.join("summary.json"), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    if !summary.parity.identical || summary.parity.max_logit_diff > PARITY_TOLERANCE {
        bail!(
            "tract and the native runtime disagree on model.onnx: {}/{} greedy tokens equal, max logit difference {:.2e}",
            summary.parity.equal_tokens,
            summary.parity.tokens,
            summary.parity.max_logit_diff
        );
    }
    Ok(Some(summary))
}

impl PipelineConfig {
    /// With `resume`, the settings the pipeline in `out` was started with
    /// (kept in its folder); only where and how fast it runs may change.
    pub fn resolved(self) -> Result<Self> {
        let saved = self.out.join(SETTINGS_FILE);
        if !(self.resume && saved.is_file()) {
            return Ok(self);
        }
        let mine: PipelineConfig = serde_json::from_slice(&read_file(&saved)?)
            .map_err(|e| anyhow::anyhow!("{} is not a pipeline's settings: {e}", saved.display()))?;
        Ok(PipelineConfig { out: self.out, threads: self.threads, device: self.device, resume: true, force: false, ..mine })
    }
}

/// The settings are sane, and `--out` holds no other work (unless
/// `--force`), or holds the pipeline `--resume` continues.
fn check_out(cfg: &PipelineConfig) -> Result<()> {
    if !(0.0..1.0).contains(&cfg.prune_to) {
        bail!("--prune-to must be in [0, 1)");
    }
    if let Budget::Minutes(m) = cfg.budget {
        if !(m.is_finite() && m > 0.0) {
            bail!("--minutes must be a positive number");
        }
    }
    let trained_dir = cfg.out.join("run");
    if cfg.resume {
        if !checkpoint::path_in(&trained_dir).is_file() {
            bail!("{} holds no pipeline to resume (no run/ checkpoint)", cfg.out.display());
        }
    } else if trained_dir.exists() || cfg.out.join("model.egru").exists() {
        if !cfg.force {
            bail!("{} holds a pipeline; pass --force to replace it, or --resume to continue it", cfg.out.display());
        }
    } else if cfg.out.is_file() {
        bail!("{} is a file; give --out a folder", cfg.out.display());
    }
    Ok(())
}

/// Stage 1: trains the preset into `out/run` (None: interrupted).
fn train_stage(p: &mut Running<'_>) -> Result<Option<Checkpoint>> {
    let cfg = p.cfg;
    let trained_dir = cfg.out.join("run");
    let pruning = cfg.prune_to > 0.0;
    p.note(&format!("\n==> 1/4 training config {:?} -> {}", cfg.preset, trained_dir.display()));
    p.stage(&trained_dir, || {
        let mut config = cfg.preset.train_config(&cfg.corpus, cfg.lossy, cfg.threads, cfg.seed);
        config.device = cfg.device;
        config.embedding_init = cfg.embedding_init;
        config.layer_init = cfg.layer_init;
        config.shards = cfg.shards;
        config.window_offsets = cfg.window_offsets;
        config.batch = cfg.batch.unwrap_or(config.batch);
        config.seq_len = cfg.seq_len.unwrap_or(config.seq_len);
        match cfg.budget {
            Budget::Minutes(m) => config.minutes = Some(if pruning { m * 0.7 } else { m }),
            Budget::Steps(n) => {
                config.steps = Some(n);
                config.optimizer.decay = Decay::Cosine;
                config.optimizer.min_lr = config.optimizer.lr * 0.1;
            }
        }
        Ok((config, None))
    })
}

/// Stage 2: prunes while fine-tuning into `out/run-pruned`, or passes the
/// trained checkpoint on with `--prune-to 0`; returns the last checkpoint
/// and the pruning steps (None: interrupted).
fn prune_stage(p: &mut Running<'_>, trained: &Checkpoint, started: Instant) -> Result<Option<(Checkpoint, u64)>> {
    let cfg = p.cfg;
    if cfg.prune_to <= 0.0 {
        p.note("\n==> 2/4 pruning: skipped (--prune-to 0)");
        return Ok(Some((trained.clone(), 0)));
    }
    let pruned_dir = cfg.out.join("run-pruned");
    let train_steps = trained.optimizer.step;
    let steps = match cfg.budget {
        Budget::Steps(n) => (n / 2).max(1),
        Budget::Minutes(m) => {
            let per_second = train_steps as f64 / started.elapsed().as_secs_f64().max(1e-3);
            ((per_second * m * 0.3 * 60.0) as u64).max(1)
        }
    };
    p.note(&format!("\n==> 2/4 pruning to {:.0}% block sparsity over {steps} steps -> {}", cfg.prune_to * 100.0, pruned_dir.display()));
    let pruned = p.stage(&pruned_dir, || {
        let mut config = TrainConfig::fine_tune(trained, steps, None);
        let every = (steps / 40).clamp(1, 50);
        let end = train_steps + (steps * 7 / 10).max(1);
        config.prune = Some(PruneConfig::new(cfg.prune_to, "", train_steps, end, every, true, PruneShape::Block)?);
        Ok((config, Some(trained.clone())))
    })?;
    Ok(pruned.map(|p| {
        let done = p.optimizer.step - train_steps;
        (p, done)
    }))
}

/// Stage 4: held-out loss of each stage, native vs tract greedy decoding on
/// the ONNX file, sizes and speed.
fn verify(
    cfg: &PipelineConfig,
    trained: &Checkpoint,
    last: &Checkpoint,
    prune_steps: u64,
    train_seconds: f64,
    shipped: &[u8],
    onnx: &[u8],
) -> Result<Summary> {
    let pruning = cfg.prune_to > 0.0;
    let c = &last.config;
    let text = data::read_corpus(&c.corpus, if c.lossy { Utf8Policy::Lossy } else { Utf8Policy::Strict })?;
    let val_split = c.val_split;
    let last_f32 = export::to_f32_egru(last, "model")?;
    let mut stages = Vec::new();
    if pruning {
        let dense = export::to_f32_egru(trained, "model")?;
        stages.push(Stage { stage: "f32, trained".into(), bytes: dense.len(), held_out: evaluate::evaluate(&dense, &text, val_split)? });
    }
    let pruned_name = if pruning { format!("f32, {:.0}% pruned", cfg.prune_to * 100.0) } else { "f32, trained".into() };
    stages.push(Stage { stage: pruned_name, bytes: last_f32.len(), held_out: evaluate::evaluate(&last_f32, &text, val_split)? });
    let model = Model::from_bytes(shipped)?;
    let shipped_name =
        format!("model.egru: int8{}, {}", if pruning { " block-sparse" } else { "" }, if cfg.integer { "integer-only" } else { "hybrid" });
    stages.push(Stage { stage: shipped_name, bytes: shipped.len(), held_out: evaluate::evaluate(shipped, &text, val_split)? });
    let prompt = held_out_prompt(&model, &text, val_split)?;
    let parity = with_session(Backend::Native, &last_f32, None, |native| {
        with_session(Backend::Tract, onnx, None, |tract| compare_greedy(native, tract, &prompt, PARITY_TOKENS))
    })?;
    let targets = [
        bench::Target { name: "model.egru", backend: Backend::Native, isa: None, model: shipped },
        bench::Target { name: "model.onnx", backend: Backend::Tract, isa: None, model: onnx },
    ];
    let speed = bench::run(&targets, 1000, 5)?.into_iter().map(|r| Speed { backend: r.backend, us_per_step: r.us_per_step }).collect();
    Ok(Summary {
        preset: cfg.preset,
        train_steps: trained.optimizer.step,
        prune_steps,
        train_seconds,
        sparsity: last.masks.as_ref().map_or(0.0, |m| m.sparsity()),
        stages,
        egru_bytes: shipped.len(),
        onnx_bytes: onnx.len(),
        arena_bytes: model.arena_size(),
        parity,
        speed,
        shipped_from: format!(
            "{} (step {})",
            checkpoint::locate(&cfg.out.join(if pruning { "run-pruned" } else { "run" }), Which::Best).display(),
            last.optimizer.step
        ),
    })
}

/// The first 16 tokens of the held-out split: the parity run's prompt.
fn held_out_prompt(model: &Model<'_>, text: &str, val_split: f64) -> Result<Vec<u32>> {
    let tok = model.tokenizer().ok_or_else(|| anyhow::anyhow!("the pipeline trains language models"))?;
    let ids: Vec<u32> = tok.encode_iter(text).collect::<Result<_, _>>()?;
    let (_, held_out) = data::split_tail(&ids, val_split);
    if held_out.is_empty() {
        bail!("the held-out split is empty: raise the validation split or use a longer corpus");
    }
    Ok(held_out[..held_out.len().min(16)].to_vec())
}

/// The summary as a Markdown table, with the next commands to run.
fn render(s: &Summary, out: &Path) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "edgegru pipeline, config {:?}: {} training steps + {} pruning steps in {:.0} s; shipped sparsity {:.1}%\n",
        s.preset,
        s.train_steps,
        s.prune_steps,
        s.train_seconds,
        s.sparsity * 100.0
    );
    let base = s.stages.first().map_or(f64::NAN, |r| r.held_out.loss);
    let f32_bytes = s.stages.first().map_or(0, |r| r.bytes);
    let _ = writeln!(t, "| stage | bytes | vs f32 size | held-out loss | perplexity | accuracy | vs trained f32 |");
    let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|---:|");
    for r in &s.stages {
        let _ = writeln!(
            t,
            "| {} | {} | {:.1}% | {:.4} | {:.3} | {:.4} | {:+.2}% |",
            r.stage,
            r.bytes,
            100.0 * r.bytes as f64 / f32_bytes.max(1) as f64,
            r.held_out.loss,
            r.held_out.perplexity,
            r.held_out.accuracy,
            100.0 * (r.held_out.loss / base - 1.0)
        );
    }
    let _ = writeln!(
        t,
        "| model.onnx: float step graph | {} | {:.1}% | | | | |",
        s.onnx_bytes,
        100.0 * s.onnx_bytes as f64 / f32_bytes.max(1) as f64
    );
    let _ = writeln!(t);
    let _ = writeln!(t, "- shipped from {}, the checkpoint with the best validation loss", s.shipped_from);
    let _ = writeln!(t, "- arena (RAM for one session of model.egru): {} bytes", s.arena_bytes);
    let _ = writeln!(
        t,
        "- native f32 vs tract on model.onnx: {}/{} greedy tokens equal, max logit difference {:.2e}",
        s.parity.equal_tokens, s.parity.tokens, s.parity.max_logit_diff
    );
    for sp in &s.speed {
        let _ = writeln!(t, "- {}: {:.2} µs/step ({:.0} tokens/s), one thread", sp.backend, sp.us_per_step, 1e6 / sp.us_per_step);
    }
    let _ = writeln!(t);
    let model = out.join("model.egru");
    let _ = writeln!(t, "Next: `edgegru generate --model {} --prompt \"...\"`; `edgegru inspect {0}`;", model.display());
    let _ =
        writeln!(t, "on a device, link libedgegru and pass it the bytes of {} (README: \"Link it into your firmware\").", model.display());
    t
}
