//! The step graph run by tract.

use tract_onnx::prelude::*;

use crate::contract::{InputInfo, StepInfo};
use crate::session::{backend_error, copy_output, GraphInput, OnnxResult, StepGraph};

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
    let info = StepInfo::read(|key| proto.metadata_props.iter().find(|p| p.key == key).map(|p| p.value.clone()))?;
    let plan = onnx.model_for_proto_model(&proto).map_err(err)?.into_optimized().map_err(err)?.into_runnable().map_err(err)?;
    let state = plan.spawn().map_err(err)?;
    let features = match info.network.input {
        InputInfo::Features { count } => count,
        InputInfo::Tokens { .. } => 0,
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
