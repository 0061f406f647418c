//! `edgegru bench`: step latency of a model, one thread, batch 1, state
//! carried across steps.

use std::borrow::Cow;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use edgegru_runtime::Isa;
use serde::Serialize;

use super::backend::{onnx_bytes, with_runner, Backend, Runner};
use super::Status;

/// Step latency: µs/step (median and fastest round) and tokens/s, one thread, batch 1, state carried across steps.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  edgegru bench --model models/fortunes-char.egru
  edgegru bench --model m.egru --kernels scalar,avx2 --json
  edgegru bench --model dense.egru --model sparse.egru --backends native,tract,ort")]
pub struct Args {
    /// The model: an .egru file or built-in model (tract and ort then run its weights as the float ONNX graph), or an
    /// ONNX file (tract, ort). Repeat it to time several models in the same run (e.g. dense against sparse).
    #[arg(long, required = true)]
    pub model: Vec<String>,
    /// Backends to time, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "native")]
    pub backends: Vec<Backend>,
    /// Kernel sets of the native backend to compare, comma-separated: scalar, avx2, vnni, neon, neon-dot (default: the best available).
    #[arg(long, value_delimiter = ',', value_parser = parse_isa)]
    pub kernels: Vec<Isa>,
    /// Steps per timed round (at least 1).
    #[arg(long, default_value_t = 2000)]
    pub steps: usize,
    /// Timed rounds, at least 1 (their median and the fastest are reported).
    #[arg(long, default_value_t = 7)]
    pub rounds: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_isa(name: &str) -> Result<Isa, String> {
    Isa::from_name(name.trim()).ok_or_else(|| format!("unknown kernel set {name:?} (scalar, avx2, vnni, neon, neon-dot)"))
}

/// Runs `edgegru bench`.
pub fn cli(a: Args) -> Result<Status> {
    if a.steps == 0 || a.rounds == 0 {
        bail!("--steps and --rounds must be at least 1");
    }
    let files = a
        .model
        .iter()
        .map(|m| Ok((m.clone(), super::models::resolve(m).with_context(|| format!("--model {m}"))?)))
        .collect::<Result<Vec<_>>>()?;
    let isas: Vec<Option<Isa>> = if a.kernels.is_empty() { vec![None] } else { a.kernels.iter().copied().map(Some).collect() };
    let mut targets = Vec::new();
    for (name, bytes) in &files {
        for &backend in &a.backends {
            let kernels = if backend == Backend::Native { isas.clone() } else { vec![None] };
            targets.extend(kernels.into_iter().map(|isa| Target { name, backend, isa, model: bytes }));
        }
    }
    let results = run(&targets, a.steps, a.rounds)?;
    if a.json {
        super::say(&serde_json::to_string(&results)?);
    } else {
        print!("{}", table(&results));
    }
    Ok(Status::Done)
}

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
            Backend::Tract | Backend::Ort => onnx_bytes(t.model, None),
            Backend::Native => Ok(Cow::Borrowed(t.model)),
        })
        .collect::<Result<_>>()?;
    let mut times = vec![Vec::with_capacity(rounds); targets.len()];
    for _ in 0..rounds.max(1) {
        for ((t, model), times) in targets.iter().zip(&models).zip(&mut times) {
            let features = feature_count(t.model);
            with_runner(t.backend, model, t.isa, |session| {
                let mut token = 0u32;
                time_steps(session, (steps / 10).max(1), &mut token, features)?;
                times.push(time_steps(session, steps.max(1), &mut token, features)?);
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
/// input chosen from the outputs (so no step can be skipped): a token for
/// token models, a feature vector for feature models.
fn time_steps(session: &mut dyn Runner, steps: usize, token: &mut u32, features: usize) -> Result<f64> {
    let vocab = session.tokenizer().map(|t| t.vocab_size()).unwrap_or(0);
    let mut x = vec![0.0f32; features];
    let start = Instant::now();
    for _ in 0..steps {
        let out = if vocab > 0 { session.step(*token)? } else { session.step_features(&x)? };
        *token = (*token + 1 + (out[0].to_bits() & 7)) % vocab.max(1);
        if let Some(v) = x.first_mut() {
            *v = (*token as f32) * 0.01;
        }
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / steps as f64)
}

/// Features per step of a model file (0 for token models).
fn feature_count(bytes: &[u8]) -> usize {
    match edgegru_runtime::Model::from_bytes(bytes).map(|m| m.input()) {
        Ok(edgegru_runtime::InputKind::Features { count }) => count,
        _ => 0,
    }
}
