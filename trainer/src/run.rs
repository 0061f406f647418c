//! A training run: [`Run::start`] prepares the data, the network and the
//! engine (or continues a checkpoint), [`Run::step`] takes one optimizer step
//! (logging, validating, pruning and checkpointing when due), and
//! [`Run::finish`] validates and writes the last checkpoint. [`train`] runs
//! one to its end: a step, epoch or time limit, a stop request (Ctrl-C,
//! SIGTERM), or a non-finite loss.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use edgegru_runtime::Fill;

use crate::best::{Best, BestTracker, Verdict, BEST_DIR};
use crate::checkpoint::{self, Checkpoint};
use crate::config::{Task, TokenizerChoice, TrainConfig};
use crate::data::{self, Columns, FeatureStats, LabelKind, ReadOptions, Sequences, TargetStats, Utf8Policy};
use crate::engine::{self, CpuParallelism, Engine, StepResult};
use crate::feed::{Feed, SequenceFeed, TextFeed};
use crate::history::{History, Record};
use crate::network::NetSpec;
use crate::optim::{Decay, Optimizer, OptimizerConfig, Update};
use crate::params::Params;
use crate::prune::Masks;
use crate::tokenize::{Vocabulary, WordOptions};

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

/// What a run is about to do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Training positions (tokens, or sequences).
    pub train_tokens: usize,
    /// Validation positions.
    pub val_tokens: usize,
    /// Optimizer steps per epoch.
    pub steps_per_epoch: u64,
    /// Step the run starts at (non-zero when resuming).
    pub first_step: u64,
    /// Where the validation data comes from (a file, the corpus' tail, a stratified split).
    pub validation: String,
    /// Regression: the targets' standard deviation (validation RMSE in the data's units is
    /// `sqrt(2 * val_loss) * target_std`).
    pub target_std: Option<f32>,
}

/// Receives progress while training.
pub trait Progress {
    /// Called once the network is known, before the first step.
    fn start(&mut self, net: &NetSpec, config: &TrainConfig, plan: &Plan);
    /// Called after each optimizer step.
    fn step(&mut self, step: u64, total: Option<u64>, loss: f64, tokens_per_sec: f64, eta_sec: Option<f64>);
    /// Called with each history row.
    fn record(&mut self, r: &Record);
    /// A line worth showing (pruning updates, warnings).
    fn note(&mut self, _line: &str) {}
    /// Called once the run is over, with its last history row.
    fn end(&mut self, _last: Option<&Record>) {}
}

