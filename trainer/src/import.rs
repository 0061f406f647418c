//! ONNX import of GRU language models trained elsewhere: PyTorch's
//! `torch.onnx.export` of Embedding -> GRU -> Linear -> ReLU -> Linear, and
//! Keras models converted by tf2onnx (GRU with `reset_after=True`), and this
//! project's own step graphs.
//!
//! The graph is read as a chain of layers: one `Gather` on a float table (the
//! embedding), one forward `GRU` with `linear_before_reset = 1` (this
//! project's convention, so its z, r, h weights go in unchanged), then two
//! linear layers (`Gemm`, or `MatMul` + `Add`) with a `Relu` between them and
//! an optional final `Softmax`. Shape plumbing (`Transpose`, `Squeeze`,
//! `Reshape`, `Shape`, ...) is allowed; any other operator, a second GRU, a
//! bidirectional GRU or `linear_before_reset = 0` is refused with the node's
//! name.

use std::collections::HashMap;

use anyhow::{bail, ensure, Context, Result};
use edgegru_runtime::format::{Dims, TokenizerKind};
use edgegru_runtime::writer::{FloatModel, ProvenanceSpec, TokenizerSpec, KERAS_FILTERS};
use serde_json::Value;
use tract_onnx::pb::{self, tensor_proto::DataType, NodeProto, TensorProto};

use crate::onnx::decode;

/// Operators that only move or reshape data; they carry no weights.
const PLUMBING: &[&str] = &[
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Reshape",
    "Flatten",
    "Identity",
    "Cast",
    "Shape",
    "Constant",
    "ConstantOfShape",
    "Slice",
    "Concat",
    "Expand",
    "Dropout",
    "Size",
    "Range",
];

/// A float constant of the graph (initializer or `Constant` node).
struct Constant {
    dims: Vec<usize>,
    data: Vec<f32>,
}

/// One linear layer, `[out, in]` row-major.
struct Linear {
    node: String,
    weight: Vec<f32>,
    out: usize,
    input: usize,
    bias: Option<Vec<f32>>,
    relu: bool,
}

/// The GRU's weights in this project's layout.
struct Gru {
    hidden: usize,
    input: usize,
    w: Vec<f32>,
    r: Vec<f32>,
    wb: Vec<f32>,
    rb: Vec<f32>,
}

fn float_tensor(t: &TensorProto) -> Result<Option<Constant>> {
    let dims: Vec<usize> = t.dims.iter().map(|&d| usize::try_from(d).context("negative dimension")).collect::<Result<_>>()?;
    let count: usize = dims.iter().product();
    let data: Vec<f32> = match DataType::try_from(t.data_type) {
        Ok(DataType::Float) if !t.raw_data.is_empty() => {
            t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        }
        Ok(DataType::Float) => t.float_data.clone(),
        Ok(DataType::Double) if !t.raw_data.is_empty() => {
            t.raw_data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32).collect()
        }
        Ok(DataType::Double) => t.double_data.iter().map(|&v| v as f32).collect(),
        _ => return Ok(None),
    };
    if !t.external_data.is_empty() {
        bail!("tensor {:?} keeps its data in an external file; save the model with the weights inside", t.name);
    }
    ensure!(data.len() == count, "tensor {:?}: {} values for shape {:?}", t.name, data.len(), dims);
    Ok(Some(Constant { dims, data }))
}

fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_i(node: &NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map_or(default, |a| a.i)
}

fn attr_f(node: &NodeProto, name: &str, default: f32) -> f32 {
    attr(node, name).map_or(default, |a| a.f)
}

fn label(node: &NodeProto) -> String {
    if node.name.is_empty() {
        format!("{} (unnamed, output {:?})", node.op_type, node.output.first().map_or("", String::as_str))
    } else {
        format!("{} {:?}", node.op_type, node.name)
    }
}

/// `[rows, cols]` -> `[cols, rows]`.
fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = data[r * cols + c];
        }
    }
    t
}

/// The model's layers as found in the graph.
#[derive(Default)]
struct Layers {
    embedding: Option<(Vec<f32>, usize, usize)>,
    gru: Option<Gru>,
    linears: Vec<Linear>,
}

