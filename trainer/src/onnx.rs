//! ONNX export of the model's streaming step.
//!
//! The graph takes one token and the GRU state and returns the logits and the
//! new state, so it runs token by token in any ONNX runtime:
//!
//! ```text
//! token int64[1] ─ Gather(embedding) ─ Unsqueeze ─┐
//! h float[1,1,H] ──────────────────────────────── GRU(linear_before_reset=1) ─ h_out float[1,1,H]
//!                                                   └ Squeeze ─ Gemm(dense) ─ Relu ─ Gemm(output) ─ logits float[1,V]
//! ```
//!
//! ONNX's GRU gate order (z, r, h) and `linear_before_reset = 1` are this
//! project's convention, so weights go in unchanged. With int8 weights each
//! matrix is an int8 initializer with one scale per row (the same values as in
//! the `.egru` file) followed by `DequantizeLinear` (QDQ). The tokenizer and
//! the dimensions travel in the metadata, as JSON, under [`TOKENIZER_KEY`] and
//! [`DIMS_KEY`]; `edgegru_runtime::onnx` runs the graph with tract or ONNX Runtime.

use anyhow::{Context, Result};
use edgegru_runtime::writer::{quantize_rows, FloatModel};
use prost::Message;
use tract_onnx::pb::{
    self, attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto, AttributeProto, GraphProto, ModelProto,
    NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

/// Operator set of the graph (GRU-14, per-axis `DequantizeLinear`-19, `Squeeze` with an axes input).
pub const OPSET: i64 = 19;
/// ONNX IR version written (opset 19 needs IR 9: ONNX 1.14 and later).
pub const IR_VERSION: i64 = 9;
pub use edgegru_runtime::onnx::{DIMS_KEY, INPUT_STATE, INPUT_TOKEN, OUTPUT_LOGITS, OUTPUT_STATE, TOKENIZER_KEY};

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

/// The step graph of `m` as an ONNX model.
pub fn step_model(m: &FloatModel, weights: OnnxWeights) -> Result<ModelProto> {
    let (v, e, h, d) = (m.dims.vocab as usize, m.dims.emb as usize, m.dims.hidden as usize, m.dims.dense as usize);
    let (vi, ei, hi, di) = (v as i64, e as i64, h as i64, d as i64);
    let mut g = Graph { weights, nodes: Vec::new(), initializers: Vec::new() };

    let embedding = g.matrix("embedding", &m.embedding, v, e, &[vi, ei], 0);
    g.node("Gather", &[&embedding, INPUT_TOKEN], &["x"], vec![attr_int("axis", 0)]);
    let axis0 = g.int64s("axis0", &[1], &[0]);
    g.node("Unsqueeze", &["x", &axis0], &["x_seq"], vec![]);
    let w = g.matrix("gru_W", &m.gru_input, 3 * h, e, &[1, 3 * hi, ei], 1);
    let r = g.matrix("gru_R", &m.gru_recurrent, 3 * h, h, &[1, 3 * hi, hi], 1);
    let bias: Vec<f32> = m.gru_input_bias.iter().chain(&m.gru_recurrent_bias).copied().collect();
    let b = g.floats("gru_B", &[1, 6 * hi], &bias);
    // Inputs X, W, R, B, sequence_lens (absent), initial_h; outputs Y (unused), Y_h.
    g.node(
        "GRU",
        &["x_seq", &w, &r, &b, "", INPUT_STATE],
        &["", OUTPUT_STATE],
        vec![attr_int("hidden_size", hi), attr_int("linear_before_reset", 1)],
    );
    g.node("Squeeze", &[OUTPUT_STATE, &axis0], &["h_flat"], vec![]);
    let dense = g.matrix("dense_W", &m.dense, d, h, &[di, hi], 0);
    let dense_b = g.floats("dense_B", &[di], &m.dense_bias);
    g.node("Gemm", &["h_flat", &dense, &dense_b], &["dense_pre"], vec![attr_int("transB", 1)]);
    g.node("Relu", &["dense_pre"], &["dense_out"], vec![]);
    let out = g.matrix("output_W", &m.output, v, d, &[vi, di], 0);
    let out_b = g.floats("output_B", &[vi], &m.output_bias);
    g.node("Gemm", &["dense_out", &out, &out_b], &[OUTPUT_LOGITS], vec![attr_int("transB", 1)]);

    let graph = GraphProto {
        name: "edgegru_step".into(),
        node: g.nodes,
        initializer: g.initializers,
        input: vec![tensor_info(INPUT_TOKEN, DataType::Int64, &[1]), tensor_info(INPUT_STATE, DataType::Float, &[1, 1, hi])],
        output: vec![tensor_info(OUTPUT_LOGITS, DataType::Float, &[1, vi]), tensor_info(OUTPUT_STATE, DataType::Float, &[1, 1, hi])],
        doc_string: "One step of Embedding -> GRU -> Dense(relu) -> Dense: feed each token with the state returned by the previous step (zeros at the start)."
            .into(),
        ..Default::default()
    };
    let p = &m.provenance;
    let meta = |key: &str, value: String| StringStringEntryProto { key: key.into(), value };
    Ok(ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
        producer_name: "edgegru".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!("{}: {}", p.name, p.training),
        graph: Some(graph),
        metadata_props: vec![
            meta(TOKENIZER_KEY, serde_json::to_string(&m.tokenizer).context("cannot encode the tokenizer")?),
            meta(DIMS_KEY, serde_json::to_string(&m.dims).context("cannot encode the dims")?),
            meta("edgegru.name", p.name.clone()),
            meta("edgegru.corpus", p.corpus.clone()),
            meta("edgegru.training", p.training.clone()),
            meta(
                "edgegru.weights",
                match weights {
                    OnnxWeights::Float => "f32".into(),
                    OnnxWeights::Int8Qdq => "int8-qdq".into(),
                },
            ),
        ],
        ..Default::default()
    })
}

