//! `edgegru export`: a checkpoint to the `.egru` file that ships.

use std::path::Path;

use anyhow::Result;
use edgegru_runtime::writer::{ExportOptions, FloatModel, ProvenanceSpec, WeightKind};

use crate::checkpoint::Checkpoint;
use crate::onnx::{self, OnnxWeights};

/// The checkpoint's weights in f32, with its tokenizer and provenance.
pub fn float_model(ck: &Checkpoint, name: &str) -> FloatModel {
    let c = &ck.config;
    let provenance = ProvenanceSpec {
        name: name.to_string(),
        producer: concat!("edgegru-trainer ", env!("CARGO_PKG_VERSION")).to_string(),
        corpus: c.corpus.display().to_string(),
        training: format!(
            "{:?} tokens, emb {}, hidden {}, dense {}, seq_len {}, batch {}, {:?} lr {}, {} steps, seed {}",
            c.tokenizer, c.emb, c.hidden, c.dense, c.seq_len, c.batch, c.optimizer.kind, c.optimizer.lr, ck.optimizer.step, c.seed
        ),
    };
    ck.params.to_float_model(&ck.vocab, provenance)
}

/// The `.egru` bytes of a checkpoint, written by the runtime's writer and
/// checked by loading them back.
pub fn to_egru(ck: &Checkpoint, opts: &ExportOptions, name: &str) -> Result<Vec<u8>> {
    Ok(float_model(ck, name).to_checked_bytes(opts)?)
}

/// Export options for `--weights`, `--sparse` and `--numerics int` (the embedding follows the weights).
pub fn options(weights: WeightKind, sparse: bool, integer: bool) -> ExportOptions {
    ExportOptions { weights, embedding: weights, sparse, integer }
}

/// What `edgegru export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// An `.egru` file.
    Egru(ExportOptions),
    /// An ONNX step graph.
    Onnx(OnnxWeights),
}

/// Runs `edgegru export`.
pub fn run(checkpoint: &Path, format: ExportFormat, out: &Path) -> Result<()> {
    let ck = Checkpoint::load(checkpoint)?;
    let name = out.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    let bytes = match format {
        ExportFormat::Egru(opts) => to_egru(&ck, &opts, name)?,
        ExportFormat::Onnx(weights) => onnx::to_bytes(&float_model(&ck, name), weights)?,
    };
    super::write_file(out, &bytes)?;
    println!("wrote {} ({} bytes)", out.display(), bytes.len());
    Ok(())
}