impl Layers {
    fn gru(&mut self, node: &NodeProto, consts: &HashMap<String, Constant>) -> Result<()> {
        let l = label(node);
        if self.gru.is_some() {
            bail!("{l}: a second GRU (stacked or multi-layer GRUs are not supported; edgegru runs one GRU layer)");
        }
        if self.embedding.is_none() {
            bail!("{l}: no embedding (Gather on a weight table) before the GRU");
        }
        if attr_i(node, "linear_before_reset", 0) != 1 {
            bail!(
                "{l}: linear_before_reset = 0 (Keras reset_after=False); edgegru computes r * (R h + b) as PyTorch and Keras reset_after=True do"
            );
        }
        if let Some(d) = attr(node, "direction") {
            let dir = String::from_utf8_lossy(&d.s);
            if dir != "forward" {
                bail!("{l}: direction {dir:?}; only forward GRUs can run token by token");
            }
        }
        if let Some(a) = attr(node, "activations") {
            let names: Vec<String> = a.strings.iter().map(|s| String::from_utf8_lossy(s).to_lowercase()).collect();
            if !names.is_empty() && names != ["sigmoid", "tanh"] {
                bail!("{l}: activations {names:?}; edgegru's GRU uses sigmoid and tanh");
            }
        }
        if attr(node, "clip").is_some() {
            bail!("{l}: cell clipping is not supported");
        }
        let input = |i: usize| -> Result<Option<&Constant>> {
            match node.input.get(i).filter(|n| !n.is_empty()) {
                None => Ok(None),
                Some(name) => consts.get(name).map(Some).with_context(|| format!("{l}: input {i} ({name}) is not a constant weight")),
            }
        };
        let w = input(1)?.with_context(|| format!("{l}: no W input"))?;
        let r = input(2)?.with_context(|| format!("{l}: no R input"))?;
        ensure!(w.dims.len() == 3 && w.dims[0] == 1, "{l}: W has shape {:?}; want [1, 3*hidden, input]", w.dims);
        let hidden = w.dims[1] / 3;
        let width = w.dims[2];
        ensure!(hidden > 0 && w.dims[1] == 3 * hidden, "{l}: W has shape {:?}; want [1, 3*hidden, input]", w.dims);
        ensure!(r.dims == [1, 3 * hidden, hidden], "{l}: R has shape {:?}; want [1, {}, {hidden}]", r.dims, 3 * hidden);
        if let Some(h) = attr(node, "hidden_size") {
            ensure!(h.i as usize == hidden, "{l}: hidden_size {} but W has {hidden} rows per gate", h.i);
        }
        let (wb, rb) = match input(3)? {
            Some(b) => {
                ensure!(b.dims == [1, 6 * hidden], "{l}: B has shape {:?}; want [1, {}]", b.dims, 6 * hidden);
                (b.data[..3 * hidden].to_vec(), b.data[3 * hidden..].to_vec())
            }
            None => (vec![0.0; 3 * hidden], vec![0.0; 3 * hidden]),
        };
        // Inputs 4 and 5 (sequence_lens, initial_h) are run-time values.
        self.gru = Some(Gru { hidden, input: width, w: w.data.clone(), r: r.data.clone(), wb, rb });
        Ok(())
    }

    fn linear(&mut self, node: &NodeProto, weight: &Constant, transposed: bool, bias: Option<&Constant>) -> Result<()> {
        let l = label(node);
        if self.gru.is_none() {
            bail!("{l}: a linear layer before the GRU is not part of Embedding -> GRU -> Dense -> Dense");
        }
        ensure!(weight.dims.len() == 2, "{l}: weight of shape {:?}; want a matrix", weight.dims);
        let (rows, cols) = (weight.dims[0], weight.dims[1]);
        // Stored [out, in] when transposed (PyTorch Linear through Gemm transB=1), else [in, out].
        let (out, input, data) =
            if transposed { (rows, cols, weight.data.clone()) } else { (cols, rows, transpose(&weight.data, rows, cols)) };
        let mut layer = Linear { node: l.clone(), weight: data, out, input, bias: None, relu: false };
        if let Some(b) = bias {
            layer.set_bias(b, &l)?;
        }
        self.linears.push(layer);
        Ok(())
    }
}

impl Linear {
    fn set_bias(&mut self, b: &Constant, l: &str) -> Result<()> {
        ensure!(self.bias.is_none(), "{l}: a second bias for the linear layer {}", self.node);
        ensure!(b.data.len() == self.out, "{l}: bias of {} values for a layer of {} outputs", b.data.len(), self.out);
        self.bias = Some(b.data.clone());
        Ok(())
    }
}

