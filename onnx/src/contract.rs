//! The step graph's contract: what `edgegru export --format onnx` writes and
//! what [`crate::OnnxSession`] reads. One step takes the input (a token or a
//! feature vector) and the state of every GRU layer, and returns the head's
//! outputs and the new states:
//!
//! ```text
//! inputs:  token int64[1]  |  features float[1, F]
//!          h float[1, 1, H0], h1 float[1, 1, H1], ... (one per GRU layer, zeros at the start)
//! outputs: logits float[1, V]  |  probabilities float[1, C]  |  outputs float[1, N]
//!          h_out, h1_out, ... (the new states, fed back at the next step)
//! ```
//!
//! The metadata holds the network ([`NETWORK_KEY`], JSON [`NetworkInfo`]) and,
//! for token models, the tokenizer ([`TOKENIZER_KEY`], JSON `TokenizerSpec`).
//! Graphs of the version-1 network written before networks existed carry
//! [`DIMS_KEY`] instead of [`NETWORK_KEY`]; they still read.

use edgegru_runtime::writer::{FloatInput, FloatModel, TokenizerSpec};
use edgegru_runtime::{Activation, Dims, Fill, HeadKind, InputKind};
use serde::{Deserialize, Serialize};

use crate::session::OnnxError;

/// Metadata key of the tokenizer (a JSON `TokenizerSpec`).
pub const TOKENIZER_KEY: &str = "edgegru.tokenizer";
/// Metadata key of the network (a JSON [`NetworkInfo`]).
pub const NETWORK_KEY: &str = "edgegru.network";
/// Metadata key of the version-1 layer sizes (a JSON `Dims`), in older graphs.
pub const DIMS_KEY: &str = "edgegru.dims";
/// Metadata key that marks a user's own sequence graph (a JSON
/// [`SequenceLayout`]), which [`annotate_sequence`] adds beside the network
/// and tokenizer keys.
pub const SEQUENCE_KEY: &str = "edgegru.sequence";
/// Graph input of token models: the token id, int64 `[1]`.
pub const INPUT_TOKEN: &str = "token";
/// Graph input of feature models: the raw features, float `[1, F]` (the graph normalizes them).
pub const INPUT_FEATURES: &str = "features";
/// Graph output of a language model: next-token logits, float `[1, vocab]`.
pub const OUTPUT_LOGITS: &str = "logits";
/// Graph output of a classifier: class probabilities, float `[1, classes]`.
pub const OUTPUT_PROBABILITIES: &str = "probabilities";
/// Graph output of a regression head: float `[1, outputs]`.
pub const OUTPUT_VALUES: &str = "outputs";
/// The first GRU layer's state input (kept from the one-layer graphs).
pub const INPUT_STATE: &str = "h";
/// The first GRU layer's state output.
pub const OUTPUT_STATE: &str = "h_out";

/// How a user's own ONNX export reads a whole sequence (PyTorch's
/// `torch.onnx.export`, Keras through tf2onnx): not a step graph, so a
/// session runs it on the whole sequence so far at every step and takes the
/// last position's outputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceLayout {
    /// The graph input.
    pub input: String,
    /// `[batch, time, ...]` (else `[time, batch, ...]`), for input and output alike.
    pub batch_first: bool,
    /// Token ids as `"int64"`, `"int32"` or `"float"`; features are float.
    pub input_type: String,
    /// The graph ends in a softmax: a language model's logits are taken as
    /// the logarithms of its probabilities (the same softmax, the same argmax).
    pub softmax: bool,
}

/// A user's ONNX model with the metadata a session needs to run it as a
/// sequence graph: the network, the tokenizer and the layout.
pub fn annotate_sequence(mut model: crate::pb::ModelProto, info: &StepInfo, layout: &SequenceLayout) -> anyhow::Result<Vec<u8>> {
    use prost::Message;
    let meta = |key: &str, value: String| crate::pb::StringStringEntryProto { key: key.into(), value };
    model.metadata_props.retain(|p| ![NETWORK_KEY, DIMS_KEY, TOKENIZER_KEY, SEQUENCE_KEY].contains(&p.key.as_str()));
    model.metadata_props.push(meta(NETWORK_KEY, serde_json::to_string(&info.network)?));
    if let Some(t) = &info.tokenizer {
        model.metadata_props.push(meta(TOKENIZER_KEY, serde_json::to_string(t)?));
    }
    model.metadata_props.push(meta(SEQUENCE_KEY, serde_json::to_string(layout)?));
    Ok(model.encode_to_vec())
}

