//! `edgegru eval`: a language model's held-out loss, perplexity, accuracy and
//! macro precision/recall/F1 of next-token prediction; a classifier's
//! accuracy, macro precision/recall/F1 and confusion matrix on labelled
//! sequences. Computed by the runtime streaming step by step, as a device runs the model.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::args::ModelSource;
use super::backend::{with_runner, Backend, Runner};
use super::Status;
use crate::data::{self, Sequences, Utf8Policy};
use crate::metrics::{score, ClassMetrics, ClassReport, Metrics, Report};
use crate::tokenize::describe_unknown;

/// Held-out loss, perplexity, accuracy, macro precision/recall/F1 (language
/// models); accuracy, macro precision/recall/F1 and the confusion matrix (classifiers).
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
    /// Classifiers: labelled sequences (.ts or CSV), every one evaluated.
    #[arg(long, conflicts_with = "corpus")]
    pub data: Option<PathBuf>,
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

/// Evaluates a model (`.egru` bytes) on the last `val_split` of a corpus text.
pub fn evaluate(bytes: &[u8], text: &str, val_split: f64) -> Result<Report> {
    evaluate_with(Backend::Native, bytes, text, val_split)
}

/// [`evaluate`] with any backend (an ONNX step graph for tract and ort).
pub fn evaluate_with(backend: Backend, bytes: &[u8], text: &str, val_split: f64) -> Result<Report> {
    evaluate_text(backend, bytes, text, val_split, false)
}

/// [`evaluate_with`], optionally leaving out of `text` the characters the
/// vocabulary lacks (else they are an error naming the first).
pub fn evaluate_text(backend: Backend, bytes: &[u8], text: &str, val_split: f64, skip_unknown: bool) -> Result<Report> {
    with_runner(backend, bytes, None, |session| {
        let known = if skip_unknown { super::generate::known_text(session, text)? } else { String::new() };
        let text = if skip_unknown { known.as_str() } else { text };
        let ids: Vec<u32> =
            session.tokenizer()?.encode_iter(text).collect::<Result<_, _>>().map_err(|e| match describe_unknown(text, &e) {
                Some(what) => anyhow::anyhow!("{what}; pass --skip-unknown to leave such characters out"),
                None => e.into(),
            })?;
        score_held_out(session, &ids, val_split)
    })
}

fn score_held_out(session: &mut dyn Runner, ids: &[u32], val_split: f64) -> Result<Report> {
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

/// Class probabilities of every step of one sequence (`channels` values per step).
pub fn stream(session: &mut dyn Runner, series: &[f32], channels: usize, mut per_step: impl FnMut(&[f32])) -> Result<Vec<f32>> {
    session.reset();
    let mut last = Vec::new();
    for step in series.chunks_exact(channels.max(1)) {
        let out = session.step_features(step)?;
        per_step(out);
        last = out.to_vec();
    }
    Ok(last)
}

/// The model's class names (its outputs' names), from an `.egru` file or
/// from an edgegru ONNX step graph's metadata.
pub fn class_names(bytes: &[u8]) -> Result<Vec<String>> {
    let head = if super::backend::is_egru(bytes) {
        let model = edgegru_runtime::Model::from_bytes(bytes)?;
        match model.head() {
            edgegru_runtime::Head::Classes(_) => {
                return Ok((0..model.outputs()).map(|i| model.output_name(i).unwrap_or("").to_string()).collect())
            }
            other => other.name().to_string(),
        }
    } else {
        let session = super::backend::onnx_session(Backend::Tract, bytes).context("cannot read the ONNX model's network description")?;
        match &session.network().head {
            edgegru_runtime::writer::HeadKind::Classes(names) => return Ok(names.clone()),
            other => format!("{other:?}"),
        }
    };
    bail!("this model is not a classifier (its head is {head}); evaluate a language model with --corpus")
}

/// Evaluates a classifier on labelled sequences (relabelled to the model's classes).
pub fn evaluate_sequences(backend: Backend, bytes: &[u8], data: &Path) -> Result<ClassReport> {
    let classes = class_names(bytes)?;
    let seqs: Sequences = data::read_sequences(data)?.relabel(&classes)?;
    let model_bytes = match backend {
        Backend::Native => std::borrow::Cow::Borrowed(bytes),
        _ => super::backend::onnx_bytes(bytes, None)?,
    };
    with_runner(backend, &model_bytes, None, |session| {
        let mut m = ClassMetrics::new(&classes);
        for (series, &label) in seqs.series.iter().zip(&seqs.labels) {
            let p = stream(session, series, seqs.channels, |_| {})?;
            m.add(label, &p);
        }
        Ok(m.report())
    })
}

/// Runs `edgegru eval`.
pub fn run(a: Args) -> Result<Status> {
    let bytes = a.source.bytes()?;
    if let Some(data) = &a.data {
        let r = evaluate_sequences(a.backend, &bytes, data)?;
        if a.json {
            super::say(&serde_json::to_string(&r)?);
        } else {
            super::say(&format!("sequences   {}", r.sequences));
            super::say(&format!("accuracy    {:.4}", r.accuracy));
            super::say(&format!("precision   {:.4} (macro)", r.precision));
            super::say(&format!("recall      {:.4} (macro)", r.recall));
            super::say(&format!("f1          {:.4} (macro)", r.f1));
            super::say(&format!("loss        {:.4} nats", r.loss));
            super::say("confusion (rows: label, columns: predicted)");
            let w = r.classes.iter().map(|c| c.chars().count()).max().unwrap_or(1).max(5);
            let header: String = r.classes.iter().map(|c| format!(" {c:>w$}")).collect();
            super::say(&format!("{:>w$}{header}", ""));
            for (c, row) in r.classes.iter().zip(&r.confusion) {
                let cells: String = row.iter().map(|n| format!(" {n:>w$}")).collect();
                super::say(&format!("{c:>w$}{cells}"));
            }
        }
        return Ok(Status::Done);
    }
    let Some(corpus) = &a.corpus else { bail!("give --corpus (a language model) or --data (a classifier)") };
    let text = data::read_corpus(corpus, if a.lossy { Utf8Policy::Lossy } else { Utf8Policy::Strict })?;
    let r = evaluate_text(a.backend, &bytes, &text, a.val_split, a.skip_unknown)?;
    if a.json {
        super::say(&serde_json::to_string(&r)?);
    } else {
        super::say(&format!("tokens      {}", r.tokens));
        super::say(&format!("loss        {:.4} nats/token", r.loss));
        super::say(&format!("perplexity  {:.3}", r.perplexity));
        super::say(&format!("accuracy    {:.4}", r.accuracy));
        super::say(&format!("precision   {:.4} (macro)", r.precision));
        super::say(&format!("recall      {:.4} (macro)", r.recall));
        super::say(&format!("f1          {:.4} (macro)", r.f1));
    }
    Ok(Status::Done)
}
