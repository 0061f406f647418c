//! `edgegru prune`: fine-tune a trained checkpoint while pruning it gradually (8x4 blocks).

use std::path::PathBuf;

use anyhow::{bail, Result};

use super::args::{which, PruneArgs};
use super::{console, Status};
use crate::checkpoint::{locate, Checkpoint};
use crate::config::TrainConfig;
use crate::run::{self, OutMode};

/// Fine-tune a trained checkpoint while pruning it gradually (8x4 blocks).
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  edgegru prune --checkpoint runs/a --out runs/a-sparse --steps 1500 --prune-to 0.75 --keep-diagonal")]
pub struct Args {
    /// The trained run folder (its best checkpoint, in best/, unless --last) or checkpoint file.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The run's last checkpoint instead of its best.
    #[arg(long)]
    pub last: bool,
    /// New run folder for the pruned model (not the trained run's).
    #[arg(long)]
    pub out: PathBuf,
    /// Fine-tuning steps (added to the checkpoint's), at least 1.
    #[arg(long, value_parser = super::args::whole::<u64>(1), allow_negative_numbers = true)]
    pub steps: u64,
    /// Constant learning rate of the fine-tuning (default: half the run's peak, at least its --min-lr).
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f32>,
    /// Replace a run that is already in --out.
    #[arg(long)]
    pub force: bool,
    /// Pruning while training.
    #[command(flatten)]
    pub prune: PruneArgs,
}

/// Runs `edgegru prune`.
pub fn run(a: Args) -> Result<Status> {
    if a.steps == 0 {
        bail!("--steps must be at least 1");
    }
    if a.prune.prune_to.is_none() {
        bail!("say how sparse: --prune-to 0.75");
    }
    let same = |x: &std::path::Path, y: &std::path::Path| match (std::fs::canonicalize(x), std::fs::canonicalize(y)) {
        (Ok(a), Ok(b)) => a == b || a.parent() == Some(&b) || b.parent() == Some(&a),
        _ => x == y,
    };
    if same(&a.out, &a.checkpoint) {
        bail!("--out is the checkpoint's own run; give the pruned run a folder of its own");
    }
    let ck = Checkpoint::load(&locate(&a.checkpoint, which(a.last)))?;
    let mut config = TrainConfig::fine_tune(&ck, a.steps, a.lr);
    config.prune = a.prune.config(ck.optimizer.step, config.steps)?;
    run::prepare_out(&a.out, if a.force { OutMode::Replace } else { OutMode::New })?;
    console::train(config, &a.out, Some(ck))
}
