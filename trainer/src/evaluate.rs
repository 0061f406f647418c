//! Evaluation, computed by a session stepping through the data as a device
//! runs the model: a language model's held-out loss, perplexity, accuracy
//! and macro precision/recall/F1; a classifier's accuracy, macro
//! precision/recall/F1 and confusion matrix on labelled sequences; a
//! regressor's RMSE, MAE and R².

use std::path::Path;

use anyhow::{bail, Result};
use edgegru_runtime::{Fill, HeadKind, InputKind};

use crate::backend::{bytes_for, is_egru, onnx_session, tokenizer_of, with_session, Backend, DynSession};
use crate::data::{self, Columns, LabelKind, ReadOptions, Sequences};
use crate::generation::known_text;
use crate::metrics::{score, ClassMetrics, ClassReport, Metrics, RegressionMetrics, RegressionReport, Report};
use crate::tokenize::describe_unknown;

/// What a model's outputs are, with their names (classes or regression
/// outputs), from an `.egru` file or an edgegru ONNX step graph's metadata.
pub fn head_of(bytes: &[u8]) -> Result<(HeadKind, Vec<String>)> {
    if is_egru(bytes) {
        let model = edgegru_runtime::Model::from_bytes(bytes)?;
        let names = (0..model.outputs()).map(|i| model.output_name(i).unwrap_or("").to_string()).collect();
        return Ok((model.head().kind(), names));
    }
    let session = onnx_session(Backend::Tract, bytes).map_err(|e| e.context("cannot read the ONNX model's network description"))?;
    let net = session.network();
    Ok((net.head, net.names.clone()))
}

/// The model's class names (its outputs' names); a model that is not a
/// classifier is refused.
pub fn class_names(bytes: &[u8]) -> Result<Vec<String>> {
    match head_of(bytes)? {
        (HeadKind::Classes, names) => Ok(names),
        (head, _) => bail!("this model is not a classifier (its head is {}); evaluate a language model with --corpus", head.name()),
    }
}

/// Evaluates a model (`.egru` bytes) natively on the last `val_split` of a corpus text.
pub fn evaluate(bytes: &[u8], text: &str, val_split: f64) -> Result<Report> {
    evaluate_text(Backend::Native, bytes, text, val_split, false)
}

/// Evaluates a language model with `backend` on the last `val_split` of
/// `text`, optionally leaving out the characters the vocabulary lacks (else
/// they are an error naming the first).
pub fn evaluate_text(backend: Backend, bytes: &[u8], text: &str, val_split: f64, skip_unknown: bool) -> Result<Report> {
    evaluate_located(backend, bytes, text, val_split, skip_unknown, None)
}

/// [`evaluate_text`] on the text of `corpus` (a file or folder, as
/// [`data::read_corpus`] joins it): an unknown character is named with its
/// file, line and column.
pub fn evaluate_corpus(backend: Backend, bytes: &[u8], corpus: &Path, text: &str, val_split: f64, skip_unknown: bool) -> Result<Report> {
    evaluate_located(backend, bytes, text, val_split, skip_unknown, Some(corpus))
}

fn evaluate_located(
    backend: Backend,
    bytes: &[u8],
    text: &str,
    val_split: f64,
    skip_unknown: bool,
    corpus: Option<&Path>,
) -> Result<Report> {
    with_session(backend, bytes, None, |session| {
        let known = if skip_unknown { known_text(session, text)? } else { String::new() };
        let text = if skip_unknown { known.as_str() } else { text };
        let ids: Vec<u32> = tokenizer_of(session)?.encode_iter(text).collect::<Result<_, _>>().map_err(|e| {
            match (describe_unknown(text, &e), &e, corpus) {
                (Some(what), edgegru_runtime::Error::UnknownToken { offset, .. }, Some(path)) => {
                    anyhow::anyhow!("{}: {what}; pass --skip-unknown to leave such characters out", data::position(path, text, *offset))
                }
                (Some(what), _, _) => anyhow::anyhow!("{what}; pass --skip-unknown to leave such characters out"),
                (None, _, _) => e.into(),
            }
        })?;
        score_held_out(session, &ids, val_split)
    })
}

fn score_held_out(session: &mut DynSession<'_>, ids: &[u32], val_split: f64) -> Result<Report> {
    let (_, held_out) = data::split_tail(ids, val_split);
    if held_out.len() < 2 {
        bail!("the held-out split has {} tokens; need at least 2 (raise --val-split or use a longer corpus)", held_out.len());
    }
    let mut m = Metrics::default();
    for pair in held_out.windows(2) {
        let logits = session.step(pair[0])?;
        let (pred, nll) = score(logits, pair[1]);
        m.add(pair[1], pred, nll);
    }
    Ok(m.report())
}

