//! Models out: a checkpoint's weights as an `.egru` file (the runtime's
//! writer, checked by loading the bytes back) or as an ONNX step graph, and
//! an existing `.egru` file in another layout.

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use edgegru_onnx::OnnxWeights;
use edgegru_runtime::writer::{self, ExportOptions, FloatModel, Layout, ProvenanceSpec, WeightKind};

use crate::checkpoint::Checkpoint;

/// How a model's weights are stored: what `--weights`, `--sparse`,
/// `--numerics` and `--layout` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Encoding {
    /// Weight encoding (`None`: the caller's default).
    pub weights: Option<WeightKind>,
    /// int8 matrices as 8x4 block-sparse.
    pub sparse: bool,
    /// Integer-only numerics (int8 weights, no FPU needed).
    pub integer: bool,
    /// Layout of the int8 matrices.
    pub layout: Layout,
}

impl Encoding {
    /// The writer's options (`default` weights when none are given);
    /// refuses block-sparse, integer-only and the arm-dsp layout without int8 weights.
    pub fn options(&self, default: WeightKind) -> Result<ExportOptions> {
        let weights = self.weights.unwrap_or(default);
        if (self.sparse || self.integer || self.layout != Layout::Portable) && weights != WeightKind::Int8 {
            bail!("--sparse, --numerics int and --layout arm-dsp need --weights int8");
        }
        Ok(ExportOptions { layout: self.layout, ..options(weights, self.sparse, self.integer) })
    }

    /// The ONNX weights of this encoding: float, or int8 as QDQ; ONNX has no
    /// block-sparse, integer-only or arm-dsp layout encoding.
    pub fn onnx_weights(&self) -> Result<OnnxWeights> {
        if self.sparse || self.integer || self.layout != Layout::Portable {
            bail!(
                "ONNX has no block-sparse, integer-only or arm-dsp layout encoding: export --format onnx with --weights f32 or int8 (QDQ)"
            );
        }
        match self.weights.unwrap_or(WeightKind::Int8) {
            WeightKind::F32 => Ok(OnnxWeights::Float),
            WeightKind::Int8 => Ok(OnnxWeights::Int8Qdq),
            WeightKind::F16 => bail!("--format onnx takes --weights f32 or int8"),
        }
    }
}

/// Export options for `weights`, block-sparse and integer-only (the embedding follows the weights).
pub fn options(weights: WeightKind, sparse: bool, integer: bool) -> ExportOptions {
    ExportOptions { weights, embedding: weights, sparse, integer, layout: Layout::Portable }
}

/// The checkpoint's weights in f32, with its tables and provenance.
pub fn float_model(ck: &Checkpoint, name: &str) -> Result<FloatModel> {
    let c = &ck.config;
    let provenance = ProvenanceSpec {
        name: name.to_string(),
        producer: concat!("edgegru-trainer ", env!("CARGO_PKG_VERSION")).to_string(),
        corpus: c.corpus.file_name().map_or_else(|| c.corpus.display().to_string(), |f| f.to_string_lossy().into_owned()),
        training: format!(
            "{}; {:?} lr {}, {} steps, batch {}, seed {}",
            ck.params.net.describe(),
            c.optimizer.kind,
            c.optimizer.lr,
            ck.optimizer.step,
            c.batch,
            c.seed
        ),
    };
    ck.params.to_float_model(&ck.model_data(), provenance)
}

/// The `.egru` bytes of a checkpoint, written by the runtime's writer and
/// checked by loading them back.
pub fn to_egru(ck: &Checkpoint, opts: &ExportOptions, name: &str) -> Result<Vec<u8>> {
    Ok(float_model(ck, name)?.to_checked_bytes(opts)?)
}

/// The f32 `.egru` bytes of a checkpoint: what runs a checkpoint directly.
pub fn to_f32_egru(ck: &Checkpoint, name: &str) -> Result<Vec<u8>> {
    to_egru(ck, &options(WeightKind::F32, false, false), name)
}

/// The ONNX step graph of a checkpoint with `encoding`'s weights.
pub fn to_onnx(ck: &Checkpoint, encoding: &Encoding, name: &str) -> Result<Vec<u8>> {
    let weights = encoding.onnx_weights()?;
    edgegru_onnx::to_bytes(&float_model(ck, name)?, weights)
}

/// An `.egru` file (`bytes`) as an ONNX step graph with `encoding`'s
/// weights: its values read back (int8 and f16 dequantized), then written
/// as float or int8 QDQ.
pub fn model_to_onnx(bytes: &[u8], encoding: &Encoding) -> Result<Vec<u8>> {
    let weights = encoding.onnx_weights()?;
    let model = edgegru_runtime::Model::from_bytes(bytes)?;
    edgegru_onnx::to_bytes(&FloatModel::from_model(&model)?, weights)
}

/// The model's name from its output file.
pub fn name_of(out: &Path) -> &str {
    out.file_stem().and_then(|s| s.to_str()).unwrap_or("model")
}

/// An `.egru` file (`bytes`, read from `source`) with its int8 matrices in
/// `layout`, nothing else changed: the same outputs, bit for bit.
pub fn relayout(bytes: &[u8], source: &Path, layout: Layout) -> Result<Vec<u8>> {
    writer::relayout(bytes, layout).map_err(|err| anyhow!("{}: {err}", source.display()))
}
