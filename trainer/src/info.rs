//! What a model file holds, as data: its input, layers, head, tokenizer,
//! numerics and sizes (what `edgegru inspect` shows, for faces that return
//! values, such as the Python package's `Model.info`).

use anyhow::Result;
use edgegru_runtime::{Fill, Head, InputKind, Layer, Model, Numerics, TokenizerKind};
use serde::Serialize;

/// A model file, described.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    /// The name the model was written with.
    pub name: String,
    /// File size in bytes.
    pub file_bytes: usize,
    /// `.egru` format version.
    pub format_version: u16,
    /// CRC-32 of the file's body.
    pub crc32: u32,
    /// What the input is: `"tokens"` or `"features"`.
    pub input: &'static str,
    /// Token models: vocabulary size; feature models: 0.
    pub vocab: usize,
    /// Token models: embedding width; feature models: 0.
    pub embedding: usize,
    /// Feature models: features per step; token models: 0.
    pub features: usize,
    /// Feature models: the features' names (empty: read by position).
    pub feature_names: Vec<String>,
    /// Feature models: what a missing value becomes (`refuse`, `zero`, `mean`, `previous`).
    pub fill: &'static str,
    /// The GRU layers' state widths, first to last.
    pub gru: Vec<usize>,
    /// The dense layers between the GRUs and the head: width and activation.
    pub dense: Vec<(usize, &'static str)>,
    /// What the outputs are: `next-token`, `classes` or `regression`.
    pub head: &'static str,
    /// Number of outputs.
    pub outputs: usize,
    /// The outputs' names (classes, regression outputs; empty for a token model).
    pub output_names: Vec<String>,
    /// Token models: `char` or `word`.
    pub tokenizer: Option<&'static str>,
    /// Arithmetic: `float`, `hybrid-int8` or `integer`.
    pub numerics: &'static str,
    /// How the matrices are stored (e.g. `int8`, `int8 block-sparse`, `f16`), distinct, in file order.
    pub weights: Vec<String>,
    /// Whether the int8 matrices are in the arm-dsp layout.
    pub arm_dsp_layout: bool,
    /// Trainable parameters.
    pub parameters: usize,
    /// Bytes of working memory (the arena) a session needs.
    pub arena_bytes: usize,
    /// Bytes of a saved recurrent state.
    pub state_bytes: usize,
}

/// Describes the model in `bytes` (checked as the runtime loads it).
pub fn describe(bytes: &[u8]) -> Result<ModelInfo> {
    let model = Model::from_bytes(bytes)?;
    let (input, vocab, embedding, features) = match model.input() {
        InputKind::Tokens { vocab, emb } => ("tokens", vocab, emb, 0),
        InputKind::Features { count } => ("features", 0, 0, count),
    };
    let (mut gru, mut dense) = (Vec::new(), Vec::new());
    for layer in model.layers() {
        match layer {
            Layer::Gru { hidden } => gru.push(hidden),
            Layer::Dense { width, activation } => dense.push((width, activation.name())),
        }
    }
    let mut weights: Vec<String> = Vec::new();
    for (_, m) in model.matrices() {
        let kind = m.kind_name().to_string();
        if !weights.contains(&kind) {
            weights.push(kind);
        }
    }
    let head = model.head().name();
    let output_names = match model.head() {
        Head::NextToken => Vec::new(),
        _ => (0..model.outputs()).map(|i| model.output_name(i).unwrap_or("").to_string()).collect(),
    };
    let arm_dsp_layout = model.matrices().any(|(_, m)| m.is_arm_dsp());
    Ok(ModelInfo {
        name: model.provenance().name.to_string(),
        file_bytes: model.file_len(),
        format_version: model.format_version(),
        crc32: model.checksum(),
        input,
        vocab,
        embedding,
        features,
        feature_names: (0..features).map_while(|i| model.feature_name(i).map(str::to_string)).collect(),
        fill: if features > 0 { model.fill().name() } else { Fill::Refuse.name() },
        gru,
        dense,
        head,
        outputs: model.outputs(),
        output_names,
        tokenizer: model.tokenizer().map(|t| match t.kind() {
            TokenizerKind::Char => "char",
            TokenizerKind::Word => "word",
        }),
        numerics: match model.numerics() {
            Numerics::Float => "float",
            Numerics::HybridInt8 { .. } => "hybrid-int8",
            Numerics::Integer { .. } => "integer",
        },
        weights,
        arm_dsp_layout,
        parameters: model.parameter_count(),
        arena_bytes: model.arena_size(),
        state_bytes: model.state_size(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_the_shipped_classifier_and_text_model() {
        let bm = describe(&crate::builtin::resolve("basicmotions").unwrap()).unwrap();
        assert_eq!((bm.input, bm.features, bm.head, bm.outputs, bm.numerics), ("features", 6, "classes", 4, "integer"));
        assert_eq!(bm.output_names.len(), 4);
        assert!(bm.arena_bytes > 0 && bm.state_bytes > 0 && !bm.gru.is_empty());
        let tiny = describe(&crate::builtin::resolve("tiny").unwrap()).unwrap();
        assert_eq!((tiny.input, tiny.head, tiny.tokenizer, tiny.features), ("tokens", "next-token", Some("char"), 0));
        assert_eq!(tiny.vocab, tiny.outputs);
        assert!(describe(b"EGRU not a model").is_err());
    }
}