/// Streams one sequence (`channels` values per step) from the initial state,
/// calling `per_step` with every step's outputs; returns the last step's.
pub fn stream(session: &mut DynSession<'_>, series: &[f32], channels: usize, mut per_step: impl FnMut(&[f32])) -> Result<Vec<f32>> {
    session.reset();
    let mut last = Vec::new();
    for step in series.chunks_exact(channels.max(1)) {
        let out = session.step_features(step)?;
        per_step(out);
        last = out.to_vec();
    }
    Ok(last)
}

/// What a feature model reads: its feature count, their names (none: CSV
/// columns are taken by position) and what a missing value becomes.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureInput {
    /// Features per step.
    pub count: usize,
    /// The features' names, or none.
    pub names: Vec<String>,
    /// What a missing value (NaN) becomes.
    pub fill: Fill,
}

/// The features a model reads, from an `.egru` file or an edgegru ONNX step
/// graph's metadata; a token model is refused.
pub fn features_of(bytes: &[u8]) -> Result<FeatureInput> {
    let (input, names, fill) = if is_egru(bytes) {
        let model = edgegru_runtime::Model::from_bytes(bytes)?;
        let count = match model.input() {
            InputKind::Features { count } => count,
            InputKind::Tokens { .. } => 0,
        };
        let names = (0..count).map_while(|i| model.feature_name(i).map(str::to_string)).collect();
        (model.input(), names, model.fill())
    } else {
        let session = onnx_session(Backend::Tract, bytes).map_err(|e| e.context("cannot read the ONNX model's network description"))?;
        let net = session.network();
        (net.input, net.feature_names.clone(), net.fill)
    };
    match input {
        InputKind::Features { count } => Ok(FeatureInput { count, names, fill }),
        InputKind::Tokens { .. } => bail!("this model reads tokens, not feature sequences"),
    }
}

/// Reads a `.ts` or CSV file for a feature model: CSV columns by the
/// model's feature names (by position when it names none), labels as
/// `labels` says. Returns the sequences and notes for the user (columns
/// left out, columns taken by position).
pub fn read_for_model(bytes: &[u8], path: &Path, labels: LabelKind, columns: &Columns) -> Result<(Sequences, Vec<String>)> {
    let model = features_of(bytes)?;
    let options = ReadOptions { labels, columns, features: Some(&model.names) };
    let seqs = data::read_sequences(path, &options)?;
    if seqs.channels != model.count {
        bail!("{} has {} features per step, the model reads {}", path.display(), seqs.channels, model.count);
    }
    let mut notes = Vec::new();
    if model.names.is_empty() && !seqs.names.is_empty() {
        notes.push(format!("the model names no features: the columns {} are read by position", seqs.names.join(", ")));
    }
    if !seqs.unused.is_empty() {
        notes.push(format!("columns the model does not read, left out: {}", seqs.unused.join(", ")));
    }
    if seqs.missing() > 0 && model.fill == Fill::Refuse {
        bail!(
            "{} has {} missing values and the model refuses them (train with --fill, or import with --fill, to fill them)",
            path.display(),
            seqs.missing()
        );
    }
    Ok((seqs, notes))
}

/// Evaluates a classifier on labelled sequences (relabelled to the model's
/// classes; read them with [`read_for_model`]).
pub fn evaluate_sequences(backend: Backend, bytes: &[u8], seqs: &Sequences) -> Result<ClassReport> {
    let classes = class_names(bytes)?;
    let seqs = seqs.clone().relabel(&classes)?;
    if seqs.labels.is_empty() {
        bail!("the sequences have no class labels; `edgegru predict` runs unlabelled data");
    }
    with_session(backend, &bytes_for(backend, bytes)?, None, |session| {
        let mut m = ClassMetrics::new(&classes);
        for (series, &label) in seqs.series.iter().zip(&seqs.labels) {
            let p = stream(session, series, seqs.channels, |_| {})?;
            m.add(label, &p);
        }
        Ok(m.report())
    })
}

/// Evaluates a regressor on sequences with target values: RMSE, MAE and R²
/// of its first output at each sequence's last step.
pub fn evaluate_regression(backend: Backend, bytes: &[u8], seqs: &Sequences) -> Result<RegressionReport> {
    let (head, _) = head_of(bytes)?;
    if head != HeadKind::Regression {
        bail!("this model is not a regressor (its head is {}); evaluate a classifier on its classes", head.name());
    }
    if !seqs.is_regression() {
        bail!("the sequences hold no target values");
    }
    with_session(backend, &bytes_for(backend, bytes)?, None, |session| {
        let mut m = RegressionMetrics::default();
        for (series, &target) in seqs.series.iter().zip(&seqs.targets) {
            let out = stream(session, series, seqs.channels, |_| {})?;
            m.add(target, out.first().copied().unwrap_or(f32::NAN));
        }
        Ok(m.report())
    })
}
