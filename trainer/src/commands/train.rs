//! `edgegru train`: its arguments, the Keras-style summary, the progress
//! display, and stopping on Ctrl-C or SIGTERM (with a checkpoint).

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{bail, Context, Result};
use clap::parser::ValueSource;
use clap::ArgMatches;

use super::args::{DataArgs, NetworkArgs, OptimArgs, PruneArgs, RunArgs, WindowArgs};
use super::Status;
use crate::checkpoint::Checkpoint;
use crate::config::{Task, TrainConfig};
use crate::history::Record;
use crate::network::{InputSpec, NetSpec, Slot};
use crate::optim::Decay;
use crate::run::{self, Ending, OutMode, Outcome, Plan, Progress};

/// Train a model (a language model on a corpus, or a sequence classifier), or continue a run with --resume.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  edgegru train --corpus /usr/share/games/fortunes --out runs/a --minutes 20
  edgegru train --corpus notes.txt --out runs/w --tokenizer word --emb 128 --seq-len 32 --epochs 5
  edgegru train --corpus notes.txt --out runs/2 --layers 2 --hidden 192 --dropout 0.1 --steps 3000
  edgegru train --task classify --data BasicMotions_TRAIN.ts --val-data BasicMotions_TEST.ts --out runs/bm --hidden 32 --dense 0 --batch 8 --epochs 200
  edgegru train --resume runs/a --minutes 40")]
pub struct Args {
    /// Run folder: checkpoint, history.csv/json, loss.svg, tensorboard/ (default with --resume: the resumed folder).
    #[arg(long, required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// The training data.
    #[command(flatten)]
    pub data: DataArgs,
    /// The network's sizes.
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Optimizer and regularization.
    #[command(flatten)]
    pub optim: OptimArgs,
    /// Windows and initialization.
    #[command(flatten)]
    pub window: WindowArgs,
    /// How long and where the run trains.
    #[command(flatten)]
    pub run: RunArgs,
    /// Pruning while training.
    #[command(flatten)]
    pub prune: PruneArgs,
}

/// Flags a resumed run may change: its limits, where it runs, and where its data is.
const RESUME_MAY_CHANGE: [&str; 11] =
    ["resume", "out", "corpus", "data", "val_data", "steps", "epochs", "minutes", "device", "precision", "threads"];

/// Flags given on the command line that a resume would ignore (they are the run's own).
fn ignored_on_resume(matches: &ArgMatches) -> Vec<String> {
    // The ids of arguments, not of the groups that flattened flag structs add.
    let command = <Args as clap::Args>::augment_args(clap::Command::new("train"));
    let is_argument = |id: &str| command.get_arguments().any(|a| a.get_id() == id);
    let mut ids: Vec<String> = matches
        .ids()
        .map(|id| id.as_str().to_string())
        .filter(|id| is_argument(id) && !RESUME_MAY_CHANGE.contains(&id.as_str()))
        .filter(|id| matches!(matches.value_source(id), Some(ValueSource::CommandLine)))
        .map(|id| format!("--{}", id.replace('_', "-")))
        .collect();
    ids.sort();
    ids
}

/// Runs `edgegru train`.
pub fn run(a: Args, matches: &ArgMatches) -> Result<Status> {
    if let Some(dir) = &a.data.resume {
        let ignored = ignored_on_resume(matches);
        if !ignored.is_empty() {
            bail!(
                "--resume continues the run with its own settings; these flags would be ignored: {} (leave them out; the limits --steps, --epochs, --minutes, the device, --threads and the data's path may change)",
                ignored.join(", ")
            );
        }
        let ck = Checkpoint::load(dir)?;
        let mut config = ck.config.clone();
        config.device = a.run.device;
        config.precision = a.run.precision;
        config.threads = a.run.threads;
        config.steps = a.run.steps.or(config.steps);
        config.epochs = a.run.epochs.or(config.epochs);
        config.minutes = a.run.minutes.or(config.minutes);
        if let Some(path) = a.data.corpus.as_ref().or(a.data.data.as_ref()) {
            config.corpus = absolute(path)?;
        }
        if let Some(path) = &a.data.val_data {
            config.val_data = Some(absolute(path)?);
        }
        let out = a.out.clone().unwrap_or_else(|| dir.clone());
        run::prepare_out(&out, if out == *dir { OutMode::Continue } else { OutMode::New })?;
        return execute(config, &out, Some(ck));
    }
    let out = a.out.clone().context("--out is required")?;
    let config = config(&a)?;
    run::prepare_out(&out, if a.run.force { OutMode::Replace } else { OutMode::New })?;
    execute(config, &out, None)
}

