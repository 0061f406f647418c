//! `edgegru bench`: step latency of a model, one thread, batch 1, state
//! carried across steps.

use std::borrow::Cow;
use std::time::Instant;

use anyhow::Result;
use edgegru_runtime::Isa;
use serde::Serialize;

use super::backend::{onnx_bytes, with_runner, Backend, Runner};

/// Latency of one backend on one model.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    /// The model, as named by the caller (a file path on the command line).
    pub model: String,
    /// Backend and kernel set, e.g. `native/avx2`.
    pub backend: String,
    /// Median of the timed rounds, microseconds per step.
    pub us_per_step: f64,
    /// The fastest timed round, microseconds per step: the speed when nothing
    /// else competed for the core (a shared machine has slow spells).
    pub fastest_us_per_step: f64,
    /// `1e6 / us_per_step`.
    pub tokens_per_sec: f64,
    /// The first result's µs/step over this one's: how many times faster this
    /// one ran than the first target, in the same run.
    pub speedup_vs_first: f64,
}

/// One thing to time: a backend (and, for the native one, a kernel set) on
/// a model.
#[derive(Debug, Clone, Copy)]
pub struct Target<'m> {
    /// The model's name in the report.
    pub name: &'m str,
    /// The backend.
    pub backend: Backend,
    /// Native kernel set (`None`: the best available).
    pub isa: Option<Isa>,
    /// An `.egru` file; tract and ort run its weights as the float ONNX step
    /// graph (exported first), or an ONNX file directly.
    pub model: &'m [u8],
}

/// Times every target in `rounds` rounds of `steps` steps and reports each
/// one's median and fastest round. The rounds are interleaved: round k times every target
/// in turn (a fresh session, warmed up with a tenth of the steps first), so a
/// slow spell of a shared machine hits all of them alike.
pub fn run(targets: &[Target<'_>], steps: usize, rounds: usize) -> Result<Vec<BenchResult>> {
    let models: Vec<Cow<'_, [u8]>> = targets
        .iter()
        .map(|t| match t.backend {
            Backend::Tract | Backend::Ort => onnx_bytes(t.model),
            Backend::Native => Ok(Cow::Borrowed(t.model)),
        })
        .collect::<Result<_>>()?;
    let mut times = vec![Vec::with_capacity(rounds); targets.len()];
    for _ in 0..rounds.max(1) {
        for ((t, model), times) in targets.iter().zip(&models).zip(&mut times) {
            with_runner(t.backend, model, t.isa, |session| {
                let mut token = 0u32;
                time_steps(session, (steps / 10).max(1), &mut token)?;
                times.push(time_steps(session, steps.max(1), &mut token)?);
                Ok(())
            })?;
        }
    }
    // (median, fastest) of each target's rounds.
    let summaries: Vec<(f64, f64)> = times
        .iter_mut()
        .map(|times| {
            times.sort_by(f64::total_cmp);
            (times[times.len() / 2], times[0])
        })
        .collect();
    let first = summaries.first().map_or(f64::NAN, |s| s.0);
    Ok(targets
        .iter()
        .zip(summaries)
        .map(|(t, (us, fastest))| {
            let backend = match t.backend {
                Backend::Native => format!("native/{}", t.isa.unwrap_or_else(Isa::detect).name()),
                other => other.name().to_string(),
            };
            BenchResult {
                model: t.name.to_string(),
                backend,
                us_per_step: us,
                fastest_us_per_step: fastest,
                tokens_per_sec: 1e6 / us,
                speedup_vs_first: first / us,
            }
        })
        .collect())
}

/// The results as a text table; the model column appears when there are several models.
pub fn table(results: &[BenchResult]) -> String {
    use std::fmt::Write;
    let several = results.iter().any(|r| r.model != results[0].model);
    let width = results.iter().map(|r| r.model.chars().count()).max().unwrap_or(0).max(5) + 2;
    let mut t = String::new();
    if several {
        let _ = write!(t, "{:<width$}", "model");
    }
    let _ = writeln!(t, "{:<20}{:>12}{:>12}{:>14}{:>12}", "backend", "µs/step", "fastest", "tokens/s", "vs first");
    for r in results {
        if several {
            let _ = write!(t, "{:<width$}", r.model);
        }
        let _ = writeln!(
            t,
            "{:<20}{:>12.2}{:>12.2}{:>14.0}{:>11.2}x",
            r.backend, r.us_per_step, r.fastest_us_per_step, r.tokens_per_sec, r.speedup_vs_first
        );
    }
    t
}

/// Microseconds per step over `steps` steps, the state carried, the next
/// token chosen from the logits (so no step can be skipped).
fn time_steps(session: &mut dyn Runner, steps: usize, token: &mut u32) -> Result<f64> {
    let vocab = session.tokenizer()?.vocab_size();
    let start = Instant::now();
    for _ in 0..steps {
        let logits = session.step(*token)?;
        *token = (*token + 1 + (logits[0].to_bits() & 7)) % vocab;
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / steps as f64)
}
