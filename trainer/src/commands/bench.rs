//! `edgegru bench`: step latency of models on the engines (the library's
//! [`crate::bench`]), printed as a table or JSON.

use anyhow::{bail, Context, Result};
use edgegru_runtime::Isa;

use super::args::parse_isa;
use super::{say, Status};
use crate::backend::Backend;
use crate::bench::{run as time, BenchResult, Target};

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
    #[arg(long, value_parser = super::args::whole::<usize>(1), default_value_t = 2000, allow_negative_numbers = true)]
    pub steps: usize,
    /// Timed rounds, at least 1 (their median and the fastest are reported).
    #[arg(long, value_parser = super::args::whole::<usize>(1), default_value_t = 7, allow_negative_numbers = true)]
    pub rounds: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `edgegru bench`.
pub fn run(a: Args) -> Result<Status> {
    if a.steps == 0 || a.rounds == 0 {
        bail!("--steps and --rounds must be at least 1");
    }
    let files = a
        .model
        .iter()
        .map(|m| Ok((m.clone(), crate::builtin::resolve(m).with_context(|| format!("--model {m}"))?)))
        .collect::<Result<Vec<_>>>()?;
    let isas: Vec<Option<Isa>> = if a.kernels.is_empty() { vec![None] } else { a.kernels.iter().copied().map(Some).collect() };
    let mut targets = Vec::new();
    for (name, bytes) in &files {
        for &backend in &a.backends {
            let kernels = if backend == Backend::Native { isas.clone() } else { vec![None] };
            targets.extend(kernels.into_iter().map(|isa| Target { name, backend, isa, model: bytes }));
        }
    }
    let results = time(&targets, a.steps, a.rounds)?;
    if a.json {
        say(&serde_json::to_string(&results)?);
    } else {
        print!("{}", table(&results));
    }
    Ok(Status::Done)
}

/// The results as a text table; the model column appears when there are several models.
fn table(results: &[BenchResult]) -> String {
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
