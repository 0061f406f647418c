//! Evaluation, computed by a session stepping through the data as a device
//! runs the model: a language model's held-out loss, perplexity, accuracy
//! and macro precision/recall/F1; a classifier's accuracy, macro
//! precision/recall/F1 and confusion matrix on labelled sequences; a
//! regressor's RMSE, MAE and R².

use std::path::Path;

use anyhow::{bail, Result};
use edgegru_runtime::HeadKind;

use crate::backend::{bytes_for, is_egru, onnx_session, tokenizer_of, with_session, Backend, DynSession};
use crate::data::{self, Sequences};
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
    with_session(backend, bytes, None, |session| {
        let known = if skip_unknown { known_text(session, text)? } else { String::new() };
        let text = if skip_unknown { known.as_str() } else { text };
        let ids: Vec<u32> =
            tokenizer_of(session)?.encode_iter(text).collect::<Result<_, _>>().map_err(|e| match describe_unknown(text, &e) {
                Some(what) => anyhow::anyhow!("{what}; pass --skip-unknown to leave such characters out"),
                None => e.into(),
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

/// Evaluates a classifier on labelled sequences (relabelled to the model's classes).
pub fn evaluate_sequences(backend: Backend, bytes: &[u8], data: &Path) -> Result<ClassReport> {
    let classes = class_names(bytes)?;
    let seqs: Sequences = data::read_sequences(data)?.relabel(&classes)?;
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
pub fn evaluate_regression(backend: Backend, bytes: &[u8], data: &Path) -> Result<RegressionReport> {
    let (head, _) = head_of(bytes)?;
    if head != HeadKind::Regression {
        bail!("this model is not a regressor (its head is {}); evaluate a classifier on its classes", head.name());
    }
    let seqs = data::read_sequences(data)?;
    if !seqs.is_regression() {
        bail!("{} holds class labels, not target values", data.display());
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
