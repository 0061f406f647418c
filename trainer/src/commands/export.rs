//! `edgegru export`: a checkpoint to the `.egru` file that ships.

use std::path::Path;

use anyhow::{Context, Result};
use edgegru_runtime::writer::{ExportOptions, ProvenanceSpec, WeightKind};

use crate::checkpoint::Checkpoint;

/// The `.egru` bytes of a checkpoint, written by the runtime's writer and
/// checked by loading them back.
pub fn to_egru(ck: &Checkpoint, opts: &ExportOptions, name: &str) -> Result<Vec<u8>> {
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
    let model = ck.params.to_float_model(&ck.vocab, provenance);
    Ok(model.to_checked_bytes(opts)?)
}

/// Export options for `--weights`, `--sparse` and `--numerics int` (the embedding follows the weights).
pub fn options(weights: WeightKind, sparse: bool, integer: bool) -> ExportOptions {
    ExportOptions { weights, embedding: weights, sparse, integer }
}

/// Runs `edgegru export`.
pub fn run(checkpoint: &Path, opts: &ExportOptions, out: &Path) -> Result<()> {
    let ck = Checkpoint::load(checkpoint)?;
    let name = out.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    let bytes = to_egru(&ck, opts, name)?;
    std::fs::write(out, &bytes).with_context(|| format!("cannot write {}", out.display()))?;
    println!("wrote {} ({} bytes)", out.display(), bytes.len());
    Ok(())
}
