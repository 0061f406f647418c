//! ONNX export of a network's streaming step (see [`crate::contract`]).
//!
//! ```text
//! token int64[1] ─ Gather(embedding) ─┐           features float[1,F] ─ Sub(mean) ─ Mul(scale) ─┐
//!                                     └ Unsqueeze ─ GRU(h) ─ GRU(h1) ... ──────────── Unsqueeze ─┘
//!                                       each GRU: linear_before_reset=1, state in, h_out / h1_out ... out
//!   ─ Squeeze ─ Gemm(dense) ─ activation ... ─ Gemm(output) ─ logits | Softmax ─ probabilities | outputs
//! ```
//!
//! ONNX's GRU gate order (z, r, h) and `linear_before_reset = 1` are this
//! project's convention, so weights go in unchanged. Each GRU's state output
//! `Y_h` (`[1, 1, H]`) is both the new state and the next layer's input. With
//! int8 weights each matrix is an int8 initializer with one scale per row
//! (the same values as in the `.egru` file) followed by `DequantizeLinear` (QDQ).

use anyhow::{Context, Result};
use edgegru_runtime::writer::{quantize_rows, FloatInput, FloatModel};
use edgegru_runtime::Activation;
use edgegru_runtime::HeadKind;
use prost::Message;
use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto, AttributeProto, GraphProto, ModelProto,
    NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

use crate::contract::{self, NetworkInfo, INPUT_FEATURES, INPUT_TOKEN, NETWORK_KEY, TOKENIZER_KEY};

/// Operator set of the graph (GRU-14, per-axis `DequantizeLinear`-19, `Squeeze` with an axes input).
pub const OPSET: i64 = 19;
/// ONNX IR version written (opset 19 needs IR 9: ONNX 1.14 and later).
pub const IR_VERSION: i64 = 9;

/// How the weights are stored in the ONNX file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnnxWeights {
    /// f32 initializers.
    Float,
    /// int8 initializers with per-row scales, each followed by `DequantizeLinear`.
    Int8Qdq,
}

/// Nodes and initializers of a graph under construction.
struct Graph {
    weights: OnnxWeights,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

fn attr_int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Int as i32, i: value, ..Default::default() }
}

