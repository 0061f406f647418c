//! The console face of training runs, shared by `train`, `prune` and
//! `pipeline`: progress as a bar on a terminal or as lines, and stopping a
//! run on Ctrl-C or SIGTERM (after its step, with a checkpoint).

use std::io::{IsTerminal, Write as _};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Result;

use super::{say, Status};
use crate::checkpoint::Checkpoint;
use crate::config::{Task, TrainConfig};
use crate::history::Record;
use crate::network::NetSpec;
use crate::run::{self, Ending, Plan, Progress};

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

    /// Ends the progress bar's line (on a terminal).
    pub fn end_line(&self) {
        if self.tty {
            say("");
        }
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
        say(&net.summary(seq));
        let unit = if config.task == Task::Lm { "tokens" } else { "sequences" };
        say(&format!(
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
            say(&format!("step {step}{of}  loss {loss:.4}  {tps:.0} tok/s  ETA {}", fmt_eta(eta)));
        }
    }

    fn note(&mut self, line: &str) {
        if self.tty {
            say("");
        }
        say(line);
    }

    fn record(&mut self, r: &Record) {
        if let (Some(vl), Some(va)) = (r.val_loss, r.val_accuracy) {
            if self.tty {
                say("");
            }
            say(&format!(
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

/// Trains (or continues `resume`) into `out` with the console display and
/// the stop handler, and says how the run ended.
pub fn train(config: TrainConfig, out: &Path, resume: Option<Checkpoint>) -> Result<Status> {
    let mut progress = ConsoleProgress::new(config.log_every);
    let outcome = run::train(config, out, resume, stop_flag(), &mut progress)?;
    progress.end_line();
    say(&outcome.describe(out));
    Ok(match outcome.ending {
        Ending::Interrupted => {
            say(&format!("continue with `edgegru train --resume {}`", out.display()));
            Status::Interrupted
        }
        Ending::Finished => Status::Done,
    })
}