/// An absolute path (a resumed run finds its data from anywhere).
pub fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

/// The run's configuration from the command line.
fn config(a: &Args) -> Result<TrainConfig> {
    let corpus = match (a.data.task, &a.data.corpus, &a.data.data) {
        (Task::Lm, Some(c), _) => c,
        (Task::Classify, _, Some(d)) => d,
        (Task::Lm, None, _) => bail!("--task lm trains on a text --corpus"),
        (Task::Classify, _, None) => bail!("--task classify trains on labelled sequences: --data FILE.ts (or CSV)"),
    };
    let config = TrainConfig {
        corpus: absolute(corpus)?,
        task: a.data.task,
        val_data: a.data.val_data.as_deref().map(absolute).transpose()?,
        lossy: a.data.lossy,
        tokenizer: a.network.tokenizer,
        num_words: a.network.num_words,
        emb: a.network.emb,
        hidden: a.network.widths()?,
        dense: a.network.dense,
        seq_len: a.window.seq_len,
        batch: a.window.batch,
        epochs: a.run.epochs,
        steps: a.run.steps,
        minutes: a.run.minutes,
        optimizer: a.optim.optimizer(),
        regularization: a.optim.regularization(),
        val_split: a.data.val_split,
        seed: a.run.seed,
        threads: a.run.threads,
        checkpoint_every: a.run.checkpoint_every,
        log_every: a.run.log_every,
        device: a.run.device,
        precision: a.run.precision,
        embedding_init: a.window.embedding_init,
        layer_init: a.window.layer_init,
        shards: a.run.shards,
        window_offsets: a.window.window_offsets,
        prune: a.prune.config(0, a.run.steps)?,
        data_fingerprint: None,
    };
    config.validate()?;
    Ok(config)
}

/// A Keras-style model summary: layers, output shapes, parameter counts.
pub fn summary(net: &NetSpec, seq_len: usize) -> String {
    let count = |slots: &[Slot]| -> usize { slots.iter().map(|&s| net.range(s).len()).sum() };
    let mut rows = Vec::new();
    match net.input {
        InputSpec::Tokens { emb, .. } => rows.push(("embedding (Embedding)".to_string(), emb as usize, count(&[Slot::Embedding]))),
        InputSpec::Features { count: f } => rows.push(("input (normalized features)".to_string(), f as usize, 0)),
    }
    for (k, &h) in net.grus.iter().enumerate() {
        let name = if k == 0 { "gru (GRU)".to_string() } else { format!("gru_{k} (GRU)") };
        rows.push((name, h as usize, count(&[Slot::GruInput(k), Slot::GruRecurrent(k), Slot::GruInputBias(k), Slot::GruRecurrentBias(k)])));
    }
    for (j, d) in net.dense.iter().enumerate() {
        let name =
            if j == 0 { format!("dense (Dense, {})", d.activation.name()) } else { format!("dense_{j} (Dense, {})", d.activation.name()) };
        rows.push((name, d.width as usize, count(&[Slot::Dense(j), Slot::DenseBias(j)])));
    }
    let head = if net.dense.is_empty() { "dense" } else { "dense_out" };
    rows.push((format!("{head} (Dense, softmax)"), net.outputs(), count(&[Slot::Output, Slot::OutputBias])));
    let rule = "_".repeat(72);
    let mut s = format!("Model: \"edgegru\"\n{rule}\n {:<30}{:<26}{:>12}\n{}\n", "Layer (type)", "Output Shape", "Param #", "=".repeat(72));
    for (name, width, n) in rows {
        s.push_str(&format!(" {:<30}{:<26}{:>12}\n", name, format!("(None, {seq_len}, {width})"), n));
    }
    let total = net.count();
    s.push_str(&format!(
        "{}\nTotal params: {total} ({:.2} MB as f32)\nTrainable params: {total}\n{rule}\n",
        "=".repeat(72),
        total as f64 * 4.0 / 1e6
    ));
    s
}

/// Progress as a bar on a terminal, or as plain lines every `every` steps.
pub struct ConsoleProgress {
    tty: bool,
    every: u64,
}

impl ConsoleProgress {
    /// Detects whether stdout is a terminal.
    pub fn new(every: u64) -> Self {
        ConsoleProgress { tty: std::io::stdout().is_terminal(), every: every.max(1) }
    }
}

fn fmt_eta(eta: Option<f64>) -> String {
    match eta {
        Some(s) if s.is_finite() => format!("{:02}:{:02}:{:02}", (s / 3600.0) as u64, (s / 60.0) as u64 % 60, s as u64 % 60),
        _ => "--:--:--".into(),
    }
}