fn tensor_info(name: &str, elem: DataType, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| tensor_shape_proto::Dimension { value: Some(tensor_shape_proto::dimension::Value::DimValue(d)), ..Default::default() })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: elem as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl Graph {
    fn initializer(&mut self, name: &str, elem: DataType, dims: &[i64], raw_data: Vec<u8>) -> String {
        self.initializers.push(TensorProto {
            name: name.into(),
            data_type: elem as i32,
            dims: dims.to_vec(),
            raw_data,
            ..Default::default()
        });
        name.into()
    }

    fn floats(&mut self, name: &str, dims: &[i64], values: &[f32]) -> String {
        self.initializer(name, DataType::Float, dims, values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    fn int64s(&mut self, name: &str, dims: &[i64], values: &[i64]) -> String {
        self.initializer(name, DataType::Int64, dims, values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    fn node(&mut self, op: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) {
        let name = format!("{}_{}", op, self.nodes.len());
        self.nodes.push(NodeProto {
            name,
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            attribute,
            ..Default::default()
        });
    }

    /// A row-major `[rows, cols]` weight matrix stored with shape `dims`
    /// (whose dimension `row_axis` counts the rows); returns the name of the float tensor.
    fn matrix(&mut self, name: &str, w: &[f32], rows: usize, cols: usize, dims: &[i64], row_axis: i64) -> String {
        match self.weights {
            OnnxWeights::Float => self.floats(name, dims, w),
            OnnxWeights::Int8Qdq => {
                let (scales, q) = quantize_rows(w, rows, cols);
                let q_name = self.initializer(&format!("{name}_quantized"), DataType::Int8, dims, q.iter().map(|&v| v as u8).collect());
                let s_name = self.floats(&format!("{name}_scale"), &[rows as i64], &scales);
                let z_name = self.initializer(&format!("{name}_zero_point"), DataType::Int8, &[rows as i64], vec![0; rows]);
                self.node("DequantizeLinear", &[&q_name, &s_name, &z_name], &[name], vec![attr_int("axis", row_axis)]);
                name.into()
            }
        }
    }
}

/// `name` for layer 0, `name{k}` for the others (initializer names).
fn layer_name(name: &str, k: usize) -> String {
    if k == 0 {
        name.into()
    } else {
        format!("{name}{k}")
    }
}

impl Graph {
    /// The input (token embedding, or normalized features) as `x`; returns the graph input.
    fn input(&mut self, m: &FloatModel) -> ValueInfoProto {
        let width = m.input_width() as i64;
        match &m.input {
            FloatInput::Tokens { tokenizer, emb, embedding } => {
                let v = tokenizer.tokens.len();
                let table = self.matrix("embedding", embedding, v, *emb, &[v as i64, width], 0);
                self.node("Gather", &[&table, INPUT_TOKEN], &["x"], vec![attr_int("axis", 0)]);
                tensor_info(INPUT_TOKEN, DataType::Int64, &[1])
            }
            FloatInput::Features { mean, scale, .. } => {
                let mean = self.floats("features_mean", &[1, width], mean);
                let scale = self.floats("features_scale", &[1, width], scale);
                self.node("Sub", &[INPUT_FEATURES, &mean], &["x_centered"], vec![]);
                self.node("Mul", &["x_centered", &scale], &["x"], vec![]);
                tensor_info(INPUT_FEATURES, DataType::Float, &[1, width])
            }
        }
    }

    /// The GRU layers from `x` (`[1, 1, in]`); pushes each layer's state input
    /// and output; returns the last layer's new state.
    fn grus(&mut self, m: &FloatModel, mut x: String, inputs: &mut Vec<ValueInfoProto>, outputs: &mut Vec<ValueInfoProto>) -> String {
        let mut in_width = m.input_width();
        for (k, gru) in m.grus.iter().enumerate() {
            let h = gru.hidden;
            let (hi, ii) = (h as i64, in_width as i64);
            let w = self.matrix(&layer_name("gru_W", k), &gru.input, 3 * h, in_width, &[1, 3 * hi, ii], 1);
            let r = self.matrix(&layer_name("gru_R", k), &gru.recurrent, 3 * h, h, &[1, 3 * hi, hi], 1);
            let bias: Vec<f32> = gru.input_bias.iter().chain(&gru.recurrent_bias).copied().collect();
            let b = self.floats(&layer_name("gru_B", k), &[1, 6 * hi], &bias);
            let (state_in, state_out) = (contract::state_input(k), contract::state_output(k));
            // Inputs X, W, R, B, sequence_lens (absent), initial_h; outputs Y (unused), Y_h.
            self.node(
                "GRU",
                &[&x, &w, &r, &b, "", &state_in],
                &["", &state_out],
                vec![attr_int("hidden_size", hi), attr_int("linear_before_reset", 1)],
            );
            inputs.push(tensor_info(&state_in, DataType::Float, &[1, 1, hi]));
            outputs.push(tensor_info(&state_out, DataType::Float, &[1, 1, hi]));
            x = state_out;
            in_width = h;
        }
        x
    }

    /// The dense layers from `x` (`[1, in]`); returns their output.
    fn dense(&mut self, m: &FloatModel, mut x: String) -> String {
        let mut in_width = m.grus.last().map_or(0, |g| g.hidden);
        for (k, d) in m.dense.iter().enumerate() {
            let (out, oi) = (d.bias.len(), d.bias.len() as i64);
            let w = self.matrix(&layer_name("dense_W", k), &d.weight, out, in_width, &[oi, in_width as i64], 0);
            let b = self.floats(&layer_name("dense_B", k), &[oi], &d.bias);
            let pre = layer_name("dense_pre", k);
            self.node("Gemm", &[&x, &w, &b], &[&pre], vec![attr_int("transB", 1)]);
            let act = match d.activation {
                Activation::Linear => None,
                Activation::Relu => Some("Relu"),
                Activation::Tanh => Some("Tanh"),
                Activation::Sigmoid => Some("Sigmoid"),
            };
            x = match act {
                Some(op) => {
                    let o = layer_name("dense_out", k);
                    self.node(op, &[&pre], &[&o], vec![]);
                    o
                }
                None => pre,
            };
            in_width = out;
        }
        x
    }

    /// The output layer from `x` (a softmax for classes); returns the graph output.
    fn head(&mut self, m: &FloatModel, x: &str) -> ValueInfoProto {
        let n = m.outputs();
        let in_width = m.head.weight.len() / n.max(1);
        let w = self.matrix("output_W", &m.head.weight, n, in_width, &[n as i64, in_width as i64], 0);
        let b = self.floats("output_B", &[n as i64], &m.head.bias);
        let head = contract::head_output(m.head.kind);
        if m.head.kind == HeadKind::Classes {
            self.node("Gemm", &[x, &w, &b], &["class_logits"], vec![attr_int("transB", 1)]);
            self.node("Softmax", &["class_logits"], &[head], vec![attr_int("axis", -1)]);
        } else {
            self.node("Gemm", &[x, &w, &b], &[head], vec![attr_int("transB", 1)]);
        }
        tensor_info(head, DataType::Float, &[1, n as i64])
    }
}

/// The metadata of the step graph of `m`: the network, the tokenizer, where it came from.
fn metadata(m: &FloatModel, weights: OnnxWeights) -> Result<Vec<StringStringEntryProto>> {
    let p = &m.provenance;
    let meta = |key: &str, value: String| StringStringEntryProto { key: key.into(), value };
    let mut metadata = vec![meta(NETWORK_KEY, serde_json::to_string(&NetworkInfo::of(m)).context("cannot encode the network")?)];
    if let Some(t) = m.tokenizer() {
        metadata.push(meta(TOKENIZER_KEY, serde_json::to_string(t).context("cannot encode the tokenizer")?));
    }
    let weights = match weights {
        OnnxWeights::Float => "f32",
        OnnxWeights::Int8Qdq => "int8-qdq",
    };
    metadata.extend([
        meta("edgegru.name", p.name.clone()),
        meta("edgegru.corpus", p.corpus.clone()),
        meta("edgegru.training", p.training.clone()),
        meta("edgegru.weights", weights.into()),
    ]);
    Ok(metadata)
}

/// The step graph of `m` as an ONNX model.
pub fn step_model(m: &FloatModel, weights: OnnxWeights) -> Result<ModelProto> {
    m.check_shapes().map_err(anyhow::Error::msg)?;
    let mut g = Graph { weights, nodes: Vec::new(), initializers: Vec::new() };
    let axis0 = g.int64s("axis0", &[1], &[0]);
    let mut inputs = vec![g.input(m)];
    g.node("Unsqueeze", &["x", &axis0], &["x_seq"], vec![]);
    let mut outputs = Vec::new();
    let h = g.grus(m, "x_seq".into(), &mut inputs, &mut outputs);
    g.node("Squeeze", &[&h, &axis0], &["h_flat"], vec![]);
    let x = g.dense(m, "h_flat".into());
    outputs.insert(0, g.head(m, &x));
    let graph = GraphProto {
        name: "edgegru_step".into(),
        node: g.nodes,
        initializer: g.initializers,
        input: inputs,
        output: outputs,
        doc_string: "One step of an edgegru network: feed each input with the states returned by the previous step (zeros at the start)."
            .into(),
        ..Default::default()
    };
    let p = &m.provenance;
    Ok(ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
        producer_name: "edgegru".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!("{}: {}", p.name, p.training),
        graph: Some(graph),
        metadata_props: metadata(m, weights)?,
        ..Default::default()
    })
}

/// The step graph of `m` as ONNX protobuf bytes.
pub fn to_bytes(m: &FloatModel, weights: OnnxWeights) -> Result<Vec<u8>> {
    Ok(step_model(m, weights)?.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{INPUT_STATE, OUTPUT_LOGITS, OUTPUT_STATE};
    use crate::decode;
    use edgegru_runtime::writer::TokenizerSpec;

    fn names(v: &[ValueInfoProto]) -> Vec<&str> {
        v.iter().map(|i| i.name.as_str()).collect()
    }

    #[test]
    fn the_step_graph_has_its_inputs_outputs_and_weights() {
        let m = edgegru_tests::random_char("abcdef ", 4, 8, 6, 1);
        for weights in [OnnxWeights::Float, OnnxWeights::Int8Qdq] {
            let model = decode(&to_bytes(&m, weights).unwrap()).unwrap();
            assert_eq!(model.opset_import[0].version, OPSET);
            let g = model.graph.as_ref().unwrap();
            assert_eq!(names(&g.input), [INPUT_TOKEN, INPUT_STATE]);
            assert_eq!(names(&g.output), [OUTPUT_LOGITS, OUTPUT_STATE]);
            let gru = g.node.iter().find(|n| n.op_type == "GRU").unwrap();
            assert!(gru.attribute.iter().any(|a| a.name == "linear_before_reset" && a.i == 1));
            assert!(gru.attribute.iter().any(|a| a.name == "hidden_size" && a.i == 8));
            let init = |name: &str| g.initializer.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no {name}"));
            let dq = g.node.iter().filter(|n| n.op_type == "DequantizeLinear").count();
            match weights {
                OnnxWeights::Float => {
                    assert_eq!(dq, 0);
                    let w = init("gru_W");
                    assert_eq!(w.dims, [1, 24, 4]);
                    let first = f32::from_le_bytes(w.raw_data[..4].try_into().unwrap());
                    assert_eq!(first, m.grus[0].input[0], "weights go in unchanged (gate order z, r, n)");
                }
                OnnxWeights::Int8Qdq => {
                    assert_eq!(dq, 5, "one DequantizeLinear per matrix");
                    let q = init("output_W_quantized");
                    assert_eq!(q.data_type, DataType::Int8 as i32);
                    assert_eq!(q.raw_data.len(), 7 * 6);
                    let (_, want) = quantize_rows(&m.head.weight, 7, 6);
                    assert_eq!(q.raw_data, want.iter().map(|&v| v as u8).collect::<Vec<_>>(), "the .egru quantization");
                }
            }
            let b = init("gru_B");
            assert_eq!(b.dims, [1, 48]);
            let tok = model.metadata_props.iter().find(|p| p.key == TOKENIZER_KEY).unwrap();
            let spec: TokenizerSpec = serde_json::from_str(&tok.value).unwrap();
            assert_eq!(Some(&spec), m.tokenizer());
        }
    }

    #[test]
    fn junk_is_not_an_onnx_model() {
        assert!(decode(b"\xff\xff\xff\xff not protobuf").is_err());
    }

    #[test]
    fn a_stacked_feature_classifier_has_a_state_per_layer_and_probabilities() {
        let m = edgegru_tests::feature_classifier(5, &[8, 6], &[(4, Activation::Tanh)], 3, 2);
        let model = decode(&to_bytes(&m, OnnxWeights::Float).unwrap()).unwrap();
        let g = model.graph.as_ref().unwrap();
        assert_eq!(names(&g.input), ["features", "h", "h1"]);
        assert_eq!(names(&g.output), ["probabilities", "h_out", "h1_out"]);
        assert_eq!(g.node.iter().filter(|n| n.op_type == "GRU").count(), 2);
        assert!(g.node.iter().any(|n| n.op_type == "Tanh"));
        assert_eq!(g.node.last().unwrap().op_type, "Softmax");
        let net: NetworkInfo = serde_json::from_str(&model.metadata_props.iter().find(|p| p.key == NETWORK_KEY).unwrap().value).unwrap();
        assert_eq!(net, NetworkInfo::of(&m));
        assert!(model.metadata_props.iter().all(|p| p.key != TOKENIZER_KEY), "a feature model has no tokenizer");
    }
}
