//! Models trained elsewhere, brought in as edgegru networks: ONNX exports of
//! PyTorch and Keras models ([`onnx`], with the GRU loops tf2onnx writes for
//! Keras in [`keras_loop`]), Keras model files ([`keras_file`]), their
//! vocabularies ([`vocab`]), and the check of what was written ([`verify`]).
//! [`import`] does all of it in one call.

mod graph;
pub mod keras_file;
pub mod keras_loop;
pub mod onnx;
pub mod verify;
pub mod vocab;
mod walk;

use anyhow::Result;
use edgegru_runtime::writer::{ExportOptions, FloatModel, TokenizerSpec};
use edgegru_runtime::{Fill, HeadKind};

pub use verify::Verification;

/// The kind of file a model comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// ONNX: `torch.onnx.export`, tf2onnx, or an edgegru step graph.
    Onnx,
    /// A Keras model file: `.keras` or legacy `.h5`.
    Keras,
}

/// A model brought in: its f32 weights, the file written, and the check.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The network's weights in f32, with its tables.
    pub model: FloatModel,
    /// The `.egru` bytes written with the requested encoding.
    pub bytes: Vec<u8>,
    /// The comparison of the import with its source and of the written file with the f32 import.
    pub verification: Verification,
}

/// Imports the model in `source` (a file of `kind`), writes it with `opts`
/// and checks the result (`check_prompt`: the language-model check's prompt).
pub fn import(
    source: &[u8],
    kind: SourceKind,
    tokenizer: Option<TokenizerSpec>,
    options: &ImportOptions,
    opts: &ExportOptions,
    name: &str,
    check_prompt: Option<&str>,
) -> Result<Imported> {
    anyhow::ensure!(options.input_range.is_finite() && options.input_range > 0.0, "--input-range must be a positive number");
    let model = match kind {
        SourceKind::Keras => keras_file::import(source, tokenizer, options, name)?,
        SourceKind::Onnx => onnx::import(source, tokenizer, options, name)?,
    };
    let bytes = model.to_checked_bytes(opts)?;
    let f32_bytes = model.to_checked_bytes(&crate::export::options(edgegru_runtime::writer::WeightKind::F32, false, false))?;
    let annotated = match kind {
        SourceKind::Keras => None,
        SourceKind::Onnx => Some(crate::backend::annotate_import(edgegru_onnx::decode(source)?, &model)?),
    };
    let verification = verify::verify(annotated.as_deref(), &f32_bytes, &bytes, check_prompt)?;
    Ok(Imported { model, bytes, verification })
}

/// Choices the graph does not say.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The head (default: next-token for token models, classes for feature models).
    pub head: Option<HeadKind>,
    /// Class (or output) names, in output order (default `0..n-1`).
    pub classes: Option<Vec<String>>,
    /// Feature models with integer-only numerics: the largest magnitude of
    /// the (already normalized) features the model expects.
    pub input_range: f32,
    /// Feature models: the features' names, in input order (none: unnamed,
    /// so CSV columns are matched by position).
    pub feature_names: Vec<String>,
    /// Feature models: what a missing value becomes on the device.
    pub fill: Fill,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { head: None, classes: None, input_range: 4.0, feature_names: Vec::new(), fill: Fill::Refuse }
    }
}