/// What a training run reports, one event at a time (for [`ProgressFn`]).
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// The network and the data are known; no step yet.
    Start {
        /// The network.
        net: &'a NetSpec,
        /// The run's size.
        plan: &'a Plan,
    },
    /// An optimizer step was taken.
    Step {
        /// Steps taken in all.
        step: u64,
        /// The step limit, when there is one.
        total: Option<u64>,
        /// This step's training loss.
        loss: f64,
        /// Training throughput since the last history row.
        tokens_per_sec: f64,
        /// Estimated seconds left, when the limit is in steps.
        eta_sec: Option<f64>,
    },
    /// A history row (with validation figures at epoch ends and checkpoints).
    Record(&'a Record),
    /// A line worth showing (pruning updates).
    Note(&'a str),
}

/// [`Progress`] from a closure: what a face without a console (the Python
/// package, a test) passes to [`train`].
pub struct ProgressFn<F: FnMut(Event<'_>)>(pub F);

impl<F: FnMut(Event<'_>)> Progress for ProgressFn<F> {
    fn start(&mut self, net: &NetSpec, _: &TrainConfig, plan: &Plan) {
        (self.0)(Event::Start { net, plan });
    }

    fn step(&mut self, step: u64, total: Option<u64>, loss: f64, tokens_per_sec: f64, eta_sec: Option<f64>) {
        (self.0)(Event::Step { step, total, loss, tokens_per_sec, eta_sec });
    }

    fn record(&mut self, r: &Record) {
        (self.0)(Event::Record(r));
    }

    fn note(&mut self, line: &str) {
        (self.0)(Event::Note(line));
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The step, epoch or time limit was reached.
    Finished,
    /// Validation had not improved for `--patience` validations.
    EarlyStopped,
    /// Stopped by the user (Ctrl-C or SIGTERM); a checkpoint was written.
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
    /// Final validation loss.
    pub val_loss: Option<f64>,
    /// Final validation accuracy.
    pub val_accuracy: Option<f64>,
    /// The best validation, whose checkpoint is in `best/`.
    pub best: Option<Best>,
}

impl Outcome {
    /// One line saying how the run in `out` ended, and where its best checkpoint is.
    pub fn describe(&self, out: &Path) -> String {
        let best = match self.best {
            Some(b) => format!("; the best val_loss, {:.4}, at step {}, is in {}", b.val_loss, b.step, out.join(BEST_DIR).display()),
            None => String::new(),
        };
        match self.ending {
            Ending::Interrupted => format!("interrupted at step {}: checkpoint written to {}{best}", self.steps, out.display()),
            Ending::Finished | Ending::EarlyStopped => format!(
                "{}: {} steps, val_loss {}{}; checkpoint, history.csv/json, loss.svg and tensorboard/ in {}{best}",
                if self.ending == Ending::EarlyStopped { "stopped early" } else { "done" },
                self.steps,
                self.val_loss.map_or("n/a".into(), |v| format!("{v:.4}")),
                self.val_accuracy.map_or(String::new(), |a| format!(", val_acc {a:.4}")),
                out.display()
            ),
        }
    }
}

/// How the output folder may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutMode {
    /// A new run: the folder must not hold another run or be a file.
    New,
    /// Replace a run that is there (`--force`): its checkpoint, history and
    /// TensorBoard files are removed first (nothing else in the folder).
    Replace,
    /// Continue the run that is there (`--resume`).
    Continue,
}

/// Files a run writes into its folder.
const RUN_FILES: [&str; 6] = [checkpoint::FILE_NAME, "history.csv", "history.json", "loss.svg", "tensorboard", BEST_DIR];

/// Checks (and for `Replace`, clears) the output folder before anything is written.
pub fn prepare_out(out: &Path, mode: OutMode) -> Result<()> {
    if out.is_file() {
        bail!("{} is a file, not a run folder; give --out a folder", out.display());
    }
    let holds_run = RUN_FILES.iter().any(|f| out.join(f).exists());
    match mode {
        OutMode::New if holds_run => {
            bail!("{} holds another run; pass --force to replace it, or --resume {0} to continue it", out.display())
        }
        OutMode::New if out.exists() && std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(false) => {
            bail!("{} is not empty; give a new folder, or pass --force to write into it", out.display())
        }
        OutMode::Replace => {
            for f in RUN_FILES {
                let p = out.join(f);
                let removed = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
                if let Err(e) = removed {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        return Err(e).with_context(|| format!("cannot remove {}", p.display()));
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Threads the run may use: `--threads`, or every core for 0.
fn thread_budget(config: &TrainConfig) -> usize {
    match config.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// Shards from the configuration, computed on as many threads as the budget
/// allows, at most one per shard; each shard's products get the rest.
fn cpu_parallelism(config: &TrainConfig) -> CpuParallelism {
    let budget = thread_budget(config);
    let workers = budget.min(config.shards).max(1);
    CpuParallelism { shards: config.shards, workers, gemm_threads: (budget / workers).max(1) }
}

/// Memory the machine can still give (Linux `MemAvailable`), if known.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

/// Bytes a run of `net` needs at least (weights, gradients, optimizer moments
/// and each shard's copies, plus the activations of one batch), computed
/// without overflow; refuses the run before allocating when the machine
/// cannot give them.
pub fn check_memory(net: &NetSpec, config: &TrainConfig, seq: usize) -> Result<()> {
    let need = || -> Option<u128> {
        let params = net.count() as u128;
        let shards = config.shards.max(1) as u128;
        let rows = (config.batch as u128).checked_mul(seq as u128)?;
        let widths: u128 = net.grus.iter().map(|&h| 14 * h as u128).sum::<u128>()
            + net.dense.iter().map(|d| 2 * d.width as u128).sum::<u128>()
            + 2 * net.outputs() as u128
            + 2 * net.input_width() as u128;
        Some(4 * (params * (4 + 2 * shards) + rows.checked_mul(widths)?))
    };
    let Some(bytes) = need() else { bail!("this network and batch do not fit in memory (their size overflows)") };
    if let Some(avail) = available_memory() {
        if bytes > avail as u128 {
            bail!(
                "this network and batch need at least {bytes} bytes ({:.1} GiB), the machine has {avail} bytes available; lower --hidden, --dense, --emb, --batch or --seq-len",
                bytes as f64 / (1u64 << 30) as f64
            );
        }
    }
    Ok(())
}

/// The training and validation data of a run, ready to batch.
struct Prepared {
    feed: Box<dyn Feed>,
    net: NetSpec,
    vocab: Option<Vocabulary>,
    features: Option<FeatureStats>,
    labels: Vec<String>,
    targets: Option<TargetStats>,
    /// Where the validation data comes from.
    validation: String,
}

/// Size and CRC-32 of the training data (to check a corpus moved elsewhere).
fn fingerprint(bytes: &[u8]) -> String {
    format!("{} bytes, crc32 {:08x}", bytes.len(), edgegru_runtime::crc32::crc32(bytes))
}

fn prepare(config: &TrainConfig, resume: Option<&Checkpoint>) -> Result<(Prepared, String)> {
    match config.task {
        Task::Lm => prepare_text(config, resume),
        Task::Classify | Task::Regress => prepare_sequences(config, resume),
    }
}

/// A language model's data: the corpus, its vocabulary (fitted, or the
/// resumed run's), the tail held out.
fn prepare_text(config: &TrainConfig, resume: Option<&Checkpoint>) -> Result<(Prepared, String)> {
    let text = data::read_corpus(&config.corpus, if config.lossy { Utf8Policy::Lossy } else { Utf8Policy::Strict })?;
    let print = fingerprint(text.as_bytes());
    let vocab = match resume.and_then(|c| c.vocab.clone()) {
        Some(v) => v,
        None => match config.tokenizer {
            TokenizerChoice::Char => Vocabulary::fit_chars(&text)?,
            TokenizerChoice::Word => Vocabulary::fit_words(&text, &WordOptions { num_words: config.num_words, ..WordOptions::default() })?,
        },
    };
    let ids = vocab.encode(&text).map_err(|e| {
        let at = match vocab.tokenizer().count_tokens(&text) {
            Err(edgegru_runtime::Error::UnknownToken { offset, .. }) => data::position(&config.corpus, &text, offset),
            _ => config.corpus.display().to_string(),
        };
        let why = if resume.is_some() { " (a resumed run keeps its vocabulary; this corpus has characters it lacks)" } else { "" };
        e.context(format!("{at}{why}"))
    })?;
    let (train, val) = data::split_tail(&ids, config.val_split);
    let net = config.network(vocab.len(), 0, 0);
    let feed = TextFeed::new(train.to_vec(), val.to_vec(), config.seq_len, config.batch, config.window_offsets, config.seed)?;
    let validation = format!("the last {:.0}% of the corpus (--val-split)", config.val_split * 100.0);
    let prepared =
        Prepared { feed: Box::new(feed), net, vocab: Some(vocab), features: None, labels: Vec::new(), targets: None, validation };
    Ok((prepared, print))
}

/// A classifier's or regressor's data: the training sequences, the
/// validation ones (`--val-data`, or the last `--val-split`), the feature
/// and target normalization (fitted, or the resumed run's).
fn prepare_sequences(config: &TrainConfig, resume: Option<&Checkpoint>) -> Result<(Prepared, String)> {
    let print = fingerprint(&std::fs::read(&config.corpus).with_context(|| format!("cannot read {}", config.corpus.display()))?);
    let regression = config.task == Task::Regress;
    let resumed = resume.and_then(|c| c.features.clone());
    let names = resumed.as_ref().map(|s| s.names.clone());
    let labels = if regression { LabelKind::Targets } else { LabelKind::Classes };
    let options = ReadOptions { labels, columns: &config.columns, features: names.as_deref() };
    let all = data::read_sequences(&config.corpus, &options)?;
    check_labels(&all, &config.corpus, regression)?;
    let (mut train, mut val) = match &config.val_data {
        Some(path) => (all.clone(), read_validation(path, &all, &config.columns, labels, &config.corpus)?),
        None => all.split(config.val_split, config.seed),
    };
    let validation = match &config.val_data {
        Some(path) => format!("{}", path.display()),
        None => format!(
            "{} {:.0}% of {} (--val-split, drawn by --seed {})",
            if regression { "a shuffled" } else { "a stratified" },
            config.val_split * 100.0,
            config.corpus.display(),
            config.seed
        ),
    };
    let stats = resumed.unwrap_or_else(|| FeatureStats::of(&train, config.fill));
    for (s, path) in [(&mut train, &config.corpus), (&mut val, config.val_data.as_ref().unwrap_or(&config.corpus))] {
        refuse_missing(s, path, stats.fill)?;
        s.fill_missing(stats.fill, &stats.mean);
    }
    let targets = regression.then(|| resume.and_then(|c| c.targets).unwrap_or_else(|| TargetStats::of(&train.targets)));
    let labels = match (resume, regression) {
        (Some(c), _) => c.labels.clone(),
        (None, true) => vec!["target".to_string()],
        (None, false) => train.classes.clone(),
    };
    let net = config.network(0, train.channels, labels.len());
    let feed = SequenceFeed::new(&train, &val, &stats, targets, config.batch, config.seed)?;
    Ok((Prepared { feed: Box::new(feed), net, vocab: None, features: Some(stats), labels, targets, validation }, print))
}

/// Refuses training data without the labels the task needs.
fn check_labels(all: &Sequences, path: &Path, regression: bool) -> Result<()> {
    if !all.is_labelled() {
        bail!(
            "{} has no labels (@classLabel false, or no label column); training needs them (`edgegru predict` reads unlabelled data)",
            path.display()
        );
    }
    if all.is_regression() != regression {
        let (has, want) = if all.is_regression() { ("target values", "regress") } else { ("class labels", "classify") };
        bail!("{} holds {has}: train it with --task {want}", path.display());
    }
    Ok(())
}

/// `--val-data`, read with the training data's feature names and checked against it.
fn read_validation(path: &Path, all: &Sequences, columns: &Columns, labels: LabelKind, corpus: &Path) -> Result<Sequences> {
    let by_name = !all.names.is_empty() && !data::sequences::is_ts(path);
    let options = ReadOptions { labels, columns, features: by_name.then_some(&all.names[..]) };
    let val = data::read_sequences(path, &options)?;
    if val.channels != all.channels {
        bail!("{} has {} features per step, the training data {} has {}", path.display(), val.channels, corpus.display(), all.channels);
    }
    if val.is_regression() != all.is_regression() || !val.is_labelled() {
        bail!(
            "{} does not hold the labels {} holds ({})",
            path.display(),
            corpus.display(),
            if all.is_regression() { "target values" } else { "classes" }
        );
    }
    val.relabel(&all.classes)
}

/// Refuses missing values when the run does not fill them, naming the first.
fn refuse_missing(s: &Sequences, path: &Path, fill: Fill) -> Result<()> {
    if fill != Fill::Refuse {
        return Ok(());
    }
    let c = s.channels.max(1);
    for (k, series) in s.series.iter().enumerate() {
        if let Some(at) = series.iter().position(|v| v.is_nan()) {
            let name = s.names.get(at % c).map_or(format!("feature {}", at % c), |n| format!("feature {n:?}"));
            let id = s.ids.get(k).map_or(format!("sequence {k}"), |i| format!("sequence {i:?}"));
            bail!(
                "{}: {} missing values, the first in {id}, step {}, {name}; pass --fill zero, mean or previous to fill them (the model then fills them the same way on the device)",
                path.display(),
                s.missing(),
                at / c
            );
        }
    }
    Ok(())
}

/// Loss, accuracy and tokens of the steps since the last history row.
struct Window {
    loss: f64,
    correct: usize,
    tokens: usize,
    started: Instant,
}

impl Window {
    fn new() -> Self {
        Window { loss: 0.0, correct: 0, tokens: 0, started: Instant::now() }
    }

    fn tokens_per_sec(&self) -> f64 {
        self.tokens as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }
}

/// A training run in progress.
pub struct Run<'p> {
    config: TrainConfig,
    out: PathBuf,
    feed: Box<dyn Feed>,
    engine: Box<dyn Engine>,
    history: History,
    masks: Option<Masks>,
    vocab: Option<Vocabulary>,
    features: Option<FeatureStats>,
    labels: Vec<String>,
    targets: Option<TargetStats>,
    step: u64,
    first_step: u64,
    total_steps: Option<u64>,
    per_epoch: u64,
    schedule: TimeSchedule,
    started: Instant,
    elapsed_before: f64,
    window: Window,
    losses: Vec<f64>,
    last_update: Option<Update>,
    best: BestTracker,
    ending: Ending,
    stop: Arc<AtomicBool>,
    progress: &'p mut dyn Progress,
}

impl<'p> Run<'p> {
    /// Prepares a run (or the continuation of `resume`) writing into `out`.
    /// Nothing is written until the data, the network and the device are ready.
    pub fn start(
        mut config: TrainConfig,
        out: &Path,
        resume: Option<Checkpoint>,
        stop: Arc<AtomicBool>,
        progress: &'p mut dyn Progress,
    ) -> Result<Self> {
        config.validate()?;
        let (prepared, print) = prepare(&config, resume.as_ref())?;
        // A resumed run's data (maybe read from another path) must be what it trained on.
        match (&resume, &config.data_fingerprint) {
            (Some(_), Some(want)) if *want != print => {
                bail!("{} is not the data this run trained on ({want}; found {print})", config.corpus.display())
            }
            _ => config.data_fingerprint = Some(print),
        }
        let Prepared { feed, net, vocab, features, labels, targets, validation } = prepared;
        net.validate()?;
        let seq = if config.task.reads_sequences() { 1024 } else { config.seq_len };
        check_memory(&net, &config, seq.min(4096))?;
        if let Some(pc) = &config.prune {
            pc.check_groups(&net)?;
        }
        let per_epoch = feed.steps_per_epoch();
        let total_steps = match (config.steps, config.epochs) {
            (Some(s), Some(e)) => Some(s.min(e * per_epoch)),
            (s, e) => s.or(e.map(|e| e * per_epoch)),
        };
        if let Some(ck) = &resume {
            at_its_end(&config, ck, total_steps)?;
        }
        let mut opt_config = config.optimizer;
        opt_config.total_steps = total_steps;
        let (params, optimizer, masks) = initial_state(&config, &net, opt_config, resume)?;
        let first_step = optimizer.step;
        // The device first: a missing GPU is reported before anything is written.
        let engine = engine::create(config.device, config.precision, params, optimizer, masks.clone(), cpu_parallelism(&config))?;
        let (train_tokens, val_tokens) = feed.sizes();
        let target_std = targets.map(|t| t.std);
        progress.start(&net, &config, &Plan { train_tokens, val_tokens, steps_per_epoch: per_epoch, first_step, validation, target_std });
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        let history = History::open(out, first_step)?;
        let elapsed_before = history.records.last().map_or(0.0, |r| r.elapsed_sec);
        let has_best = checkpoint::path_in(&out.join(BEST_DIR)).is_file();
        let best = BestTracker::new(config.patience, config.prune.as_ref().map_or(0, |p| p.end), &history.records, has_best);
        let schedule = TimeSchedule::new(config.minutes, opt_config.decay, total_steps, first_step, elapsed_before);
        Ok(Run {
            config,
            out: out.to_path_buf(),
            feed,
            engine,
            history,
            masks,
            vocab,
            features,
            labels,
            targets,
            step: first_step,
            first_step,
            total_steps,
            per_epoch,
            schedule,
            started: Instant::now(),
            elapsed_before,
            window: Window::new(),
            losses: Vec::new(),
            last_update: None,
            best,
            ending: Ending::Finished,
            stop,
            progress,
        })
    }

    fn elapsed(&self) -> f64 {
        self.elapsed_before + self.started.elapsed().as_secs_f64()
    }

    /// Takes one optimizer step; returns `false` (and takes none) when a
    /// limit is reached or a stop was asked for.
    pub fn step(&mut self) -> Result<bool> {
        let c = &self.config;
        if self.total_steps.is_some_and(|t| self.step >= t) || c.minutes.is_some_and(|m| self.elapsed() >= m * 60.0) {
            return Ok(false);
        }
        if self.ending == Ending::EarlyStopped {
            return Ok(false);
        }
        if self.stop.load(Ordering::SeqCst) {
            self.ending = Ending::Interrupted;
            return Ok(false);
        }
        let step = self.step;
        if let Some(total) = self.schedule.estimate(step, self.elapsed()) {
            self.engine.set_schedule_length(Some(total));
        }
        let mask_seed = c.seed ^ step.wrapping_mul(0xA24B_AED4_963E_E407);
        let reg = c.regularization.clone();
        let batch = self.feed.batch(step);
        let StepResult { stats, update } = self.engine.step(&batch, &reg, mask_seed)?;
        let Some(update) = update else {
            let saved = checkpoint::path_in(&self.out);
            let keep = if saved.is_file() {
                format!("the last good checkpoint, {}, is kept", saved.display())
            } else {
                "no checkpoint was written yet".into()
            };
            let what = if stats.loss.is_finite() { "finite but a gradient is not".to_string() } else { format!("{}", stats.loss) };
            bail!("training diverged at step {step}: the loss is {what} (try a lower --lr or --clip); {keep}");
        };
        self.step += 1;
        self.last_update = Some(update);
        self.prune_if_due()?;
        self.losses.push(stats.loss);
        self.window.loss += stats.loss * stats.tokens as f64;
        self.window.correct += stats.correct;
        self.window.tokens += stats.tokens;
        let tps = self.window.tokens_per_sec();
        let eta = self.eta(stats.tokens as f64 / tps.max(1e-9));
        self.progress.step(self.step, self.total_steps, stats.loss, tps, eta);
        let epoch_end = self.step.is_multiple_of(self.per_epoch);
        let checkpoint_now = self.config.checkpoint_every > 0 && self.step.is_multiple_of(self.config.checkpoint_every);
        if self.step.is_multiple_of(self.config.log_every.max(1)) || epoch_end || checkpoint_now {
            self.log(epoch_end || checkpoint_now)?;
        }
        if checkpoint_now {
            self.checkpoint()?;
        }
        Ok(true)
    }

    fn prune_if_due(&mut self) -> Result<()> {
        let (Some(pc), Some(m)) = (&self.config.prune, self.masks.as_mut()) else { return Ok(()) };
        if !pc.updates_at(self.step) {
            return Ok(());
        }
        let (params, _) = self.engine.state()?;
        let groups = m.update(&params, pc, self.step);
        self.engine.set_masks(m)?;
        let line: Vec<String> = groups.iter().map(|p| format!("{} {:.1}%", p.name, p.achieved * 100.0)).collect();
        self.progress.note(&format!("step {}: pruned to {:.1}% sparsity ({})", self.step, m.sparsity() * 100.0, line.join(", ")));
        Ok(())
    }

    /// The history row of the current step (one place builds it), with the
    /// validation figures when `validate`.
    fn log(&mut self, validate: bool) -> Result<()> {
        let val = if validate { Some(self.feed.validate(self.engine.as_mut())?) } else { None }.filter(|s| s.tokens > 0);
        let w = &self.window;
        let loss = w.loss / w.tokens.max(1) as f64;
        let lr = match self.last_update {
            Some(u) => u.lr,
            None => self.config.optimizer.lr_at(self.step.saturating_sub(1)),
        };
        let r = Record {
            step: self.step,
            epoch: self.step as f64 / self.per_epoch as f64,
            loss,
            accuracy: w.correct as f64 / w.tokens.max(1) as f64,
            val_loss: val.map(|s| s.loss),
            val_accuracy: val.map(|s| s.correct as f64 / s.tokens as f64),
            perplexity: val.map_or(loss, |s| s.loss).exp(),
            lr: lr as f64,
            tokens_per_sec: w.tokens_per_sec(),
            elapsed_sec: self.elapsed(),
            sparsity: self.masks.as_ref().map_or(0.0, |m| m.sparsity() as f64),
        };
        self.history.push(r)?;
        self.progress.record(&r);
        self.window = Window::new();
        if let Some(v) = val {
            self.judge(v.loss)?;
        }
        Ok(())
    }

    /// Seconds left: to the step limit at `step_sec` a step, or to the time limit, whichever comes first.
    fn eta(&self, step_sec: f64) -> Option<f64> {
        let by_steps = self.total_steps.map(|t| t.saturating_sub(self.step) as f64 * step_sec);
        let by_time = self.config.minutes.map(|m| (m * 60.0 - self.elapsed()).max(0.0));
        match (by_steps, by_time) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// What the validation loss of this step means: keep it in `best/`,
    /// warn, or stop early.
    fn judge(&mut self, val_loss: f64) -> Result<()> {
        match self.best.update(self.step, val_loss) {
            Verdict::Improved => self.checkpoint_into(&self.out.join(BEST_DIR))?,
            Verdict::Stale(Some(warning)) => self.progress.note(&warning),
            Verdict::Stop(why) => {
                self.progress.note(&why);
                self.ending = Ending::EarlyStopped;
            }
            Verdict::Stale(None) | Verdict::Ignored => {}
        }
        Ok(())
    }

    /// Writes the checkpoint.
    pub fn checkpoint(&mut self) -> Result<()> {
        let out = self.out.clone();
        self.checkpoint_into(&out)
    }

    /// Writes the current state as a checkpoint in `dir`.
    fn checkpoint_into(&mut self, dir: &Path) -> Result<()> {
        let (params, optimizer) = self.engine.state()?;
        Checkpoint {
            config: self.config.clone(),
            vocab: self.vocab.clone(),
            features: self.features.clone(),
            labels: self.labels.clone(),
            targets: self.targets,
            params,
            optimizer,
            masks: self.masks.clone(),
        }
        .save(dir)
    }

    /// Validates (unless the last row already did at this step), writes the
    /// last checkpoint and says how the run ended.
    pub fn finish(mut self) -> Result<Outcome> {
        let last = self.history.records.last().filter(|r| r.step == self.step).copied();
        let (val_loss, val_accuracy) = match last.and_then(|r| r.val_loss.zip(r.val_accuracy)) {
            Some((l, a)) => (Some(l), Some(a)),
            None if self.step > self.first_step => {
                if last.is_some() {
                    let val = self.feed.validate(self.engine.as_mut())?;
                    if val.tokens > 0 {
                        self.history.set_last_validation(val.loss, val.correct as f64 / val.tokens as f64)?;
                        self.judge(val.loss)?;
                    }
                } else {
                    self.log(true)?;
                }
                let r = self.history.records.last().copied();
                (r.and_then(|r| r.val_loss), r.and_then(|r| r.val_accuracy))
            }
            None => {
                let val = self.feed.validate(self.engine.as_mut())?;
                ((val.tokens > 0).then_some(val.loss), (val.tokens > 0).then(|| val.correct as f64 / val.tokens as f64))
            }
        };
        self.checkpoint()?;
        self.progress.end(self.history.records.last());
        let best = self.best.best();
        Ok(Outcome { ending: self.ending, steps: self.step, losses: self.losses, val_loss, val_accuracy, best })
    }
}

/// Trains (or continues `resume`), writing checkpoints and history to `out`.
pub fn train(
    config: TrainConfig,
    out: &Path,
    resume: Option<Checkpoint>,
    stop: Arc<AtomicBool>,
    progress: &mut dyn Progress,
) -> Result<Outcome> {
    let mut run = Run::start(config, out, resume, stop, progress)?;
    while run.step()? {}
    run.finish()
}

/// Refuses to resume a run that has already reached its step or epoch
/// limit (`total_steps`), saying which limit to raise.
fn at_its_end(config: &TrainConfig, ck: &Checkpoint, total_steps: Option<u64>) -> Result<()> {
    let step = ck.optimizer.step;
    if let Some(total) = total_steps.filter(|&t| step >= t) {
        let limits: Vec<String> = [("--steps", config.steps), ("--epochs", config.epochs)]
            .iter()
            .filter_map(|(flag, v)| v.map(|v| format!("{flag} {v}")))
            .collect();
        bail!(
            "the run has already taken {step} steps, its limit ({}, {total} steps): raise it to continue, e.g. --steps {}",
            limits.join(", "),
            step + 1000
        );
    }
    Ok(())
}

/// The weights, optimizer and pruning masks a run starts from: the resumed
/// checkpoint's (whose network must be this configuration's), or new ones.
fn initial_state(
    config: &TrainConfig,
    net: &NetSpec,
    opt_config: OptimizerConfig,
    resume: Option<Checkpoint>,
) -> Result<(Params, Optimizer, Option<Masks>)> {
    let (params, optimizer, mut masks) = match resume {
        Some(c) => {
            if c.params.net != *net {
                bail!("the checkpoint's network ({}) differs from this configuration's ({})", c.params.net.describe(), net.describe());
            }
            let mut o = c.optimizer;
            o.config = opt_config;
            (c.params, o, c.masks)
        }
        None => {
            let p = Params::init_with(net.clone(), config.seed, config.embedding_init, config.layer_init);
            let n = p.data.len();
            (p, Optimizer::new(opt_config, n), None)
        }
    };
    if config.prune.is_some() && masks.is_none() {
        masks = Some(Masks::dense(&params));
    }
    Ok((params, optimizer, masks))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn an_output_folder_holding_a_run_is_refused_unless_forced() {
        let dir = std::env::temp_dir().join(format!("edgegru-out-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("tensorboard")).unwrap();
        std::fs::write(dir.join("history.csv"), "x").unwrap();
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        let err = prepare_out(&dir, OutMode::New).unwrap_err().to_string();
        assert!(err.contains("holds another run") && err.contains("--force"), "{err}");
        prepare_out(&dir, OutMode::Continue).unwrap();
        prepare_out(&dir, OutMode::Replace).unwrap();
        assert!(!dir.join("history.csv").exists() && !dir.join("tensorboard").exists());
        assert!(dir.join("notes.txt").exists(), "files that are not the run's stay");
        assert!(prepare_out(&dir, OutMode::New).unwrap_err().to_string().contains("not empty"));
        assert!(prepare_out(&dir.join("notes.txt"), OutMode::New).unwrap_err().to_string().contains("is a file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sizes_that_cannot_fit_are_refused_before_allocating() {
        let mut config = crate::pipeline::Preset::A.train_config(Path::new("c"), false, 1, 1);
        config.hidden = vec![60_000; 4];
        config.dense = 60_000;
        let net = config.network(5000, 0, 0);
        let err = check_memory(&net, &config, 100).unwrap_err().to_string();
        assert!(err.contains("bytes") && err.contains("--hidden"), "{err}");
    }
}