/// Reads an ONNX GRU language model into f32 weights with the tokenizer
/// `tokenizer`. Errors name the node that does not fit.
pub fn import(onnx: &[u8], tokenizer: TokenizerSpec, name: &str) -> Result<FloatModel> {
    let model = decode(onnx)?;
    let graph = model.graph.context("the ONNX model has no graph")?;
    let mut consts: HashMap<String, Constant> = HashMap::new();
    for t in &graph.initializer {
        if let Some(c) = float_tensor(t)? {
            consts.insert(t.name.clone(), c);
        }
    }
    // A recurrent layer that the converter could not map to an ONNX GRU node
    // becomes a loop; name it before anything inside it is reported.
    if let Some(node) = graph.node.iter().find(|n| n.op_type == "Loop" || n.op_type == "Scan") {
        bail!(
            "{}: a loop, not a GRU node (tf2onnx writes one for Keras GRU(reset_after=False) and other recurrent layers it cannot map); edgegru imports ONNX GRU nodes with linear_before_reset=1",
            label(node)
        );
    }
    let mut layers = Layers::default();
    for node in &graph.node {
        let l = label(node);
        let const_input = |i: usize| node.input.get(i).and_then(|n| consts.get(n));
        match node.op_type.as_str() {
            "Constant" => {
                if let (Some(out), Some(t)) = (node.output.first(), attr(node, "value").and_then(|a| a.t.as_ref())) {
                    if let Some(c) = float_tensor(t)? {
                        consts.insert(out.clone(), c);
                    }
                }
            }
            "Gather" if const_input(0).is_some_and(|c| c.dims.len() == 2) => {
                let table = const_input(0).context("checked")?;
                if layers.embedding.is_some() {
                    bail!("{l}: a second embedding table");
                }
                ensure!(attr_i(node, "axis", 0) == 0, "{l}: embedding lookup along axis {}", attr_i(node, "axis", 0));
                layers.embedding = Some((table.data.clone(), table.dims[0], table.dims[1]));
            }
            "GRU" => layers.gru(node, &consts)?,
            "Gemm" => {
                ensure!(
                    attr_f(node, "alpha", 1.0) == 1.0 && attr_f(node, "beta", 1.0) == 1.0 && attr_i(node, "transA", 0) == 0,
                    "{l}: Gemm with alpha/beta other than 1 or transA"
                );
                let w = const_input(1).with_context(|| format!("{l}: the weight (input B) is not a constant"))?;
                layers.linear(node, w, attr_i(node, "transB", 0) == 1, const_input(2))?;
            }
            "MatMul" => {
                let w = const_input(1).with_context(|| format!("{l}: the weight (second input) is not a constant"))?;
                layers.linear(node, w, false, None)?;
            }
            "Add" => {
                let b = const_input(1).or_else(|| const_input(0)).with_context(|| format!("{l}: neither input is a constant bias"))?;
                let layer = layers.linears.last_mut().with_context(|| format!("{l}: a bias with no linear layer before it"))?;
                layer.set_bias(b, &l)?;
            }
            "Relu" => {
                let layer = layers.linears.last_mut().with_context(|| format!("{l}: ReLU with no linear layer before it"))?;
                layer.relu = true;
            }
            "Softmax" | "LogSoftmax" => {
                ensure!(layers.linears.len() == 2, "{l}: softmax before the output layer");
            }
            op if PLUMBING.contains(&op) || op == "Gather" => {}
            op => bail!("{l}: unsupported operator {op} (edgegru imports Embedding -> GRU -> Dense(relu) -> Dense)"),
        }
    }
    let (embedding, vocab, emb) = layers.embedding.context("no embedding: expected a Gather on a [vocab, emb] weight table")?;
    let gru = layers.gru.context("no GRU node")?;
    let [dense, output] = <[Linear; 2]>::try_from(layers.linears)
        .map_err(|v| anyhow::anyhow!("{} linear layers after the GRU; expected two (Dense with ReLU, then the output layer)", v.len()))?;
    ensure!(gru.input == emb, "the GRU takes {} inputs but the embedding is {emb} wide", gru.input);
    ensure!(dense.relu, "{}: the first linear layer after the GRU must be followed by ReLU", dense.node);
    ensure!(!output.relu, "{}: ReLU after the output layer", output.node);
    ensure!(dense.input == gru.hidden, "{}: takes {} inputs, the GRU gives {}", dense.node, dense.input, gru.hidden);
    ensure!(output.input == dense.out, "{}: takes {} inputs, the dense layer gives {}", output.node, output.input, dense.out);
    ensure!(output.out == vocab, "{}: {} outputs for a vocabulary of {vocab} (embedding rows)", output.node, output.out);
    ensure!(
        tokenizer.tokens.len() == vocab,
        "the vocabulary file has {} tokens but the model has {vocab} (embedding rows, padding included)",
        tokenizer.tokens.len()
    );
    let dims = Dims { vocab: vocab as u32, emb: emb as u32, hidden: gru.hidden as u32, dense: dense.out as u32 };
    let producer =
        if model.producer_name.is_empty() { "unknown".into() } else { format!("{} {}", model.producer_name, model.producer_version) };
    Ok(FloatModel {
        dims,
        tokenizer,
        provenance: ProvenanceSpec {
            name: name.into(),
            producer: concat!("edgegru-trainer ", env!("CARGO_PKG_VERSION"), " import").into(),
            corpus: String::new(),
            training: format!("imported from ONNX ({producer})"),
        },
        embedding,
        gru_input: gru.w,
        gru_recurrent: gru.r,
        gru_input_bias: gru.wb,
        gru_recurrent_bias: gru.rb,
        dense_bias: dense.bias.unwrap_or_else(|| vec![0.0; dense.out]),
        dense: dense.weight,
        output_bias: output.bias.unwrap_or_else(|| vec![0.0; output.out]),
        output: output.weight,
    })
}