/// The sequence layout in a graph's metadata, if it is a user's annotated graph.
pub(crate) fn sequence_layout(get: impl Fn(&str) -> Option<String>) -> Result<Option<SequenceLayout>, OnnxError> {
    get(SEQUENCE_KEY)
        .map(|json| serde_json::from_str(&json).map_err(|e| OnnxError::NotAStepGraph(format!("bad {SEQUENCE_KEY}: {e}"))))
        .transpose()
}

/// The state input of GRU layer `k`: `h`, `h1`, `h2`, ...
pub fn state_input(k: usize) -> String {
    if k == 0 {
        INPUT_STATE.into()
    } else {
        format!("h{k}")
    }
}

/// The state output of GRU layer `k`: `h_out`, `h1_out`, ...
pub fn state_output(k: usize) -> String {
    if k == 0 {
        OUTPUT_STATE.into()
    } else {
        format!("h{k}_out")
    }
}

/// The graph output of a head.
pub fn head_output(kind: HeadKind) -> &'static str {
    match kind {
        HeadKind::NextToken => OUTPUT_LOGITS,
        HeadKind::Classes => OUTPUT_PROBABILITIES,
        HeadKind::Regression => OUTPUT_VALUES,
    }
}

/// The network of a step graph, as its metadata describes it. In the file it
/// is the JSON of [`NetworkWire`], the form every graph since the first
/// networks has carried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "NetworkWire", from = "NetworkWire")]
pub struct NetworkInfo {
    /// The input.
    pub input: InputKind,
    /// State width of each GRU layer.
    pub grus: Vec<usize>,
    /// Each dense layer's width and activation.
    pub dense: Vec<(usize, Activation)>,
    /// What the outputs are.
    pub head: HeadKind,
    /// Class or output names, in output order (none for a next-token head).
    pub names: Vec<String>,
    /// Number of outputs.
    pub outputs: usize,
    /// Feature models: the features' names, one per feature, or none.
    pub feature_names: Vec<String>,
    /// Feature models: what a missing value (NaN) becomes. The graph itself
    /// takes complete features; a session fills them before each step.
    pub fill: Fill,
    /// The features' training means, for `Fill::Mean` and `Fill::Previous`
    /// (the value before any was seen); empty otherwise.
    pub feature_means: Vec<f32>,
}

/// The metadata's JSON of a network: the head and its names in one enum
/// (`"NextToken"`, `{"Classes": [names]}`, `{"Regression": [names]}`).
#[derive(Serialize, Deserialize)]
struct NetworkWire {
    input: InputKind,
    grus: Vec<usize>,
    dense: Vec<(usize, Activation)>,
    head: HeadWire,
    outputs: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    feature_names: Vec<String>,
    #[serde(default, skip_serializing_if = "refuses")]
    fill: Fill,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    feature_means: Vec<f32>,
}

fn refuses(fill: &Fill) -> bool {
    *fill == Fill::Refuse
}

#[derive(Serialize, Deserialize)]
enum HeadWire {
    NextToken,
    Classes(Vec<String>),
    Regression(Vec<String>),
}

impl From<NetworkInfo> for NetworkWire {
    fn from(n: NetworkInfo) -> Self {
        let head = match n.head {
            HeadKind::NextToken => HeadWire::NextToken,
            HeadKind::Classes => HeadWire::Classes(n.names),
            HeadKind::Regression => HeadWire::Regression(n.names),
        };
        NetworkWire {
            input: n.input,
            grus: n.grus,
            dense: n.dense,
            head,
            outputs: n.outputs,
            feature_names: n.feature_names,
            fill: n.fill,
            feature_means: n.feature_means,
        }
    }
}

impl From<NetworkWire> for NetworkInfo {
    fn from(w: NetworkWire) -> Self {
        let (head, names) = match w.head {
            HeadWire::NextToken => (HeadKind::NextToken, Vec::new()),
            HeadWire::Classes(n) => (HeadKind::Classes, n),
            HeadWire::Regression(n) => (HeadKind::Regression, n),
        };
        NetworkInfo {
            input: w.input,
            grus: w.grus,
            dense: w.dense,
            head,
            names,
            outputs: w.outputs,
            feature_names: w.feature_names,
            fill: w.fill,
            feature_means: w.feature_means,
        }
    }
}

