//! The step graph run by tract.

use std::boxed::Box;

use tract_onnx::prelude::*;

use super::{backend_error, copy_output, OnnxResult, StepGraph, StepInfo};

const NAME: &str = "tract";

/// An optimized tract plan and its reusable state.
struct TractStep {
    state: TypedSimpleState,
    hidden: usize,
}

/// Parses, checks and optimizes the graph.
pub(super) fn load(bytes: &[u8]) -> OnnxResult<(StepInfo, Box<dyn StepGraph>)> {
    let err = |e: TractError| backend_error(NAME, e);
    let onnx = tract_onnx::onnx();
    let proto = onnx.proto_model_for_read(&mut &*bytes).map_err(err)?;
    let info = StepInfo::read(|key| proto.metadata_props.iter().find(|p| p.key == key).map(|p| p.value.clone()))?;
    let plan = onnx.model_for_proto_model(&proto).map_err(err)?.into_optimized().map_err(err)?.into_runnable().map_err(err)?;
    let state = plan.spawn().map_err(err)?;
    let hidden = info.dims.hidden as usize;
    Ok((info, Box::new(TractStep { state, hidden })))
}

impl StepGraph for TractStep {
    fn run(&mut self, token: u32, h: &[f32], logits: &mut [f32], h_out: &mut [f32]) -> OnnxResult<()> {
        let err = |e: TractError| backend_error(NAME, e);
        let token = Tensor::from_shape(&[1], &[token as i64]).map_err(err)?;
        let state = Tensor::from_shape(&[1, 1, self.hidden], h).map_err(err)?;
        let out = self.state.run(tvec!(token.into(), state.into())).map_err(err)?;
        let [l, hn] = &out[..] else {
            return Err(backend_error(NAME, "the graph did not return logits and h_out"));
        };
        copy_output(NAME, "logits", l.try_as_plain_ram().and_then(|v| v.as_slice::<f32>()).map_err(err)?, logits)?;
        copy_output(NAME, "h_out", hn.try_as_plain_ram().and_then(|v| v.as_slice::<f32>()).map_err(err)?, h_out)
    }
}
