//! ONNX import of GRU networks trained elsewhere: PyTorch's
//! `torch.onnx.export` (`nn.Embedding` or features -> `nn.GRU`, one or more
//! layers -> `nn.Linear` layers with activations), Keras models converted by
//! tf2onnx (`GRU(reset_after=True)`, stacked `return_sequences` GRUs), and this
//! project's own step graphs.
//!
//! The graph is read as a chain of layers: an optional `Gather` on a float
//! table (the embedding; without one the model reads features), 1 to 4
//! forward `GRU` nodes with `linear_before_reset = 1` (this project's
//! convention, so their z, r, h weights go in unchanged), each reading the
//! one before, then linear layers (`Gemm`, or `MatMul` + `Add`) each
//! optionally followed by `Relu`, `Tanh` or `Sigmoid`, and an optional final
//! `Softmax`. Shape plumbing (`Transpose`, `Squeeze`, `Reshape`, `Shape`, ...)
//! is allowed, and so are multiplications by a constant of ones (Keras'
//! dropout masks at inference); any other operator, a bidirectional GRU or
//! `linear_before_reset = 0` is refused with the node's name and the reason.
//! A Keras GRU that tf2onnx writes as a `Loop` (recurrent dropout) is traced
//! by [`super::keras_loop`].

use std::collections::HashMap;

use anyhow::{bail, ensure, Context, Result};
use edgegru_onnx::decode;
use edgegru_onnx::pb::{self, tensor_proto::DataType, NodeProto, TensorProto};
use edgegru_runtime::writer::{FloatDense, FloatGru, FloatHead, FloatInput, FloatModel, ProvenanceSpec, TokenizerSpec};
use edgegru_runtime::{Activation, HeadKind};

use super::ImportOptions;

/// A float constant of the graph (initializer or `Constant` node).
pub(crate) struct Constant {
    pub(crate) dims: Vec<usize>,
    pub(crate) data: Vec<f32>,
}

/// One linear layer, `[out, in]` row-major, and the activation after it.
pub(crate) struct Linear {
    node: String,
    weight: Vec<f32>,
    out: usize,
    input: usize,
    bias: Option<Vec<f32>>,
    pub(crate) activation: Option<(Activation, String)>,
}

/// A GRU layer's weights in this project's layout (ONNX gate order z, r, n;
/// rows per output).
pub(crate) struct Gru {
    /// Where it came from, for messages.
    pub(crate) node: String,
    pub(crate) hidden: usize,
    pub(crate) input: usize,
    /// `[3 * hidden, input]`.
    pub(crate) w: Vec<f32>,
    /// `[3 * hidden, hidden]`.
    pub(crate) r: Vec<f32>,
    pub(crate) wb: Vec<f32>,
    pub(crate) rb: Vec<f32>,
}

