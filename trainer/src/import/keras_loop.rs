//! Keras GRUs that tf2onnx writes as a `Loop` (with `recurrent_dropout`, or
//! `reset_after=False`). Tracing the loop body is not implemented yet: such a
//! model is refused, naming the loop.

use anyhow::{bail, Result};
use edgegru_onnx::pb::NodeProto;

/// Refuses a recurrent layer written as a loop, naming the node and why.
pub(crate) fn import_loop(node: &NodeProto) -> Result<()> {
    let name = if node.name.is_empty() { node.op_type.clone() } else { format!("{} {:?}", node.op_type, node.name) };
    bail!(
        "{name}: a loop, not a GRU node (tf2onnx writes one for Keras GRU(reset_after=False) and other recurrent layers it cannot map); edgegru imports ONNX GRU nodes with linear_before_reset=1"
    )
}
