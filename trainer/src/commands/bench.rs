//! `edgegru bench`: step latency of a model, one thread, batch 1, state
//! carried across steps.

use std::time::Instant;

use anyhow::Result;
use edgegru_runtime::Isa;
use serde::Serialize;

use super::backend::{onnx_bytes, with_runner, Backend, Runner};

/// Latency of one backend.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    /// Backend and kernel set, e.g. `native/avx2`.
    pub backend: String,
    /// Median of the timed rounds, microseconds per step.
    pub us_per_step: f64,
    /// `1e6 / us_per_step`.
    pub tokens_per_sec: f64,
}

/// Times `steps` steps in each of `rounds` rounds (after one warm-up round)
/// and reports the median round. The native backend runs `bytes` (an `.egru`
/// file, with `isa` if given); tract and ort run its ONNX step graph (an
/// `.egru` file's weights are exported as the float ONNX model first).
pub fn run(backend: Backend, bytes: &[u8], isa: Option<Isa>, steps: usize, rounds: usize) -> Result<BenchResult> {
    let onnx;
    let model = match backend {
        Backend::Native => bytes,
        Backend::Tract | Backend::Ort => {
            onnx = onnx_bytes(bytes)?;
            &onnx[..]
        }
    };
    with_runner(backend, model, isa, |session| {
        let us = time_steps(session, steps, rounds)?;
        let name = match backend {
            Backend::Native => format!("native/{}", isa.unwrap_or_else(Isa::detect).name()),
            other => other.name().to_string(),
        };
        Ok(BenchResult { backend: name, us_per_step: us, tokens_per_sec: 1e6 / us })
    })
}

/// Median microseconds per step over `rounds` timed rounds.
fn time_steps(session: &mut dyn Runner, steps: usize, rounds: usize) -> Result<f64> {
    let vocab = session.tokenizer()?.vocab_size();
    let mut token = 0u32;
    let mut times = Vec::with_capacity(rounds);
    for round in 0..=rounds {
        let start = Instant::now();
        for _ in 0..steps {
            let logits = session.step(token)?;
            // Data-dependent next token, so no step can be skipped.
            token = (token + 1 + (logits[0].to_bits() & 7)) % vocab;
        }
        if round > 0 {
            times.push(start.elapsed().as_secs_f64() * 1e6 / steps as f64);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}
