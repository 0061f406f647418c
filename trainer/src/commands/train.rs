//! `edgegru train`: the Keras-style summary, the progress display, Ctrl-C.

use std::io::{IsTerminal, Write as _};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Result;

use crate::checkpoint::Checkpoint;
use crate::history::Record;
use crate::optim::Decay;
use crate::params::{Params, Shape, Tensor};
use crate::train::{self, Ending, Outcome, Progress, TrainConfig};

/// A Keras-style model summary: layers, output shapes, parameter counts.
pub fn summary(shape: &Shape, seq_len: usize) -> String {
    let count = |ts: &[Tensor]| -> usize { ts.iter().map(|&t| Params::range(shape, t).len()).sum() };
    let rows = [
        ("embedding (Embedding)", shape.emb, count(&[Tensor::Embedding])),
        ("gru (GRU)", shape.hidden, count(&[Tensor::GruInput, Tensor::GruRecurrent, Tensor::GruInputBias, Tensor::GruRecurrentBias])),
        ("dense (Dense, relu)", shape.dense, count(&[Tensor::Dense, Tensor::DenseBias])),
        ("dense_1 (Dense, softmax)", shape.vocab, count(&[Tensor::Output, Tensor::OutputBias])),
    ];
    let rule = "_".repeat(72);
    let mut s = format!("Model: \"edgegru\"\n{rule}\n {:<30}{:<26}{:>12}\n{}\n", "Layer (type)", "Output Shape", "Param #", "=".repeat(72));
    for (name, width, n) in rows {
        s.push_str(&format!(" {:<30}{:<26}{:>12}\n", name, format!("(None, {seq_len}, {width})"), n));
    }
    let total = Params::count(shape);
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
    fn start(&mut self, shape: &Shape, config: &TrainConfig, plan: &train::Plan) {
        println!("{}", summary(shape, config.seq_len));
        println!(
            "corpus: {} training tokens, {} validation tokens; {} steps per epoch of {} windows x {} tokens; starting at step {}",
            plan.train_tokens, plan.val_tokens, plan.steps_per_epoch, config.batch, config.seq_len, plan.first_step
        );
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
            print!("\r{bar}  loss {loss:.4}  {tps:.0} tok/s  ETA {}   ", fmt_eta(eta));
            let _ = std::io::stdout().flush();
        } else if step.is_multiple_of(self.every) {
            let of = total.map_or(String::new(), |t| format!("/{t}"));
            println!("step {step}{of}  loss {loss:.4}  {tps:.0} tok/s  ETA {}", fmt_eta(eta));
        }
    }

    fn note(&mut self, line: &str) {
        if self.tty {
            println!();
        }
        println!("{line}");
    }

    fn record(&mut self, r: &Record) {
        if let (Some(vl), Some(va)) = (r.val_loss, r.val_accuracy) {
            if self.tty {
                println!();
            }
            println!(
                "epoch {:.2}  step {}  loss {:.4}  acc {:.4}  val_loss {vl:.4}  val_acc {va:.4}  ppl {:.2}  lr {:.2e}",
                r.epoch, r.step, r.loss, r.accuracy, r.perplexity, r.lr
            );
        }
    }
}

/// Runs `edgegru train` (or `--resume`), installing a Ctrl-C handler that
/// ends the run with a checkpoint.
pub fn run(config: TrainConfig, out: &Path, resume: Option<Checkpoint>) -> Result<Outcome> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // A second handler cannot be installed in one process; later runs reuse the first.
    let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
    let mut progress = ConsoleProgress::new(config.log_every);
    let outcome = train::train(config, out, resume, stop, &mut progress)?;
    if progress.tty {
        println!();
    }
    match outcome.ending {
        Ending::Interrupted => println!("interrupted at step {}: checkpoint written to {}", outcome.steps, out.display()),
        Ending::Finished => println!(
            "done: {} steps, val_loss {}; checkpoint, history.csv/json, loss.svg and tensorboard/ in {}",
            outcome.steps,
            outcome.val_loss.map_or("n/a".into(), |v| format!("{v:.4}")),
            out.display()
        ),
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
