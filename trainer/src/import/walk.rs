//! Reading an ONNX graph's layers by following its edges: each value knows
//! where it comes from (the input, the embedding, a GRU layer, a linear
//! layer before or after its activation, the softmax), each layer must read
//! what the layer before it gives, and shape plumbing passes a value's
//! origin on. So the nodes may be listed in any topological order, and a
//! bias or an activation belongs to the linear layer whose output it reads.

use std::collections::HashMap;

use anyhow::{bail, ensure, Context, Result};
use edgegru_onnx::pb::NodeProto;
use edgegru_runtime::Activation;

use super::graph::reads;
use super::onnx::{all_ones, attr, attr_f, attr_i, float_tensor, label, Constant, Gru, Layers};

/// Operators that only move or reshape data; they carry no weights.
pub(crate) const PLUMBING: &[&str] = &[
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
    "Gather",
];

/// Operators that drive a traced loop (its trip count and condition).
const LOOP_CONTROL: &[&str] = &["Less", "Greater", "LessOrEqual", "Equal", "Not", "And", "Max", "Min"];

/// Where a value of the graph comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The graph's input (token ids, or features, maybe normalized).
    Input,
    /// The embedding lookup.
    Embedding,
    /// GRU layer `k`'s output.
    Gru(usize),
    /// Linear layer `i`'s output, before its activation.
    Linear(usize),
    /// Linear layer `i`'s output after its activation.
    Activated(usize),
    /// The final softmax.
    Softmax,
}

/// Input `i` of `node`, when it is a constant.
fn constant<'c>(consts: &'c HashMap<String, Constant>, node: &NodeProto, i: usize) -> Option<&'c Constant> {
    node.input.get(i).and_then(|n| consts.get(n))
}

/// The graph being read: its constants, each value's origin, the layers so far.
pub(crate) struct Walk<'g> {
    pub(crate) consts: HashMap<String, Constant>,
    origins: HashMap<&'g str, Origin>,
    pub(crate) layers: Layers,
    /// GRUs written as loops, traced beforehand, by node label.
    loops: HashMap<String, Gru>,
}

impl<'g> Walk<'g> {
    /// A walk from the graph's inputs `inputs`, with its constants and traced loops.
    pub(crate) fn new(inputs: impl Iterator<Item = &'g str>, consts: HashMap<String, Constant>, loops: HashMap<String, Gru>) -> Self {
        let origins = inputs.map(|i| (i, Origin::Input)).collect();
        Walk { consts, origins, layers: Layers::default(), loops }
    }

    /// The output of the chain so far: what the next layer must read.
    fn end(&self) -> Origin {
        let l = &self.layers;
        match (l.linears.last(), l.grus.len(), &l.embedding) {
            (Some(lin), _, _) if lin.activation.is_some() => Origin::Activated(l.linears.len() - 1),
            (Some(_), _, _) => Origin::Linear(l.linears.len() - 1),
            (None, k, _) if k > 0 => Origin::Gru(k - 1),
            (None, _, Some(_)) => Origin::Embedding,
            (None, _, None) => Origin::Input,
        }
    }

    /// The origin of the first input of `node` (or value it reads) that has one.
    fn data_origin(&self, node: &NodeProto) -> Option<Origin> {
        reads(node).into_iter().find_map(|r| self.origins.get(r).copied())
    }

    /// The data input's origin, which must be the chain's end (`what` names the node's role).
    fn reads_end(&self, node: &NodeProto, what: &str) -> Result<()> {
        let (got, want) = (self.data_origin(node), self.end());
        ensure!(
            got == Some(want),
            "{}: {what} reads {}, not the output of the layer before it ({want:?}); edgegru's networks are one chain",
            label(node),
            got.map_or("no value of the network".to_string(), |o| format!("{o:?}"))
        );
        Ok(())
    }

    fn set_outputs(&mut self, node: &'g NodeProto, origin: Option<Origin>) {
        if let Some(o) = origin {
            for out in node.output.iter().filter(|o| !o.is_empty()) {
                self.origins.insert(out, o);
            }
        }
    }

    /// Reads one node (in an order where every value is made before it is read).
    pub(crate) fn node(&mut self, node: &'g NodeProto) -> Result<()> {
        let l = label(node);
        let origin = match node.op_type.as_str() {
            "Constant" => self.constant_node(node)?,
            "Gather" if constant(&self.consts, node, 0).is_some_and(|c| c.dims.len() == 2) => self.embedding(node)?,
            "GRU" => {
                self.reads_end(node, "the GRU")?;
                self.layers.gru(node, &self.consts)?;
                Some(Origin::Gru(self.layers.grus.len() - 1))
            }
            "Loop" => {
                ensure!(
                    reads(node).iter().any(|r| self.origins.get(r) == Some(&self.end())),
                    "{l}: a loop that does not read the layer before it"
                );
                self.layers.push_gru(self.loops.remove(&l).context("traced before")?)?;
                Some(Origin::Gru(self.layers.grus.len() - 1))
            }
            "Gemm" | "MatMul" => self.linear(node)?,
            "Add" => self.bias(node)?,
            "Sub" | "Mul" | "Div" if self.data_origin(node) == Some(Origin::Input) && self.layers.embedding.is_none() => {
                self.normalization(node)?
            }
            "Mul" => self.ones(node)?,
            "Relu" => self.activation(node, Activation::Relu)?,
            "Tanh" => self.activation(node, Activation::Tanh)?,
            "Sigmoid" => self.activation(node, Activation::Sigmoid)?,
            "Softmax" | "LogSoftmax" => {
                ensure!(matches!(self.end(), Origin::Linear(_)), "{l}: a softmax that does not follow the output layer");
                self.reads_end(node, "the softmax")?;
                self.layers.softmax = true;
                Some(Origin::Softmax)
            }
            op if PLUMBING.contains(&op) || (!self.loops.is_empty() && LOOP_CONTROL.contains(&op)) => self.data_origin(node),
            op => {
                bail!("{l}: unsupported operator {op} (edgegru imports Embedding or features -> GRU layers -> Dense layers [-> Softmax])")
            }
        };
        self.set_outputs(node, origin);
        Ok(())
    }

