//! `edgegru eval`: a language model's held-out loss, perplexity, accuracy and
//! macro precision/recall/F1 of next-token prediction; a classifier's
//! accuracy, macro precision/recall/F1 and confusion matrix on labelled
//! sequences; a regressor's RMSE, MAE and R² (the library's
//! [`crate::evaluate`]), printed.

use std::path::PathBuf;

use anyhow::{bail, Result};

use super::args::{ColumnArgs, ModelSource};
use super::{say, Status};
use crate::backend::Backend;
use crate::data::{self, LabelKind, Utf8Policy};
use crate::evaluate::{evaluate_corpus, evaluate_regression, evaluate_sequences, head_of, read_for_model};
use crate::metrics::{ClassReport, RegressionReport};
use edgegru_runtime::HeadKind;

/// Held-out loss, perplexity, accuracy, macro precision/recall/F1 (language
/// models); accuracy, macro precision/recall/F1 and the confusion matrix
/// (classifiers); RMSE, MAE and R² (regressors).
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  edgegru eval --checkpoint runs/a --corpus /usr/share/games/fortunes
  edgegru eval --model m.egru --corpus /usr/share/games/fortunes --json
  edgegru eval --model basicmotions --data BasicMotions_TEST.ts --json")]
pub struct Args {
    /// Where the model comes from.
    #[command(flatten)]
    pub source: ModelSource,
    /// Language models: a corpus file or folder; its last --val-split is evaluated.
    #[arg(long, required_unless_present = "data")]
    pub corpus: Option<PathBuf>,
    /// Classifiers and regressors: labelled sequences (.ts or CSV, its columns by the model's feature
    /// names), every one evaluated.
    #[arg(long, conflicts_with = "corpus")]
    pub data: Option<PathBuf>,
    /// CSV columns.
    #[command(flatten)]
    pub columns: ColumnArgs,
    /// Fraction of the corpus (its end) that was held out.
    #[arg(long, default_value_t = 0.1)]
    pub val_split: f64,
    /// Replace invalid UTF-8 instead of refusing the corpus.
    #[arg(long)]
    pub lossy: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Leave characters the vocabulary lacks out of the corpus instead of refusing it.
    #[arg(long)]
    pub skip_unknown: bool,
    /// Engine that runs the model (tract and ort take an ONNX file).
    #[arg(long, value_enum, default_value = "native")]
    pub backend: Backend,
}

/// Runs `edgegru eval`.
pub fn run(a: Args) -> Result<Status> {
    let bytes = a.source.bytes()?;
    if let Some(data) = &a.data {
        let head = head_of(&bytes)?.0;
        let labels = if head == HeadKind::Regression { LabelKind::Targets } else { LabelKind::Classes };
        let (seqs, notes) = read_for_model(&bytes, data, labels, &a.columns.columns())?;
        notes.iter().for_each(|n| eprintln!("note: {n}"));
        match head {
            HeadKind::Regression => print_regression(&evaluate_regression(a.backend, &bytes, &seqs)?, a.json)?,
            _ => print_classes(&evaluate_sequences(a.backend, &bytes, &seqs)?, a.json)?,
        }
        return Ok(Status::Done);
    }
    let Some(corpus) = &a.corpus else { bail!("give --corpus (a language model) or --data (a classifier or regressor)") };
    let text = data::read_corpus(corpus, if a.lossy { Utf8Policy::Lossy } else { Utf8Policy::Strict })?;
    let r = evaluate_corpus(a.backend, &bytes, corpus, &text, a.val_split, a.skip_unknown)?;
    if a.json {
        say(&serde_json::to_string(&r)?);
    } else {
        say(&format!("tokens      {}", r.tokens));
        say(&format!("loss        {:.4} nats/token", r.loss));
        say(&format!("perplexity  {:.3}", r.perplexity));
        say(&format!("accuracy    {:.4}", r.accuracy));
        say(&format!("precision   {:.4} (macro)", r.precision));
        say(&format!("recall      {:.4} (macro)", r.recall));
        say(&format!("f1          {:.4} (macro)", r.f1));
    }
    Ok(Status::Done)
}

/// A classifier's figures and confusion matrix.
fn print_classes(r: &ClassReport, json: bool) -> Result<()> {
    if json {
        say(&serde_json::to_string(r)?);
        return Ok(());
    }
    say(&format!("sequences   {}", r.sequences));
    say(&format!("accuracy    {:.4}", r.accuracy));
    say(&format!("precision   {:.4} (macro)", r.precision));
    say(&format!("recall      {:.4} (macro)", r.recall));
    say(&format!("f1          {:.4} (macro)", r.f1));
    say(&format!("loss        {:.4} nats", r.loss));
    say("confusion (rows: label, columns: predicted)");
    let w = r.classes.iter().map(|c| c.chars().count()).max().unwrap_or(1).max(5);
    let header: String = r.classes.iter().map(|c| format!(" {c:>w$}")).collect();
    say(&format!("{:>w$}{header}", ""));
    for (c, row) in r.classes.iter().zip(&r.confusion) {
        let cells: String = row.iter().map(|n| format!(" {n:>w$}")).collect();
        say(&format!("{c:>w$}{cells}"));
    }
    Ok(())
}

/// A regressor's figures.
fn print_regression(r: &RegressionReport, json: bool) -> Result<()> {
    if json {
        say(&serde_json::to_string(r)?);
        return Ok(());
    }
    say(&format!("sequences   {}", r.sequences));
    say(&format!("rmse        {:.6}", r.rmse));
    say(&format!("mae         {:.6}", r.mae));
    say(&format!("r2          {:.4}", r.r2));
    Ok(())
}