/// Reads a vocabulary file: Keras' `tokenizer.to_json()`, or a JSON list of
/// token strings in id order (character level when every token is one
/// character, else words split on spaces, no filters, case kept; an empty
/// first entry is padding, and `oov` names the out-of-vocabulary token).
pub fn vocabulary(json: &[u8], oov: Option<&str>) -> Result<TokenizerSpec> {
    let v: Value = serde_json::from_slice(json).context("the vocabulary is not JSON")?;
    match &v {
        Value::Array(items) => token_list(items, oov),
        Value::Object(o) if o.get("class_name").and_then(Value::as_str) == Some("Tokenizer") => keras_tokenizer(&v),
        _ => bail!("the vocabulary must be a JSON list of tokens or Keras' tokenizer.to_json()"),
    }
}

fn token_list(items: &[Value], oov: Option<&str>) -> Result<TokenizerSpec> {
    let tokens: Vec<String> =
        items.iter().map(|t| t.as_str().map(String::from).context("every vocabulary entry must be a string")).collect::<Result<_>>()?;
    ensure!(!tokens.is_empty(), "the vocabulary is empty");
    let pad = tokens[0].is_empty().then_some(0);
    let oov = match oov {
        Some(o) => {
            Some(tokens.iter().position(|t| t == o).with_context(|| format!("the OOV token {o:?} is not in the vocabulary"))? as u32)
        }
        None => None,
    };
    let special = |i: usize| Some(i as u32) == pad || Some(i as u32) == oov;
    let chars = tokens.iter().enumerate().all(|(i, t)| special(i) || t.chars().count() == 1);
    Ok(TokenizerSpec {
        kind: if chars { TokenizerKind::Char } else { TokenizerKind::Word },
        lowercase: false,
        filters: String::new(),
        split: ' ',
        pad,
        oov,
        tokens,
    })
}