    fn constant_node(&mut self, node: &NodeProto) -> Result<Option<Origin>> {
        if let (Some(out), Some(t)) = (node.output.first(), attr(node, "value").and_then(|a| a.t.as_ref())) {
            if let Some(c) = float_tensor(t)? {
                self.consts.insert(out.clone(), c);
            }
        }
        Ok(None)
    }

    fn embedding(&mut self, node: &NodeProto) -> Result<Option<Origin>> {
        let l = label(node);
        let table = constant(&self.consts, node, 0).context("checked")?;
        if self.layers.embedding.is_some() || !self.layers.grus.is_empty() {
            bail!("{l}: a second embedding table, or one after a GRU");
        }
        ensure!(attr_i(node, "axis", 0) == 0, "{l}: embedding lookup along axis {}", attr_i(node, "axis", 0));
        ensure!(
            node.input.get(1).and_then(|i| self.origins.get(i.as_str())) == Some(&Origin::Input),
            "{l}: an embedding of something other than the input"
        );
        self.layers.embedding = Some((table.data.clone(), table.dims[0], table.dims[1]));
        Ok(Some(Origin::Embedding))
    }

    fn linear(&mut self, node: &NodeProto) -> Result<Option<Origin>> {
        let l = label(node);
        self.reads_end(node, "the linear layer")?;
        if node.op_type == "Gemm" {
            ensure!(
                attr_f(node, "alpha", 1.0) == 1.0 && attr_f(node, "beta", 1.0) == 1.0 && attr_i(node, "transA", 0) == 0,
                "{l}: Gemm with alpha/beta other than 1 or transA"
            );
        }
        let w = constant(&self.consts, node, 1).with_context(|| format!("{l}: the weight (second input) is not a constant"))?;
        let bias = if node.op_type == "Gemm" { constant(&self.consts, node, 2) } else { None };
        self.layers.linear_named(l, w, node.op_type == "Gemm" && attr_i(node, "transB", 0) == 1, bias)?;
        Ok(Some(Origin::Linear(self.layers.linears.len() - 1)))
    }

    fn bias(&mut self, node: &NodeProto) -> Result<Option<Origin>> {
        let l = label(node);
        let b = constant(&self.consts, node, 1)
            .or_else(|| constant(&self.consts, node, 0))
            .with_context(|| format!("{l}: neither input is a constant bias"))?;
        let end = self.end();
        ensure!(matches!(end, Origin::Linear(_)) && self.data_origin(node) == Some(end), "{l}: a bias that does not follow a linear layer");
        let layer = self.layers.linears.last_mut().context("checked")?;
        layer.set_bias(b, &l)?;
        Ok(Some(end))
    }

    fn normalization(&mut self, node: &NodeProto) -> Result<Option<Origin>> {
        let l = label(node);
        match node.op_type.as_str() {
            "Sub" => self.layers.normalize_mean(constant(&self.consts, node, 1), &l)?,
            op => {
                let c = constant(&self.consts, node, 1).or_else(|| constant(&self.consts, node, 0).filter(|_| op == "Mul"));
                self.layers.normalize_scale(c, op == "Div", &l)?
            }
        }
        Ok(Some(Origin::Input))
    }

    fn ones(&mut self, node: &NodeProto) -> Result<Option<Origin>> {
        let l = label(node);
        match (constant(&self.consts, node, 0), constant(&self.consts, node, 1)) {
            (Some(c), _) | (_, Some(c)) if all_ones(c) => Ok(self.data_origin(node)),
            (Some(_), _) | (_, Some(_)) => {
                bail!("{l}: a multiplication by a constant that is not all ones (only dropout masks at inference, which are ones, can be folded)")
            }
            _ => bail!("{l}: a multiplication of two computed values, which is not part of a GRU network edgegru runs"),
        }
    }

    fn activation(&mut self, node: &NodeProto, act: Activation) -> Result<Option<Origin>> {
        let end = self.end();
        ensure!(matches!(end, Origin::Linear(_)), "{}: an activation with no linear layer before it", label(node));
        self.reads_end(node, "the activation")?;
        self.layers.activation_named(label(node), act)?;
        Ok(Some(self.end()))
    }
}
