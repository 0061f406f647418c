//! Step latency of models on the engines: one thread, batch 1, the state
//! carried across steps, rounds interleaved so that a slow spell of a shared
//! machine hits every target alike.

use std::borrow::Cow;
use std::time::Instant;

use anyhow::Result;
use edgegru_runtime::Isa;
use serde::Serialize;

use crate::backend::{bytes_for, with_session, Backend, DynSession};

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
    let models: Vec<Cow<'_, [u8]>> = targets.iter().map(|t| bytes_for(t.backend, t.model)).collect::<Result<_>>()?;
    let mut times = vec![Vec::with_capacity(rounds); targets.len()];
    for _ in 0..rounds.max(1) {
        for ((t, model), times) in targets.iter().zip(&models).zip(&mut times) {
            let features = feature_count(t.model);
            with_session(t.backend, model, t.isa, |session| {
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

/// Microseconds per step over `steps` steps, the state carried, the next
/// input chosen from the outputs (so no step can be skipped): a token for
/// token models, a feature vector for feature models.
fn time_steps(session: &mut DynSession<'_>, steps: usize, token: &mut u32, features: usize) -> Result<f64> {
    let vocab = session.tokenizer().map_or(0, |t| t.vocab_size());
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