impl Progress for ConsoleProgress {
    fn start(&mut self, net: &NetSpec, config: &TrainConfig, plan: &Plan) {
        let seq = if config.task == Task::Lm { config.seq_len } else { 0 };
        super::say(&summary(net, seq));
        let unit = if config.task == Task::Lm { "tokens" } else { "sequences" };
        super::say(&format!(
            "data: {} training {unit}, {} validation {unit}; {} steps per epoch of {} windows; starting at step {}",
            plan.train_tokens, plan.val_tokens, plan.steps_per_epoch, config.batch, plan.first_step
        ));
    }

    fn step(&mut self, step: u64, total: Option<u64>, loss: f64, tps: f64, eta: Option<f64>) {
        if self.tty {
            let bar = match total {
                Some(t) if t > 0 => {
                    let filled = (30 * step / t) as usize;
                    format!("[{}{}] {step}/{t}", "=".repeat(filled), " ".repeat(30 - filled.min(30)))
                }
                _ => format!("step {step}"),
            };
            let mut out = std::io::stdout();
            let _ = write!(out, "\r{bar}  loss {loss:.4}  {tps:.0} tok/s  ETA {}   ", fmt_eta(eta));
            let _ = out.flush();
        } else if step.is_multiple_of(self.every) {
            let of = total.map_or(String::new(), |t| format!("/{t}"));
            super::say(&format!("step {step}{of}  loss {loss:.4}  {tps:.0} tok/s  ETA {}", fmt_eta(eta)));
        }
    }

    fn note(&mut self, line: &str) {
        if self.tty {
            super::say("");
        }
        super::say(line);
    }

    fn record(&mut self, r: &Record) {
        if let (Some(vl), Some(va)) = (r.val_loss, r.val_accuracy) {
            if self.tty {
                super::say("");
            }
            super::say(&format!(
                "epoch {:.2}  step {}  loss {:.4}  acc {:.4}  val_loss {vl:.4}  val_acc {va:.4}  ppl {:.2}  lr {:.2e}",
                r.epoch, r.step, r.loss, r.accuracy, r.perplexity, r.lr
            ));
        }
    }
}

/// Set by Ctrl-C or SIGTERM: the run stops after its step, with a checkpoint.
pub fn stop_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        // With the `termination` feature this handles SIGINT, SIGTERM and SIGHUP.
        let _ = ctrlc::set_handler(move || f.store(true, Ordering::SeqCst));
        flag
    })
    .clone()
}

/// Runs a configured training run with the console display and the stop handler.
pub fn execute(config: TrainConfig, out: &Path, resume: Option<Checkpoint>) -> Result<Status> {
    let outcome = train_console(config, out, resume)?;
    Ok(match outcome.ending {
        Ending::Interrupted => Status::Interrupted,
        Ending::Finished => Status::Done,
    })
}

/// [`execute`], returning the outcome.
pub fn train_console(config: TrainConfig, out: &Path, resume: Option<Checkpoint>) -> Result<Outcome> {
    let mut progress = ConsoleProgress::new(config.log_every);
    let outcome = run::train(config, out, resume, stop_flag(), &mut progress)?;
    if progress.tty {
        super::say("");
    }
    match outcome.ending {
        Ending::Interrupted => super::say(&format!(
            "interrupted at step {}: checkpoint written to {}; continue with `edgegru train --resume {1}`",
            outcome.steps,
            out.display()
        )),
        Ending::Finished => super::say(&format!(
            "done: {} steps, val_loss {}{}; checkpoint, history.csv/json, loss.svg and tensorboard/ in {}",
            outcome.steps,
            outcome.val_loss.map_or("n/a".into(), |v| format!("{v:.4}")),
            outcome.val_accuracy.map_or(String::new(), |a| format!(", val_acc {a:.4}")),
            out.display()
        )),
    }
    Ok(outcome)
}

/// The configuration that fine-tunes `ck` for `steps` more optimizer steps
/// (pruning is the caller's to set): a constant learning rate, `lr` or
/// half the run's peak (at least its minimum; at a quarter, 75% block
/// pruning of config A lost +12.6% after 3000 steps, at half +7.9%), no warm-up.
pub fn fine_tune_config(ck: &Checkpoint, steps: u64, lr: Option<f32>) -> TrainConfig {
    let mut config = ck.config.clone();
    config.steps = Some(ck.optimizer.step + steps);
    config.epochs = None;
    config.minutes = None;
    config.optimizer.lr = lr.unwrap_or((config.optimizer.lr * 0.5).max(config.optimizer.min_lr));
    config.optimizer.decay = Decay::None;
    config.optimizer.warmup_steps = 0;
    config
}
