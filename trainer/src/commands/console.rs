//! The console face of training runs, shared by `train`, `prune` and
//! `pipeline`: progress as a bar on a terminal or as one line every
//! `--log-every` steps, with the figures that fit the task; stopping a run on
//! Ctrl-C or SIGTERM (after its step, with a checkpoint). A closed stdout
//! (`edgegru train | head`) mutes the console and the run goes on to its end.

use std::io::{IsTerminal, Write as _};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Result;

use super::Status;
use crate::checkpoint::Checkpoint;
use crate::config::{Task, TrainConfig};
use crate::history::Record;
use crate::network::NetSpec;
use crate::run::{self, Ending, Plan, Progress};

/// Progress as a bar on a terminal, or as plain lines every `every` steps.
pub struct ConsoleProgress {
    tty: bool,
    every: u64,
    task: Task,
    target_std: Option<f32>,
    /// The step stdout was found closed at (nothing is printed after it).
    muted_at: Option<u64>,
    step: u64,
    eta: Option<f64>,
    /// The step of the last history line printed, and whether it had validation figures.
    printed: Option<(u64, bool)>,
}

impl ConsoleProgress {
    /// Detects whether stdout is a terminal; lines every `every` steps.
    pub fn new(every: u64) -> Self {
        ConsoleProgress {
            tty: std::io::stdout().is_terminal(),
            every: every.max(1),
            task: Task::Lm,
            target_std: None,
            muted_at: None,
            step: 0,
            eta: None,
            printed: None,
        }
    }

    /// Writes `text` to stdout (`newline`: as a line); a closed stdout mutes the console.
    fn write(&mut self, text: &str, newline: bool) {
        if self.muted_at.is_some() {
            return;
        }
        let mut out = std::io::stdout().lock();
        let written = if newline { writeln!(out, "{text}") } else { write!(out, "{text}") };
        if let Err(e) = written.and_then(|_| out.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                self.muted_at = Some(self.step);
            }
        }
    }

    fn line(&mut self, text: &str) {
        if self.tty {
            self.write("", true);
        }
        self.write(text, true);
    }

    /// Ends the progress bar's line (on a terminal).
    pub fn end_line(&mut self) {
        if self.tty {
            self.write("", true);
        }
    }

    /// Says on stderr that stdout was closed and the run went on, when it was.
    pub fn report_muted(&self, outcome: &str) {
        if let Some(step) = self.muted_at {
            eprintln!("edgegru: stdout was closed at step {step}; the run went on without printing: {outcome}");
        }
    }

    /// One history row as a line, with the figures that fit the task.
    fn history_line(&self, r: &Record) -> String {
        let rate = if self.task == Task::Lm { "tok/s" } else { "seq/s" };
        let mut s = format!("epoch {:.2}  step {}  loss {:.4}", r.epoch, r.step, r.loss);
        match self.task {
            Task::Lm | Task::Classify => s += &format!("  acc {:.4}", r.accuracy),
            Task::Regress => {}
        }
        if let Some(vl) = r.val_loss {
            s += &format!("  val_loss {vl:.4}");
            match (self.task, r.val_accuracy, self.target_std) {
                (Task::Regress, _, Some(std)) => s += &format!("  val_rmse {:.4}", (2.0 * vl).sqrt() * std as f64),
                (Task::Regress, ..) => {}
                (_, Some(va), _) => s += &format!("  val_acc {va:.4}"),
                _ => {}
            }
            if self.task == Task::Lm {
                s += &format!("  ppl {:.2}", r.perplexity);
            }
        }
        s + &format!("  lr {:.2e}  {:.0} {rate}  ETA {}", r.lr, r.tokens_per_sec, fmt_eta(self.eta))
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
        (self.task, self.target_std, self.step) = (config.task, plan.target_std, plan.first_step);
        let seq = if config.task == Task::Lm { config.seq_len } else { 0 };
        self.write(&net.summary(seq), true);
        let unit = if config.task == Task::Lm { "tokens" } else { "sequences" };
        self.write(
            &format!(
                "data: {} training {unit}, {} validation {unit} ({}); {} steps per epoch of {} windows; starting at step {}",
                plan.train_tokens, plan.val_tokens, plan.validation, plan.steps_per_epoch, config.batch, plan.first_step
            ),
            true,
        );
    }

    fn step(&mut self, step: u64, total: Option<u64>, loss: f64, tps: f64, eta: Option<f64>) {
        (self.step, self.eta) = (step, eta);
        if self.tty {
            let bar = match total {
                Some(t) if t > 0 => {
                    let filled = (30 * step / t) as usize;
                    format!("[{}{}] {step}/{t}", "=".repeat(filled), " ".repeat(30 - filled.min(30)))
                }
                _ => format!("step {step}"),
            };
            let rate = if self.task == Task::Lm { "tok/s" } else { "seq/s" };
            self.write(&format!("\r{bar}  loss {loss:.4}  {tps:.0} {rate}  ETA {}   ", fmt_eta(eta)), false);
        }
    }

    fn note(&mut self, line: &str) {
        self.line(line);
    }

    fn record(&mut self, r: &Record) {
        // One line every `every` steps, whatever else wrote a history row.
        if r.step.is_multiple_of(self.every) {
            let text = self.history_line(r);
            self.line(&text);
            self.printed = Some((r.step, r.val_loss.is_some()));
        }
    }

    fn end(&mut self, last: Option<&Record>) {
        let Some(r) = last else { return };
        // The final row, unless its line (with its validation) is already out.
        if self.printed != Some((r.step, r.val_loss.is_some())) {
            let text = self.history_line(r);
            self.line(&text);
            self.printed = Some((r.step, r.val_loss.is_some()));
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
    let described = outcome.describe(out);
    progress.line(&described);
    progress.report_muted(&described);
    Ok(match outcome.ending {
        Ending::Interrupted => {
            progress.line(&format!("continue with `edgegru train --resume {}`", out.display()));
            Status::Interrupted
        }
        Ending::Finished | Ending::EarlyStopped => Status::Done,
    })
}
