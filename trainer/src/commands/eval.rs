//! `edgegru eval`: held-out loss, perplexity, accuracy and macro P/R/F1 of
//! next-token prediction, computed by the runtime streaming token by token
//! (as a device runs the model).

use anyhow::{bail, Result};

use super::backend::{with_runner, Backend, Runner};
use crate::data::{self, Utf8Policy};
use crate::metrics::{score, Metrics, Report};

/// Evaluates a model (`.egru` bytes) on the last `val_split` of a corpus text.
pub fn evaluate(bytes: &[u8], text: &str, val_split: f64) -> Result<Report> {
    evaluate_with(Backend::Native, bytes, text, val_split)
}

/// [`evaluate`] with any backend (an ONNX step graph for tract and ort).
pub fn evaluate_with(backend: Backend, bytes: &[u8], text: &str, val_split: f64) -> Result<Report> {
    with_runner(backend, bytes, None, |session| {
        let ids: Vec<u32> = session.tokenizer()?.encode_iter(text).collect::<Result<_, _>>()?;
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

/// Reads the corpus and evaluates.
pub fn run(backend: Backend, bytes: &[u8], corpus: &std::path::Path, lossy: bool, val_split: f64, json: bool) -> Result<()> {
    let text = data::read_corpus(corpus, if lossy { Utf8Policy::Lossy } else { Utf8Policy::Strict })?;
    let r = evaluate_with(backend, bytes, &text, val_split)?;
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!("tokens      {}", r.tokens);
        println!("loss        {:.4} nats/token", r.loss);
        println!("perplexity  {:.3}", r.perplexity);
        println!("accuracy    {:.4}", r.accuracy);
        println!("precision   {:.4} (macro)", r.precision);
        println!("recall      {:.4} (macro)", r.recall);
        println!("f1          {:.4} (macro)", r.f1);
    }
    Ok(())
}
