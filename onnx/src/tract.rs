//! The step graph run by tract.

use tract_onnx::prelude::*;

use crate::contract::{sequence_layout, StepInfo};
use crate::session::{
    backend_error, copy_output, GraphInput, OnnxResult, SequenceData, SequenceGraph, SequenceInput, SequenceRun, StepGraph,
};
use edgegru_runtime::InputKind;

const NAME: &str = "tract";

/// An optimized tract plan and its reusable state.
struct TractStep {
    state: TypedSimpleState,
    features: usize,
}

/// Parses, checks and optimizes the graph.
pub(crate) fn load(bytes: &[u8]) -> OnnxResult<(StepInfo, Box<dyn StepGraph>)> {
    let err = |e: TractError| backend_error(NAME, e);
    let onnx = tract_onnx::onnx();
    let proto = onnx.proto_model_for_read(&mut &*bytes).map_err(err)?;
    let get = |key: &str| proto.metadata_props.iter().find(|p| p.key == key).map(|p| p.value.clone());
    let info = StepInfo::read(get)?;
    if let Some(layout) = sequence_layout(get)? {
        let model = onnx.model_for_proto_model(&proto).map_err(err)?;
        let head = info.network.head;
        let mut run = TractSequence { model };
        // Tract plans the graph per length: a graph it cannot run (an
        // operator it lacks) is refused here, before any output.
        let width = match info.network.input {
            InputKind::Features { count } => count,
            InputKind::Tokens { .. } => 0,
        };
        let zeros = vec![0.0; width];
        let probe = SequenceInput::of(&layout, &[0], &zeros, width, 1);
        run.run_sequence(&probe)?;
        let graph = SequenceGraph { backend: NAME, run, layout, head, ids: Vec::new(), features: Vec::new(), steps: 0 };
        return Ok((info, Box::new(graph)));
    }
    let plan = onnx.model_for_proto_model(&proto).map_err(err)?.into_optimized().map_err(err)?.into_runnable().map_err(err)?;
    let state = plan.spawn().map_err(err)?;
    let features = match info.network.input {
        InputKind::Features { count } => count,
        InputKind::Tokens { .. } => 0,
    };
    Ok((info, Box::new(TractStep { state, features })))
}

impl StepGraph for TractStep {
    fn run(&mut self, input: GraphInput<'_>, states: &[Vec<f32>], out: &mut [f32], next: &mut [Vec<f32>]) -> OnnxResult<()> {
        let err = |e: TractError| backend_error(NAME, e);
        let first = match input {
            GraphInput::Token(t) => Tensor::from_shape(&[1], &[t as i64]).map_err(err)?,
            GraphInput::Features(f) => Tensor::from_shape(&[1, self.features], f).map_err(err)?,
        };
        let mut inputs: TVec<TValue> = tvec!(first.into());
        for s in states {
            inputs.push(Tensor::from_shape(&[1, 1, s.len()], s).map_err(err)?.into());
        }
        let outputs = self.state.run(inputs).map_err(err)?;
        if outputs.len() != 1 + next.len() {
            return Err(backend_error(NAME, format!("the graph returned {} outputs, expected {}", outputs.len(), 1 + next.len())));
        }
        let values = |t: &TValue| t.try_as_plain_ram().and_then(|v| v.as_slice::<f32>().map(|s| s.to_vec())).map_err(err);
        copy_output(NAME, "outputs", &values(&outputs[0])?, out)?;
        for (k, (o, n)) in outputs[1..].iter().zip(next.iter_mut()).enumerate() {
            copy_output(NAME, &crate::contract::state_output(k), &values(o)?, n)?;
        }
        Ok(())
    }
}

/// A user's sequence graph in tract, planned again for each length (the
/// input's shape is fixed in a tract plan).
struct TractSequence {
    model: InferenceModel,
}

impl SequenceRun for TractSequence {
    fn run_sequence(&mut self, input: &SequenceInput<'_>) -> OnnxResult<(Vec<f32>, Vec<usize>)> {
        let err = |e: TractError| backend_error(NAME, e);
        let tensor = match &input.data {
            SequenceData::I64(v) => Tensor::from_shape(&input.shape, v),
            SequenceData::I32(v) => Tensor::from_shape(&input.shape, v),
            SequenceData::F32(v) => Tensor::from_shape(&input.shape, v),
        }
        .map_err(err)?;
        let fact = InferenceFact::dt_shape(tensor.datum_type(), tensor.shape());
        let plan = self.model.clone().with_input_fact(0, fact).map_err(err)?.into_optimized().map_err(err)?.into_runnable().map_err(err)?;
        let outputs = plan.run(tvec!(tensor.into())).map_err(err)?;
        let first = outputs.first().ok_or_else(|| backend_error(NAME, "the graph has no output"))?;
        let values = first.try_as_plain_ram().and_then(|v| v.as_slice::<f32>().map(|s| s.to_vec())).map_err(err)?;
        Ok((values, first.shape().to_vec()))
    }
}