fn keras_tokenizer(v: &Value) -> Result<TokenizerSpec> {
    let config = v.get("config").context("Keras tokenizer JSON without \"config\"")?;
    // Keras stores word_index as a JSON string inside the config.
    let word_index: Value = match config.get("word_index") {
        Some(Value::String(s)) => serde_json::from_str(s).context("Keras word_index is not JSON")?,
        Some(other) => other.clone(),
        None => bail!("Keras tokenizer JSON without word_index"),
    };
    let index = word_index.as_object().context("Keras word_index is not an object")?;
    let num_words = config.get("num_words").and_then(Value::as_u64).map(|n| n as usize);
    let size = num_words.unwrap_or(index.len() + 1);
    let mut tokens = vec![String::new(); size];
    for (word, id) in index {
        let id = id.as_u64().context("a word_index id is not a number")? as usize;
        ensure!(id > 0, "word_index gives {word:?} id 0, which Keras reserves for padding");
        if id < size {
            tokens[id] = word.clone();
        }
    }
    if let Some(i) = tokens.iter().skip(1).position(String::is_empty) {
        bail!("word_index has no word for id {}", i + 1);
    }
    let oov = match config.get("oov_token") {
        Some(Value::String(t)) => Some(index.get(t).and_then(Value::as_u64).context("the OOV token is not in word_index")? as u32),
        _ => None,
    };
    let char_level = config.get("char_level").and_then(Value::as_bool).unwrap_or(false);
    let split = config.get("split").and_then(Value::as_str).unwrap_or(" ");
    let mut chars = split.chars();
    let (Some(split), None) = (chars.next(), chars.next()) else { bail!("Keras split {split:?} is not one character") };
    Ok(TokenizerSpec {
        kind: if char_level { TokenizerKind::Char } else { TokenizerKind::Word },
        lowercase: config.get("lower").and_then(Value::as_bool).unwrap_or(true),
        filters: config.get("filters").and_then(Value::as_str).unwrap_or(KERAS_FILTERS).into(),
        split,
        pad: Some(0),
        oov,
        tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{to_bytes, OnnxWeights};

    #[test]
    fn our_own_float_export_imports_to_the_same_weights() {
        let m = FloatModel::random_char("abcdef ", 4, 8, 6, 3);
        let onnx = to_bytes(&m, OnnxWeights::Float).unwrap();
        let back = import(&onnx, m.tokenizer.clone(), "x").unwrap();
        assert_eq!(back.dims, m.dims);
        assert_eq!(
            (&back.embedding, &back.gru_input, &back.gru_recurrent, &back.gru_input_bias, &back.gru_recurrent_bias),
            (&m.embedding, &m.gru_input, &m.gru_recurrent, &m.gru_input_bias, &m.gru_recurrent_bias)
        );
        assert_eq!((&back.dense, &back.dense_bias, &back.output, &back.output_bias), (&m.dense, &m.dense_bias, &m.output, &m.output_bias));
    }

    #[test]
    fn a_wrong_vocabulary_size_is_refused() {
        let m = FloatModel::random_char("abcdef ", 4, 8, 6, 3);
        let onnx = to_bytes(&m, OnnxWeights::Float).unwrap();
        let err = import(&onnx, TokenizerSpec::chars("abc"), "x").unwrap_err().to_string();
        assert!(err.contains("3 tokens") && err.contains("7"), "{err}");
    }

    #[test]
    fn keras_tokenizer_json_gives_keras_ids() {
        // The shape of Keras' Tokenizer.to_json(): word_index as a string inside config.
        let json = r#"{"class_name": "Tokenizer", "config": {"num_words": 4, "filters": "!?", "lower": true, "split": " ",
            "char_level": false, "oov_token": "<OOV>", "document_count": 2,
            "word_index": "{\"<OOV>\": 1, \"the\": 2, \"cat\": 3, \"sat\": 4}"}}"#;
        let spec = vocabulary(json.as_bytes(), None).unwrap();
        assert_eq!(spec.tokens, ["", "<OOV>", "the", "cat"], "num_words keeps ids below 4");
        assert_eq!(
            (spec.kind, spec.pad, spec.oov, spec.lowercase, spec.filters.as_str()),
            (TokenizerKind::Word, Some(0), Some(1), true, "!?")
        );
    }

    #[test]
    fn token_lists_are_char_or_word_level() {
        let spec = vocabulary(br#"["a", "b", " "]"#, None).unwrap();
        assert_eq!((spec.kind, spec.pad), (TokenizerKind::Char, None));
        let spec = vocabulary(br#"["", "<unk>", "hello", "world"]"#, Some("<unk>")).unwrap();
        assert_eq!((spec.kind, spec.pad, spec.oov), (TokenizerKind::Word, Some(0), Some(1)));
        assert!(vocabulary(br#"{"a": 1}"#, None).is_err());
        assert!(vocabulary(br#"["a", 3]"#, None).is_err());
        assert!(vocabulary(b"\xff", None).is_err());
    }
}
