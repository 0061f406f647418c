//! `edgegru pipeline`: corpus to device model in one go (the library's
//! [`crate::pipeline`]), with the console display.

use std::path::PathBuf;

use anyhow::{bail, Result};

use super::args::numerics_parser;
use super::console::{stop_flag, ConsoleProgress};
use super::Status;
use crate::data::WindowOffsets;
use crate::engine::Device;
use crate::files::absolute;
use crate::params::{EmbeddingInit, LayerInit};
use crate::pipeline::{self, Budget, PipelineConfig, Preset};

/// Corpus to device model in one go: train, prune, quantize, export (.egru + .onnx), verify, summarize.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  edgegru pipeline --corpus /usr/share/games/fortunes --out out/a --minutes 20
  edgegru pipeline --corpus notes.txt --out out/t --config t --steps 3000
  edgegru pipeline --resume --out out/a

Writes DIR/model.egru (int8; block-sparse when pruned; integer-only for config t), DIR/model.onnx (float step graph),
DIR/run and DIR/run-pruned (checkpoints, history), DIR/summary.md and DIR/summary.json. An interrupted pipeline
(Ctrl-C, SIGTERM) continues where it stopped with --resume, with the settings it was started with (kept in
DIR/pipeline.json; only --threads and --device may change).")]
pub struct Args {
    /// Corpus: a UTF-8 text file or a folder of them (with --resume: the run's own).
    #[arg(long, required_unless_present = "resume")]
    pub corpus: Option<PathBuf>,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the pipeline in --out where it stopped.
    #[arg(long)]
    pub resume: bool,
    /// Replace a pipeline that is already in --out.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Model configuration: a = chars 64/256/256, t = chars 16/64/64 for microcontrollers, w = words 128/256/256.
    #[arg(long, value_enum, default_value = "a")]
    pub config: Preset,
    /// Wall-clock minutes of training and pruning together.
    #[arg(long, default_value_t = 20.0, conflicts_with = "steps", allow_negative_numbers = true)]
    pub minutes: f64,
    /// Training steps instead of minutes (pruning adds half as many), at least 1.
    #[arg(long, value_parser = super::args::whole::<u64>(1), allow_negative_numbers = true)]
    pub steps: Option<u64>,
    /// Block sparsity to prune to (default: 0.75 for configs a and w, 0 for t).
    #[arg(long, allow_negative_numbers = true)]
    pub prune_to: Option<f32>,
    /// Arithmetic of the shipped file (default: int for config t, hybrid otherwise).
    #[arg(long = "numerics", value_name = "NUMERICS", value_parser = numerics_parser())]
    pub integer: Option<bool>,
    /// Threads for training (0: all cores).
    #[arg(long, value_parser = super::args::whole::<usize>(0), default_value_t = 0, allow_negative_numbers = true)]
    pub threads: usize,
    /// Seed of initialization, shuffling and dropout.
    #[arg(long, value_parser = super::args::whole::<u64>(0), default_value_t = 1, allow_negative_numbers = true)]
    pub seed: u64,
    /// Replace invalid UTF-8 instead of refusing the corpus.
    #[arg(long)]
    pub lossy: bool,
    /// Windows per batch (default: the config's, 64); lower it for a small corpus.
    #[arg(long, value_parser = super::args::whole::<usize>(1), allow_negative_numbers = true)]
    pub batch: Option<usize>,
    /// Tokens per training window (default: the config's).
    #[arg(long, value_parser = super::args::whole::<usize>(1), allow_negative_numbers = true)]
    pub seq_len: Option<usize>,
    /// The device that trains: cpu or cuda.
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: Device,
    /// Embedding initialization: unit (variance 1; learns faster) or keras (uniform ±0.05).
    #[arg(long, value_enum, default_value = "unit")]
    pub embedding_init: EmbeddingInit,
    /// Initialization of the GRU and dense layers: torch (PyTorch's defaults) or keras.
    #[arg(long, value_enum, default_value = "torch")]
    pub layer_init: LayerInit,
    /// CPU: data-parallel shards per batch, one thread each (1: the whole batch in one pass).
    #[arg(long, value_parser = super::args::whole::<usize>(1), default_value_t = 2, allow_negative_numbers = true)]
    pub shards: usize,
    /// Where each epoch cuts the text into windows: random (a new shift every epoch) or fixed.
    #[arg(long, value_enum, default_value = "random")]
    pub window_offsets: WindowOffsets,
}

impl Args {
    /// The pipeline's settings.
    fn config(&self) -> Result<PipelineConfig> {
        let budget = match self.steps {
            Some(0) => bail!("--steps must be at least 1"),
            Some(n) => Budget::Steps(n),
            None => Budget::Minutes(self.minutes),
        };
        Ok(PipelineConfig {
            corpus: match &self.corpus {
                Some(c) => absolute(c)?,
                None => PathBuf::new(),
            },
            out: self.out.clone(),
            preset: self.config,
            budget,
            prune_to: self.prune_to.unwrap_or(self.config.default_prune_to()),
            integer: self.integer.unwrap_or(self.config.default_integer()),
            threads: self.threads,
            seed: self.seed,
            lossy: self.lossy,
            batch: self.batch,
            seq_len: self.seq_len,
            device: self.device,
            embedding_init: self.embedding_init,
            layer_init: self.layer_init,
            shards: self.shards,
            window_offsets: self.window_offsets,
            resume: self.resume,
            force: self.force,
        })
    }
}

/// Runs `edgegru pipeline`.
pub fn run(a: Args) -> Result<Status> {
    let cfg = a.config()?.resolved()?;
    let mut progress = ConsoleProgress::new(100);
    let summary = pipeline::run(&cfg, stop_flag(), &mut progress)?;
    progress.end_line();
    progress.report_muted(&format!("its files are in {}", cfg.out.display()));
    Ok(match summary {
        Some(_) => Status::Done,
        None => Status::Interrupted,
    })
}
