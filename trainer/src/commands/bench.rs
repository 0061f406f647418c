//! `edgegru bench`: step latency of a model, one thread, batch 1, state
//! carried across steps.

use std::time::Instant;

use anyhow::Result;
use edgegru_runtime::{Isa, Model, Session};
use serde::Serialize;

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
/// and reports the median round.
pub fn native(bytes: &[u8], isa: Option<Isa>, steps: usize, rounds: usize) -> Result<BenchResult> {
    let mut model = Model::from_bytes(bytes)?;
    if let Some(isa) = isa {
        model.set_isa(isa)?;
    }
    let mut arena = vec![0u8; model.arena_size()];
    let mut session = Session::new(&model, &mut arena)?;
    let vocab = model.dims().vocab;
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
    let us = times[times.len() / 2];
    Ok(BenchResult { backend: format!("native/{}", model.isa().name()), us_per_step: us, tokens_per_sec: 1e6 / us })
}
