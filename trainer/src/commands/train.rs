//! `edgegru train`: its arguments, the checks of a resumed run's flags, and
//! the run with the console display.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::parser::ValueSource;
use clap::ArgMatches;

use super::args::{DataArgs, NetworkArgs, OptimArgs, PruneArgs, RunArgs, WindowArgs};
use super::{console, Status};
use crate::checkpoint::Checkpoint;
use crate::config::{Task, TrainConfig};
use crate::files::absolute;
use crate::run::{self, OutMode};

/// Train a model (a language model on a corpus, or a sequence classifier), or continue a run with --resume.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  edgegru train --corpus /usr/share/games/fortunes --out runs/a --minutes 20
  edgegru train --corpus notes.txt --out runs/w --tokenizer word --emb 128 --seq-len 32 --epochs 5
  edgegru train --corpus notes.txt --out runs/2 --layers 2 --hidden 192 --dropout 0.1 --steps 3000
  edgegru train --task classify --data BasicMotions_TRAIN.ts --val-data BasicMotions_TEST.ts --out runs/bm --hidden 32 --dense 0 --batch 8 --epochs 200
  edgegru train --task classify --data walks.csv --label-column activity --fill previous --out runs/w --epochs 100
  edgegru train --resume runs/a --minutes 40

Sequence data (--data, --val-data):
  .ts     the UCR/UEA format: @classLabel true A B C (or @targetLabel true), then after @data one case per
          line, dimensions separated by ':', values by ',', the label last. ? or NaN is a missing value.
  CSV     a header, then one step per row. The id column (--id-column) names each row's sequence, the
          label column (--label-column) its class or target; a time column (--time-column) is left out;
          every other column is a feature, stored in the model by name. Quoted cells are read; an empty
          cell, ?, NA or NaN is missing. Without a header: one sequence per row, the label first.
  The run keeps its best checkpoint by validation loss in OUT/best/ (export and eval use it; --last for
  OUT's own), and says what it validates on.")]
pub struct Args {
    /// Run folder: checkpoint, history.csv/json, loss.svg, tensorboard/ (default with --resume: the resumed folder).
    #[arg(long, required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// The training data.
    #[command(flatten)]
    pub data: DataArgs,
    /// The network's sizes.
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Optimizer and regularization.
    #[command(flatten)]
    pub optim: OptimArgs,
    /// Windows and initialization.
    #[command(flatten)]
    pub window: WindowArgs,
    /// How long and where the run trains.
    #[command(flatten)]
    pub run: RunArgs,
    /// Pruning while training.
    #[command(flatten)]
    pub prune: PruneArgs,
}

/// Flags a resumed run may change: its limits, where it runs, and where its data is.
const RESUME_MAY_CHANGE: [&str; 11] =
    ["resume", "out", "corpus", "data", "val_data", "steps", "epochs", "minutes", "device", "precision", "threads"];

/// Flags given on the command line that a resume would ignore (they are the run's own).
fn ignored_on_resume(matches: &ArgMatches) -> Vec<String> {
    // The ids of arguments, not of the groups that flattened flag structs add.
    let command = <Args as clap::Args>::augment_args(clap::Command::new("train"));
    let is_argument = |id: &str| command.get_arguments().any(|a| a.get_id() == id);
    let mut ids: Vec<String> = matches
        .ids()
        .map(|id| id.as_str().to_string())
        .filter(|id| is_argument(id) && !RESUME_MAY_CHANGE.contains(&id.as_str()))
        .filter(|id| matches!(matches.value_source(id), Some(ValueSource::CommandLine)))
        .map(|id| format!("--{}", id.replace('_', "-")))
        .collect();
    ids.sort();
    ids
}

/// Runs `edgegru train`.
pub fn run(a: Args, matches: &ArgMatches) -> Result<Status> {
    if let Some(dir) = &a.data.resume {
        let ignored = ignored_on_resume(matches);
        if !ignored.is_empty() {
            bail!(
                "--resume continues the run with its own settings; these flags would be ignored: {} (leave them out; the limits --steps, --epochs, --minutes, the device, --threads and the data's path may change)",
                ignored.join(", ")
            );
        }
        let ck = Checkpoint::load(dir)?;
        let mut config = ck.config.clone();
        config.device = a.run.device;
        config.precision = a.run.precision;
        config.threads = a.run.threads;
        config.steps = a.run.steps.or(config.steps);
        config.epochs = a.run.epochs.or(config.epochs);
        config.minutes = a.run.minutes.or(config.minutes);
        if let Some(path) = a.data.corpus.as_ref().or(a.data.data.as_ref()) {
            config.corpus = absolute(path)?;
        }
        if let Some(path) = &a.data.val_data {
            config.val_data = Some(absolute(path)?);
        }
        let out = a.out.clone().unwrap_or_else(|| dir.clone());
        run::prepare_out(&out, if out == *dir { OutMode::Continue } else { OutMode::New })?;
        return console::train(config, &out, Some(ck));
    }
    let out = a.out.clone().context("--out is required")?;
    let config = config(&a)?;
    run::prepare_out(&out, if a.run.force { OutMode::Replace } else { OutMode::New })?;
    console::train(config, &out, None)
}

/// What to say when `--data` comes without `--task`: the task its labels call for.
fn task_hint(data: &std::path::Path) -> String {
    let task = match crate::data::read_sequences(data, &crate::data::ReadOptions::any()) {
        Ok(s) if s.is_regression() => "--task regress (its sequences have target values)",
        Ok(_) => "--task classify (its sequences have class labels)",
        Err(_) => "--task classify (class labels) or --task regress (target values)",
    };
    format!("--data trains on labelled sequences: add {task}; a text corpus is --corpus")
}

/// The run's configuration from the command line.
fn config(a: &Args) -> Result<TrainConfig> {
    let corpus = match (a.data.task, &a.data.corpus, &a.data.data) {
        (Task::Lm, Some(c), _) => c,
        (Task::Classify | Task::Regress, _, Some(d)) => d,
        (Task::Lm, None, Some(d)) => bail!("{}", task_hint(d)),
        (Task::Lm, None, _) => bail!("--task lm trains on a text --corpus"),
        (Task::Classify, _, None) => bail!("--task classify trains on labelled sequences: --data FILE.ts (or CSV)"),
        (Task::Regress, _, None) => bail!("--task regress trains on sequences with target values: --data FILE.ts (or CSV)"),
    };
    let config = TrainConfig {
        corpus: absolute(corpus)?,
        task: a.data.task,
        val_data: a.data.val_data.as_deref().map(absolute).transpose()?,
        columns: a.data.columns.columns(),
        fill: a.data.fill,
        lossy: a.data.lossy,
        tokenizer: a.network.tokenizer,
        num_words: a.network.num_words,
        emb: a.network.emb,
        hidden: a.network.widths()?,
        dense: a.network.dense,
        seq_len: a.window.seq_len,
        batch: a.window.batch,
        epochs: a.run.epochs,
        steps: a.run.steps,
        minutes: a.run.minutes,
        optimizer: a.optim.optimizer(),
        regularization: a.optim.regularization(),
        val_split: a.data.val_split,
        seed: a.run.seed,
        threads: a.run.threads,
        checkpoint_every: a.run.checkpoint_every,
        log_every: a.run.log_every,
        device: a.run.device,
        precision: a.run.precision,
        embedding_init: a.window.embedding_init,
        layer_init: a.window.layer_init,
        shards: a.run.shards,
        window_offsets: a.window.window_offsets,
        prune: a.prune.config(0, a.run.steps)?,
        patience: a.run.patience,
        data_fingerprint: None,
    };
    config.validate()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Line {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn the_command_line_defaults_are_the_library_s() {
        let line = Line::try_parse_from(["train", "--corpus", "corpus.txt", "--out", "runs/x", "--steps", "5"]).unwrap();
        let from_cli = config(&line.args).unwrap();
        let library = TrainConfig { steps: Some(5), ..TrainConfig::new(Task::Lm, absolute(std::path::Path::new("corpus.txt")).unwrap()) };
        assert_eq!(from_cli, library);
    }
}