/// A float tensor's shape and values (`None` for other element types).
pub(crate) fn float_tensor(t: &TensorProto) -> Result<Option<Constant>> {
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

pub(crate) fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

pub(crate) fn attr_i(node: &NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map_or(default, |a| a.i)
}

pub(crate) fn attr_f(node: &NodeProto, name: &str, default: f32) -> f32 {
    attr(node, name).map_or(default, |a| a.f)
}

pub(crate) fn label(node: &NodeProto) -> String {
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

/// The model's layers as found in the graph (or a Keras file).
#[derive(Default)]
pub(crate) struct Layers {
    /// The embedding table, its rows and its width.
    pub(crate) embedding: Option<(Vec<f32>, usize, usize)>,
    /// Feature normalization before the first GRU: `(x - mean) * scale`.
    mean: Option<Vec<f32>>,
    scale: Option<Vec<f32>>,
    pub(crate) grus: Vec<Gru>,
    pub(crate) linears: Vec<Linear>,
    /// The network ends in a softmax.
    pub(crate) softmax: bool,
}

impl Layers {
    /// `features - mean` at the input.
    pub(crate) fn normalize_mean(&mut self, mean: Option<&Constant>, l: &str) -> Result<()> {
        let mean = mean.with_context(|| format!("{l}: a subtraction at the input that is not features minus a constant"))?;
        ensure!(self.mean.is_none() && self.scale.is_none(), "{l}: a second subtraction at the input, or one after the scaling");
        ensure!(
            mean.dims.iter().rev().skip(1).all(|&d| d == 1),
            "{l}: the subtracted mean has shape {:?}; want one value per feature",
            mean.dims
        );
        self.mean = Some(mean.data.clone());
        Ok(())
    }

    /// `features * scale` (or `/ std`) at the input.
    pub(crate) fn normalize_scale(&mut self, c: Option<&Constant>, divide: bool, l: &str) -> Result<()> {
        let c = c.with_context(|| format!("{l}: a scaling at the input that is not by a constant"))?;
        ensure!(self.scale.is_none(), "{l}: a second scaling at the input");
        ensure!(c.dims.iter().rev().skip(1).all(|&d| d == 1), "{l}: the input scale has shape {:?}; want one value per feature", c.dims);
        if divide {
            ensure!(c.data.iter().all(|&v| v != 0.0 && v.is_finite()), "{l}: a division by zero or a non-finite value");
        }
        self.scale = Some(if divide { c.data.iter().map(|v| 1.0 / v).collect() } else { c.data.clone() });
        Ok(())
    }

    /// A GRU layer read from an ONNX GRU node or a Keras loop: it must come
    /// before the linear layers and read what the layer below gives.
    pub(crate) fn push_gru(&mut self, gru: Gru) -> Result<()> {
        let l = &gru.node;
        if !self.linears.is_empty() {
            bail!("{l}: a GRU after a linear layer; edgegru runs the dense layers after the last GRU");
        }
        if self.grus.len() == edgegru_runtime::format::MAX_GRU_LAYERS {
            bail!("{l}: more than {} stacked GRU layers", edgegru_runtime::format::MAX_GRU_LAYERS);
        }
        if let Some(below) = self.grus.last() {
            ensure!(gru.input == below.hidden, "{l}: reads {} values, the GRU below ({}) gives {}", gru.input, below.node, below.hidden);
        } else if let Some((_, _, emb)) = &self.embedding {
            ensure!(gru.input == *emb, "{l}: reads {} values but the embedding is {emb} wide", gru.input);
        }
        self.grus.push(gru);
        Ok(())
    }

    /// An ONNX GRU node.
    pub(crate) fn gru(&mut self, node: &NodeProto, consts: &HashMap<String, Constant>) -> Result<()> {
        let l = label(node);
        if attr_i(node, "linear_before_reset", 0) != 1 {
            bail!(
                "{l}: linear_before_reset = 0 (Keras reset_after=False); edgegru computes r * (R h + b) as PyTorch and Keras reset_after=True do"
            );
        }
        if let Some(d) = attr(node, "direction") {
            let dir = String::from_utf8_lossy(&d.s);
            if dir != "forward" {
                bail!("{l}: direction {dir:?}: a bidirectional or reverse GRU reads the sequence's end before its start, so it cannot run step by step as a stream; edgegru runs forward GRUs");
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
        self.push_gru(Gru { node: l, hidden, input: width, w: w.data.clone(), r: r.data.clone(), wb, rb })
    }

    /// A linear layer named `l` in messages: weight `[out, in]` when
    /// `transposed`, else `[in, out]`.
    pub(crate) fn linear_named(&mut self, l: String, weight: &Constant, transposed: bool, bias: Option<&Constant>) -> Result<()> {
        if self.grus.is_empty() {
            bail!("{l}: a linear layer before the first GRU (edgegru's networks start with an embedding or the features, then GRU layers)");
        }
        if self.softmax {
            bail!("{l}: a linear layer after the softmax");
        }
        ensure!(weight.dims.len() == 2, "{l}: weight of shape {:?}; want a matrix", weight.dims);
        let (rows, cols) = (weight.dims[0], weight.dims[1]);
        // Stored [out, in] when transposed (PyTorch Linear through Gemm transB=1), else [in, out].
        let (out, input, data) =
            if transposed { (rows, cols, weight.data.clone()) } else { (cols, rows, transpose(&weight.data, rows, cols)) };
        let mut layer = Linear { node: l.clone(), weight: data, out, input, bias: None, activation: None };
        if let Some(b) = bias {
            layer.set_bias(b, &l)?;
        }
        self.linears.push(layer);
        Ok(())
    }

    /// The activation (named `l` in messages) after the last linear layer.
    pub(crate) fn activation_named(&mut self, l: String, act: Activation) -> Result<()> {
        let Some(layer) = self.linears.last_mut() else { bail!("{l}: an activation with no linear layer before it") };
        if let Some((_, other)) = &layer.activation {
            bail!("{l}: a second activation after {} (already {other})", layer.node);
        }
        layer.activation = Some((act, l));
        Ok(())
    }
}

impl Linear {
    pub(crate) fn set_bias(&mut self, b: &Constant, l: &str) -> Result<()> {
        ensure!(self.bias.is_none(), "{l}: a second bias for the linear layer {}", self.node);
        ensure!(b.data.len() == self.out, "{l}: bias of {} values for a layer of {} outputs", b.data.len(), self.out);
        self.bias = Some(b.data.clone());
        Ok(())
    }
}

/// Whether a constant holds only ones (a dropout mask at inference, or a scale of 1).
pub(crate) fn all_ones(c: &Constant) -> bool {
    c.data.iter().all(|&v| v == 1.0)
}

/// Reads an ONNX GRU network into f32 weights: a token model with the
/// tokenizer `tokenizer`, or a feature model. The graph is followed along its
/// edges (its nodes may be listed in any topological order). Errors name the
/// node that does not fit and why.
pub fn import(onnx: &[u8], tokenizer: Option<TokenizerSpec>, opts: &ImportOptions, name: &str) -> Result<FloatModel> {
    let model = decode(onnx)?;
    let graph = model.graph.as_ref().context("the ONNX model has no graph")?;
    let mut consts: HashMap<String, Constant> = HashMap::new();
    for t in &graph.initializer {
        if let Some(c) = float_tensor(t)? {
            consts.insert(t.name.clone(), c);
        }
    }
    // Recurrent layers written as loops (Keras GRUs with recurrent dropout,
    // through tf2onnx) are traced first.
    let mut loops: HashMap<String, Gru> = HashMap::new();
    for node in graph.node.iter().filter(|n| n.op_type == "Loop" || n.op_type == "Scan") {
        ensure!(node.op_type == "Loop", "{}: a Scan; edgegru reads GRU nodes and the loops tf2onnx writes for Keras GRUs", label(node));
        loops.insert(label(node), super::keras_loop::trace(node, &consts)?);
    }
    let feeding = super::graph::feeding_outputs(graph);
    if let Some((_, dead)) = graph.node.iter().enumerate().find(|(i, n)| !feeding.contains(i) && n.op_type != "Constant") {
        bail!("{}: its output feeds nothing the network's outputs depend on; edgegru imports one chain of layers", label(dead));
    }
    let inputs = graph.input.iter().map(|i| i.name.as_str()).filter(|n| !graph.initializer.iter().any(|t| t.name == *n));
    let mut walk = super::walk::Walk::new(inputs, consts, loops);
    for node in super::graph::topological(graph)? {
        walk.node(node)?;
    }
    build(walk.layers, tokenizer, opts, name, &model.producer_name, &model.producer_version)
}

/// How a user's export reads its whole sequence, for running the original
/// graph ([`edgegru_onnx::SequenceLayout`]): the graph input and its type;
/// batch first when a transpose of the first two axes lies between the input
/// and the first GRU (PyTorch `batch_first=True` and tf2onnx both put one
/// there; a time-major PyTorch export has none); whether it ends in a softmax.
pub fn sequence_layout(model: &pb::ModelProto) -> Result<edgegru_onnx::SequenceLayout> {
    let graph = model.graph.as_ref().context("the ONNX model has no graph")?;
    let input = graph.input.iter().find(|i| !graph.initializer.iter().any(|t| t.name == i.name)).context("the graph has no input")?;
    let elem = input
        .r#type
        .as_ref()
        .and_then(|t| match &t.value {
            Some(pb::type_proto::Value::TensorType(tt)) => Some(tt.elem_type),
            _ => None,
        })
        .unwrap_or(DataType::Int64 as i32);
    let input_type = match DataType::try_from(elem) {
        Ok(DataType::Int32) => "int32",
        Ok(DataType::Float) => "float",
        _ => "int64",
    };
    let batch_first = transposed_before_first_gru(graph)?;
    let softmax = graph.node.iter().any(|n| n.op_type == "Softmax");
    Ok(edgegru_onnx::SequenceLayout { input: input.name.clone(), batch_first, input_type: input_type.into(), softmax })
}

/// Whether a transpose of the first two axes lies on the way from the
/// graph's input to its first GRU (or GRU loop), following the edges.
fn transposed_before_first_gru(graph: &pb::GraphProto) -> Result<bool> {
    let order = super::graph::topological(graph)?;
    let Some(first) = order.iter().find(|n| n.op_type == "GRU" || n.op_type == "Loop") else { return Ok(false) };
    let producer: HashMap<&str, &NodeProto> = graph.node.iter().flat_map(|n| n.output.iter().map(move |o| (o.as_str(), n))).collect();
    let mut todo: Vec<&str> = super::graph::reads(first);
    let mut seen = std::collections::HashSet::new();
    while let Some(value) = todo.pop() {
        let Some(node) = producer.get(value).filter(|n| seen.insert(n.output.first().cloned())) else { continue };
        if node.op_type == "Transpose" && attr(node, "perm").is_some_and(|p| p.ints.len() >= 2 && p.ints[0] == 1 && p.ints[1] == 0) {
            return Ok(true);
        }
        todo.extend(super::graph::reads(node));
    }
    Ok(false)
}

/// The network from the layers found.
pub(crate) fn build(
    layers: Layers,
    tokenizer: Option<TokenizerSpec>,
    opts: &ImportOptions,
    name: &str,
    producer: &str,
    version: &str,
) -> Result<FloatModel> {
    ensure!(!layers.grus.is_empty(), "no GRU node (or GRU loop) in the graph");
    ensure!(!layers.linears.is_empty(), "no linear layer after the GRU: edgegru needs an output layer");
    let mut linears = layers.linears;
    let head = linears.pop().context("checked")?;
    if let Some((_, node)) = &head.activation {
        bail!("{node}: an activation after the output layer {} (only a final softmax is allowed there)", head.node);
    }
    ensure!(
        linears.len() <= edgegru_runtime::format::MAX_DENSE_LAYERS,
        "{} dense layers before the output layer; edgegru runs at most {}",
        linears.len(),
        edgegru_runtime::format::MAX_DENSE_LAYERS
    );
    let mut width = layers.grus.last().map_or(0, |g| g.hidden);
    for layer in linears.iter().chain([&head]) {
        ensure!(layer.input == width, "{}: takes {} inputs, the layer before gives {width}", layer.node, layer.input);
        width = layer.out;
    }
    let outputs = head.out;
    ensure!(
        layers.embedding.is_none() || (layers.mean.is_none() && layers.scale.is_none()),
        "a token model with a normalization at its input"
    );
    let input = float_input(layers.embedding, layers.mean, layers.scale, layers.grus[0].input, tokenizer, opts)?;
    let (kind, names) = head_kind(&input, outputs, &head.node, opts)?;
    let producer = if producer.is_empty() { "unknown".into() } else { format!("{producer} {version}") };
    Ok(FloatModel {
        input,
        grus: layers
            .grus
            .into_iter()
            .map(|g| FloatGru { hidden: g.hidden, input: g.w, recurrent: g.r, input_bias: g.wb, recurrent_bias: g.rb })
            .collect(),
        dense: linears
            .into_iter()
            .map(|d| FloatDense {
                activation: d.activation.map_or(Activation::Linear, |(a, _)| a),
                bias: d.bias.unwrap_or_else(|| vec![0.0; d.out]),
                weight: d.weight,
            })
            .collect(),
        head: FloatHead { kind, names, bias: head.bias.clone().unwrap_or_else(|| vec![0.0; head.out]), weight: head.weight },
        provenance: ProvenanceSpec {
            name: name.into(),
            producer: concat!("edgegru-trainer ", env!("CARGO_PKG_VERSION"), " import").into(),
            corpus: String::new(),
            training: format!("imported from ONNX ({producer})"),
        },
    })
}

/// The network's input: the embedding with its tokenizer, or the features
/// with the normalization found before the first GRU.
fn float_input(
    embedding: Option<(Vec<f32>, usize, usize)>,
    mean: Option<Vec<f32>>,
    scale: Option<Vec<f32>>,
    first_gru_input: usize,
    tokenizer: Option<TokenizerSpec>,
    opts: &ImportOptions,
) -> Result<FloatInput> {
    Ok(match (embedding, tokenizer) {
        (Some((embedding, vocab, emb)), Some(tokenizer)) => {
            ensure!(
                tokenizer.tokens.len() == vocab,
                "the vocabulary file has {} tokens but the model has {vocab} (embedding rows, padding included)",
                tokenizer.tokens.len()
            );
            FloatInput::Tokens { tokenizer, emb, embedding }
        }
        (Some(_), None) => bail!("the model embeds tokens: give its vocabulary with --vocab"),
        (None, _) => {
            let f = first_gru_input;
            let per_feature = |v: Option<Vec<f32>>, default: f32, what: &str| -> Result<Vec<f32>> {
                match v {
                    None => Ok(vec![default; f]),
                    Some(v) if v.len() == 1 => Ok(vec![v[0]; f]),
                    Some(v) => {
                        ensure!(v.len() == f, "the input {what} has {} values for {f} features", v.len());
                        Ok(v)
                    }
                }
            };
            let mean = per_feature(mean, 0.0, "mean")?;
            let scale = per_feature(scale, 1.0, "scale")?;
            FloatInput::Features { mean, scale, quant_scale: opts.input_range / 127.0, names: opts.feature_names.clone(), fill: opts.fill }
        }
    })
}

/// What the outputs are: `--head`, or next-token for a token model and
/// classes for a feature model; class names from `--classes`.
fn head_kind(input: &FloatInput, outputs: usize, node: &str, opts: &ImportOptions) -> Result<(HeadKind, Vec<String>)> {
    let token_model = matches!(input, FloatInput::Tokens { .. });
    Ok(match opts.head.unwrap_or(if token_model { HeadKind::NextToken } else { HeadKind::Classes }) {
        HeadKind::NextToken => {
            ensure!(token_model, "a next-token head needs token input (an embedding)");
            let vocab = if let FloatInput::Tokens { tokenizer, .. } = &input { tokenizer.tokens.len() } else { 0 };
            ensure!(outputs == vocab, "{node}: {outputs} outputs for a vocabulary of {vocab} (embedding rows)");
            (HeadKind::NextToken, Vec::new())
        }
        HeadKind::Classes => {
            let names = match &opts.classes {
                Some(n) => {
                    ensure!(n.len() == outputs, "--classes names {} classes, the model has {outputs} outputs", n.len());
                    n.clone()
                }
                None => (0..outputs).map(|i| i.to_string()).collect(),
            };
            (HeadKind::Classes, names)
        }
        HeadKind::Regression => {
            let names = opts.classes.clone().unwrap_or_default();
            ensure!(names.is_empty() || names.len() == outputs, "--classes names {} outputs, the model has {outputs}", names.len());
            (HeadKind::Regression, names)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgegru_onnx::{to_bytes, OnnxWeights};

    #[test]
    fn our_own_float_export_imports_to_the_same_weights() {
        let m = edgegru_tests::random_char("abcdef ", 4, 8, 6, 3);
        let onnx = to_bytes(&m, OnnxWeights::Float).unwrap();
        let back = import(&onnx, m.tokenizer().cloned(), &ImportOptions::default(), "x").unwrap();
        assert_eq!((&back.input, &back.grus, &back.dense, &back.head), (&m.input, &m.grus, &m.dense, &m.head));
    }

    #[test]
    fn a_wrong_vocabulary_size_is_refused() {
        let m = edgegru_tests::random_char("abcdef ", 4, 8, 6, 3);
        let onnx = to_bytes(&m, OnnxWeights::Float).unwrap();
        let err = import(&onnx, Some(TokenizerSpec::chars("abc")), &ImportOptions::default(), "x").unwrap_err().to_string();
        assert!(err.contains("3 tokens") && err.contains("7"), "{err}");
    }

    #[test]
    fn stacked_feature_networks_import_as_they_were_exported() {
        let m = edgegru_tests::feature_classifier(5, &[8, 6], &[(4, Activation::Tanh), (3, Activation::Relu)], 3, 2);
        let onnx = to_bytes(&m, OnnxWeights::Float).unwrap();
        let opts = ImportOptions { classes: Some(vec!["c0".into(), "c1".into(), "c2".into()]), ..ImportOptions::default() };
        let back = import(&onnx, None, &opts, "x").unwrap();
        assert_eq!((&back.grus, &back.dense, &back.head), (&m.grus, &m.dense, &m.head));
        let (FloatInput::Features { mean, scale, .. }, FloatInput::Features { mean: m0, scale: s0, .. }) = (&back.input, &m.input) else {
            panic!("a feature model imports as one")
        };
        assert_eq!((mean, scale), (m0, s0), "the feature normalization comes back");
        let err = import(&onnx, None, &ImportOptions { classes: Some(vec!["a".into()]), ..ImportOptions::default() }, "x").unwrap_err();
        assert!(err.to_string().contains("--classes names 1 classes"), "{err}");
    }
}