/// The step graph of `m` as ONNX protobuf bytes.
pub fn to_bytes(m: &FloatModel, weights: OnnxWeights) -> Result<Vec<u8>> {
    Ok(step_model(m, weights)?.encode_to_vec())
}

/// Reads ONNX protobuf bytes.
pub fn decode(bytes: &[u8]) -> Result<pb::ModelProto> {
    pb::ModelProto::decode(bytes).context("not an ONNX model (protobuf decoding failed)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgegru_runtime::writer::FloatModel;

    fn names(v: &[ValueInfoProto]) -> Vec<&str> {
        v.iter().map(|i| i.name.as_str()).collect()
    }

    #[test]
    fn the_step_graph_has_its_inputs_outputs_and_weights() {
        let m = FloatModel::random_char("abcdef ", 4, 8, 6, 1);
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
                    assert_eq!(first, m.gru_input[0], "weights go in unchanged (gate order z, r, n)");
                }
                OnnxWeights::Int8Qdq => {
                    assert_eq!(dq, 5, "one DequantizeLinear per matrix");
                    let q = init("output_W_quantized");
                    assert_eq!(q.data_type, DataType::Int8 as i32);
                    assert_eq!(q.raw_data.len(), 7 * 6);
                    let (_, want) = quantize_rows(&m.output, 7, 6);
                    assert_eq!(q.raw_data, want.iter().map(|&v| v as u8).collect::<Vec<_>>(), "the .egru quantization");
                }
            }
            let b = init("gru_B");
            assert_eq!(b.dims, [1, 48]);
            let tok = model.metadata_props.iter().find(|p| p.key == TOKENIZER_KEY).unwrap();
            let spec: edgegru_runtime::writer::TokenizerSpec = serde_json::from_str(&tok.value).unwrap();
            assert_eq!(spec, m.tokenizer);
        }
    }

    #[test]
    fn junk_is_not_an_onnx_model() {
        assert!(decode(b"\xff\xff\xff\xff not protobuf").is_err());
    }
}