impl NetworkInfo {
    /// The description of a network's weights.
    pub fn of(m: &FloatModel) -> Self {
        let (input, feature_names, fill, feature_means) = match &m.input {
            FloatInput::Tokens { tokenizer, emb, .. } => {
                (InputKind::Tokens { vocab: tokenizer.tokens.len(), emb: *emb }, Vec::new(), Fill::Refuse, Vec::new())
            }
            FloatInput::Features { mean, names, fill, .. } => {
                let means = if *fill == Fill::Mean || *fill == Fill::Previous { mean.clone() } else { Vec::new() };
                (InputKind::Features { count: mean.len() }, names.clone(), *fill, means)
            }
        };
        NetworkInfo {
            feature_names,
            fill,
            feature_means,
            input,
            grus: m.grus.iter().map(|g| g.hidden).collect(),
            dense: m.dense.iter().map(|d| (d.bias.len(), d.activation)).collect(),
            head: m.head.kind,
            names: m.head.names.clone(),
            outputs: m.outputs(),
        }
    }

    /// The version-1 network of `dims`.
    pub fn from_dims(d: Dims) -> Self {
        NetworkInfo {
            input: InputKind::Tokens { vocab: d.vocab as usize, emb: d.emb as usize },
            grus: vec![d.hidden as usize],
            dense: vec![(d.dense as usize, Activation::Relu)],
            head: HeadKind::NextToken,
            names: Vec::new(),
            outputs: d.vocab as usize,
            feature_names: Vec::new(),
            fill: Fill::Refuse,
            feature_means: Vec::new(),
        }
    }
}

/// The metadata every step graph carries.
#[derive(Debug, Clone)]
pub struct StepInfo {
    /// The network.
    pub network: NetworkInfo,
    /// The tokenizer of a token model.
    pub tokenizer: Option<TokenizerSpec>,
}

impl StepInfo {
    /// Reads the metadata values (`get(key)` looks a key up in the file).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<Self, OnnxError> {
        let bad = |key: &str, e: serde_json::Error| OnnxError::NotAStepGraph(format!("bad {key}: {e}"));
        let network = match (get(NETWORK_KEY), get(DIMS_KEY)) {
            (Some(json), _) => serde_json::from_str::<NetworkInfo>(&json).map_err(|e| bad(NETWORK_KEY, e))?,
            (None, Some(json)) => NetworkInfo::from_dims(serde_json::from_str::<Dims>(&json).map_err(|e| bad(DIMS_KEY, e))?),
            (None, None) => return Err(OnnxError::NotAStepGraph(format!("no {NETWORK_KEY} metadata"))),
        };
        let tokenizer = match get(TOKENIZER_KEY) {
            Some(json) => Some(serde_json::from_str::<TokenizerSpec>(&json).map_err(|e| bad(TOKENIZER_KEY, e))?),
            None => None,
        };
        let wrong = |why: String| Err(OnnxError::NotAStepGraph(why));
        if network.grus.is_empty() || network.grus.contains(&0) || network.outputs == 0 {
            return wrong(format!("a network needs GRU layers of non-zero width and outputs: {network:?}"));
        }
        match (&network.input, &tokenizer) {
            (InputKind::Tokens { vocab, .. }, Some(t)) if t.tokens.len() != *vocab => {
                return wrong(format!("{} tokens for a vocabulary of {vocab}", t.tokens.len()));
            }
            (InputKind::Tokens { .. }, None) => return wrong(format!("a token model without {TOKENIZER_KEY} metadata")),
            _ => {}
        }
        if let InputKind::Features { count } = network.input {
            if !network.feature_names.is_empty() && network.feature_names.len() != count {
                return wrong(format!("{} feature names for {count} features", network.feature_names.len()));
            }
            let means = network.feature_means.len();
            if matches!(network.fill, Fill::Mean | Fill::Previous) && means != count || network.feature_means.iter().any(|v| !v.is_finite())
            {
                return wrong(format!("fill {} needs {count} finite feature means, the metadata has {means}", network.fill.name()));
            }
        }
        if network.head == HeadKind::NextToken && !matches!(network.input, InputKind::Tokens { vocab, .. } if vocab == network.outputs) {
            return wrong("a next-token head needs token input and one output per token".into());
        }
        Ok(StepInfo { network, tokenizer })
    }
}
