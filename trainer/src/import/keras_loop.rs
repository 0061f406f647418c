//! Keras GRUs that tf2onnx writes as a `Loop`: with `recurrent_dropout > 0`
//! (and for `reset_after=False`) the cell is unrolled in the loop body as
//! `MatMul`s, `Add`s, `Sigmoid`s, `Tanh` and `Mul`s, with Keras' weights
//! (kernel `[in, 3 units]`, recurrent kernel `[units, 3 units]`, bias
//! `[2, 3 units]`) sliced per gate inside the body.
//!
//! The body is traced, not guessed from tensor shapes: starting from the new
//! state `h' = z * h + (1 - z) * n`, each gate is followed back to its two
//! affine terms, and each term's `MatMul` tells by its first operand whether
//! it reads the step's input (a `Gather` of the sequence at the loop counter)
//! or the state (the loop-carried `h`, possibly multiplied by a constant of
//! ones: the recurrent-dropout mask at inference). The weight slices are
//! evaluated from the initializers (`Split`, `Squeeze`, `Slice`,
//! `Identity`). What edgegru runs is `n = tanh(W_n x + b_n + r * (U_n h +
//! c_n))` (Keras `reset_after=True`); the other cell (`reset_after=False`,
//! `tanh(W_n x + U_n (r * h) + b_n)`) is different maths and is refused,
//! saying so, as is any node that does not fit, named with the reason.

use std::collections::HashMap;

use anyhow::{bail, ensure, Context, Result};
use edgegru_onnx::pb::{tensor_proto::DataType, GraphProto, NodeProto, TensorProto};

use super::onnx::{float_tensor, Constant, Gru};

/// Which value a gate's matrix product reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Input,
    State,
}

/// One affine term of a gate: `operand @ weight + bias`, weight `[in, out]`.
struct Affine {
    side: Side,
    weight: Constant,
    bias: Option<Constant>,
}

/// The loop body with the values it can see.
struct Body<'g> {
    loop_name: String,
    graph: &'g GraphProto,
    producers: HashMap<&'g str, &'g NodeProto>,
    /// Body inputs that carry outer values (loop-carried), by body name.
    carried: HashMap<&'g str, &'g str>,
    outer: &'g HashMap<String, Constant>,
    /// The loop-carried state `h` (a body input name).
    state: String,
}

fn label(node: &NodeProto) -> String {
    if node.name.is_empty() {
        format!("{} (output {:?})", node.op_type, node.output.first().map_or("", String::as_str))
    } else {
        format!("{} {:?}", node.op_type, node.name)
    }
}

/// An integer tensor's values (int64 or int32), if it is one.
fn int_tensor(t: &TensorProto) -> Option<Vec<i64>> {
    match DataType::try_from(t.data_type).ok()? {
        DataType::Int64 if !t.raw_data.is_empty() => {
            Some(t.raw_data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect())
        }
        DataType::Int64 => Some(t.int64_data.clone()),
        DataType::Int32 if !t.raw_data.is_empty() => {
            Some(t.raw_data.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as i64).collect())
        }
        DataType::Int32 => Some(t.int32_data.iter().map(|&v| v as i64).collect()),
        _ => None,
    }
}

impl<'g> Body<'g> {
    fn node(&self, value: &str) -> Option<&'g NodeProto> {
        self.producers.get(value).copied()
    }

    /// The integer constant `value` (a body initializer or `Constant` node).
    fn ints(&self, value: &str) -> Option<Vec<i64>> {
        if let Some(t) = self.graph.initializer.iter().find(|t| t.name == value) {
            return int_tensor(t);
        }
        let n = self.node(value)?;
        (n.op_type == "Constant").then(|| n.attribute.iter().find_map(|a| a.t.as_ref().and_then(int_tensor)))?
    }

    /// The float constant `value`: an initializer, a loop-carried weight, or
    /// a `Split`/`Squeeze`/`Slice`/`Identity` of one; `None` for computed values.
    fn constant(&self, value: &str) -> Result<Option<Constant>> {
        if let Some(t) = self.graph.initializer.iter().find(|t| t.name == value) {
            return float_tensor(t);
        }
        if let Some(outer) = self.carried.get(value) {
            return Ok(self.outer.get(*outer).map(|c| Constant { dims: c.dims.clone(), data: c.data.clone() }));
        }
        if let Some(c) = self.outer.get(value) {
            return Ok(Some(Constant { dims: c.dims.clone(), data: c.data.clone() }));
        }
        let Some(n) = self.node(value) else { return Ok(None) };
        let input = |i: usize| n.input.get(i).map_or("", String::as_str);
        let l = label(n);
        Ok(match n.op_type.as_str() {
            "Identity" => self.constant(input(0))?,
            "Constant" => n.attribute.iter().find_map(|a| a.t.as_ref()).map(float_tensor).transpose()?.flatten(),
            "Squeeze" => self.constant(input(0))?.map(|c| {
                let axes = self.ints(input(1)).unwrap_or_default();
                let rank = c.dims.len() as i64;
                let dims = c
                    .dims
                    .iter()
                    .enumerate()
                    .filter(|&(i, &d)| !(d == 1 && (axes.is_empty() || axes.iter().any(|&a| (a + rank) % rank == i as i64))))
                    .map(|(_, &d)| d)
                    .collect();
                Constant { dims, data: c.data }
            }),
            "Split" => match self.constant(input(0))? {
                None => None,
                Some(c) => Some(split(&c, n, self.ints(input(1)), value).with_context(|| format!("{} in {}", l, self.loop_name))?),
            },
            "Slice" => match self.constant(input(0))? {
                None => None,
                Some(c) => {
                    let (starts, ends) = (self.ints(input(1)), self.ints(input(2)));
                    let (Some(starts), Some(ends)) = (starts, ends) else {
                        bail!("{l} in {}: slice bounds that are not constants", self.loop_name)
                    };
                    let axes = self.ints(input(3)).unwrap_or_else(|| (0..starts.len() as i64).collect());
                    ensure!(
                        self.ints(input(4)).is_none_or(|s| s.iter().all(|&v| v == 1)),
                        "{l} in {}: a strided slice of a weight",
                        self.loop_name
                    );
                    Some(slice(&c, &starts, &ends, &axes).with_context(|| format!("{l} in {}", self.loop_name))?)
                }
            },
            _ => None,
        })
    }

    /// `value` without the identities and multiplications by constant ones
    /// (recurrent-dropout masks at inference) in front of it.
    fn unmasked(&self, value: &'g str) -> Result<&'g str> {
        let Some(n) = self.node(value) else { return Ok(value) };
        match n.op_type.as_str() {
            "Identity" if n.input.len() == 1 => self.unmasked(&n.input[0]),
            "Mul" if n.input.len() == 2 => {
                for (keep, mask) in [(0, 1), (1, 0)] {
                    if self.is_ones(&n.input[mask])? {
                        return self.unmasked(&n.input[keep]);
                    }
                }
                Ok(value)
            }
            _ => Ok(value),
        }
    }

    /// Whether `value` is a constant of ones (an initializer, or
    /// `ConstantOfShape` with value 1).
    fn is_ones(&self, value: &str) -> Result<bool> {
        if let Some(n) = self.node(value) {
            if n.op_type == "ConstantOfShape" {
                let v = n.attribute.iter().find(|a| a.name == "value").and_then(|a| a.t.as_ref()).map(float_tensor).transpose()?.flatten();
                // Without a value, ConstantOfShape gives zeros.
                return Ok(v.is_some_and(|c| c.data.iter().all(|&x| x == 1.0)));
            }
        }
        Ok(self.constant(value)?.is_some_and(|c| !c.data.is_empty() && c.data.iter().all(|&x| x == 1.0)))
    }

    /// Which value a matrix product's first operand is: the state, or the
    /// step's input (a `Gather` of an outer sequence at a loop variable).
    fn side(&self, value: &'g str, at: &str) -> Result<Side> {
        let v = self.unmasked(value)?;
        if v == self.state {
            return Ok(Side::State);
        }
        match self.node(v) {
            Some(g) if g.op_type == "Gather" && self.graph.input.iter().any(|i| Some(&i.name) == g.input.get(1)) => Ok(Side::Input),
            Some(other) => {
                bail!("{at} in {}: multiplies {}, which is neither the step's input nor the state", self.loop_name, label(other))
            }
            None => bail!("{at} in {}: multiplies {v:?}, which is neither the step's input nor the state", self.loop_name),
        }
    }

    /// `value` as `operand @ weight [+ bias]`.
    fn affine(&self, value: &'g str) -> Result<Affine> {
        let n = self.node(value).with_context(|| format!("{}: {value:?} is not computed in the loop", self.loop_name))?;
        let l = label(n);
        let (product, bias) = match n.op_type.as_str() {
            "MatMul" if n.input.len() == 2 => (n, None),
            "Add" if n.input.len() == 2 => match (self.op(&n.input[0], "MatMul"), self.op(&n.input[1], "MatMul")) {
                (Some(m), _) => (m, Some(&n.input[1])),
                (_, Some(m)) => (m, Some(&n.input[0])),
                _ => bail!("{l} in {}: a gate term that is not a matrix product plus a bias", self.loop_name),
            },
            _ => bail!("{l} in {}: a gate term that is not a matrix product (plus a bias)", self.loop_name),
        };
        let pl = label(product);
        let side = self.side(&product.input[0], &pl)?;
        let weight =
            self.constant(&product.input[1])?.with_context(|| format!("{pl} in {}: the weight is not a constant", self.loop_name))?;
        ensure!(weight.dims.len() == 2, "{pl} in {}: weight of shape {:?}", self.loop_name, weight.dims);
        let bias = match bias {
            None => None,
            Some(b) => Some(self.constant(b)?.with_context(|| format!("{l} in {}: the bias is not a constant", self.loop_name))?),
        };
        Ok(Affine { side, weight, bias })
    }

    /// A gate's pre-activation `input term + state term`, in that order.
    fn gate_terms(&self, value: &'g str, gate: &str) -> Result<(Affine, Affine)> {
        let n = self.node(value).with_context(|| format!("{}: gate {gate} has no input", self.loop_name))?;
        ensure!(
            n.op_type == "Add" && n.input.len() == 2,
            "{} in {}: gate {gate} is not the sum of an input term and a state term",
            label(n),
            self.loop_name
        );
        let (a, b) = (self.affine(&n.input[0])?, self.affine(&n.input[1])?);
        match (a.side, b.side) {
            (Side::Input, Side::State) => Ok((a, b)),
            (Side::State, Side::Input) => Ok((b, a)),
            _ => bail!("{} in {}: gate {gate} needs one input term and one state term", label(n), self.loop_name),
        }
    }

    /// The operator producing `value`, if it is `op` with the inputs that
    /// operator takes (one for `Sigmoid`, `Tanh`, `Identity`; two for the
    /// others read here), so that a malformed node is not read at all.
    fn op(&self, value: &str, op: &str) -> Option<&'g NodeProto> {
        let arity = match op {
            "Sigmoid" | "Tanh" | "Identity" => 1,
            _ => 2,
        };
        self.node(value).filter(|n| n.op_type == op && n.input.len() == arity)
    }
}

/// Output `value` of a `Split` node on constant `c`.
fn split(c: &Constant, n: &NodeProto, sizes: Option<Vec<i64>>, value: &str) -> Result<Constant> {
    ensure!(!c.dims.is_empty(), "a split of a scalar");
    let rank = c.dims.len() as i64;
    let axis = n.attribute.iter().find(|a| a.name == "axis").map_or(0, |a| a.i);
    let axis = usize::try_from((axis + rank) % rank.max(1)).context("axis")?;
    let sizes: Vec<usize> = match sizes.or_else(|| n.attribute.iter().find(|a| a.name == "split").map(|a| a.ints.clone())) {
        Some(s) => s.iter().map(|&v| usize::try_from(v).context("negative split")).collect::<Result<_>>()?,
        None => vec![c.dims[axis] / n.output.len().max(1); n.output.len()],
    };
    let k = n.output.iter().position(|o| o == value).context("not an output")?;
    let size = *sizes.get(k).context("fewer split sizes than outputs")?;
    let start: usize = sizes[..k].iter().sum();
    slice(c, &[start as i64], &[(start + size) as i64], &[axis as i64])
}

/// `c[starts..ends]` along `axes` (ONNX `Slice` with step 1).
fn slice(c: &Constant, starts: &[i64], ends: &[i64], axes: &[i64]) -> Result<Constant> {
    ensure!(!c.dims.is_empty(), "a slice of a scalar");
    let rank = c.dims.len() as i64;
    let mut lo = vec![0usize; c.dims.len()];
    let mut hi = c.dims.clone();
    for ((&s, &e), &a) in starts.iter().zip(ends).zip(axes) {
        let a = usize::try_from((a + rank) % rank.max(1)).context("axis")?;
        let d = c.dims[a] as i64;
        let clamp = |v: i64| if v < 0 { (v + d).max(0) } else { v.min(d) } as usize;
        (lo[a], hi[a]) = (clamp(s), clamp(e).max(clamp(s)));
    }
    let dims: Vec<usize> = lo.iter().zip(&hi).map(|(l, h)| h - l).collect();
    let mut data = Vec::with_capacity(dims.iter().product());
    let strides: Vec<usize> = (0..c.dims.len()).map(|i| c.dims[i + 1..].iter().product()).collect();
    let count: usize = dims.iter().product();
    for flat in 0..count {
        let (mut rest, mut at) = (flat, 0);
        for i in (0..dims.len()).rev() {
            at += (lo[i] + rest % dims[i]) * strides[i];
            rest /= dims[i];
        }
        data.push(c.data[at]);
    }
    Ok(Constant { dims, data })
}

/// `[in, out]` -> `[out, in]` rows appended to `rows`.
fn append_rows(rows: &mut Vec<f32>, weight: &Constant) {
    let (input, out) = (weight.dims[0], weight.dims[1]);
    for o in 0..out {
        rows.extend((0..input).map(|i| weight.data[i * out + o]));
    }
}

/// Reads the GRU that the `Loop` node computes (see the module comment).
pub(crate) fn trace(node: &NodeProto, outer: &HashMap<String, Constant>) -> Result<Gru> {
    let loop_name = label(node);
    let graph = node
        .attribute
        .iter()
        .find(|a| a.name == "body")
        .and_then(|a| a.g.as_ref())
        .with_context(|| format!("{loop_name}: a loop without a body"))?;
    let mut producers = HashMap::new();
    for n in &graph.node {
        for o in &n.output {
            producers.insert(o.as_str(), n);
        }
    }
    // Body inputs: iteration, condition, then the loop-carried values, which
    // start as the loop's inputs 2.. and come back as body outputs 1...
    let carried = graph.input.iter().skip(2).zip(node.input.iter().skip(2)).map(|(b, o)| (b.name.as_str(), o.as_str())).collect();
    let mut body = Body { loop_name: loop_name.clone(), graph, producers, carried, outer, state: String::new() };
    // The state is the carried value whose next value is z * h + (1 - z) * n.
    for (i, out) in graph.output.iter().enumerate().skip(1) {
        let Some(input) = graph.input.get(i + 1) else { break };
        body.state = input.name.clone();
        let next = body.unmasked(&out.name)?;
        if let Some(update) = body.op(next, "Add").filter(|u| mentions_state(&body, u)) {
            return cell(&body, update);
        }
    }
    bail!("{loop_name}: no loop-carried value is updated as a GRU state (h' = z * h + (1 - z) * n); not a GRU loop edgegru can read")
}

/// Whether `update` is `a * h + b` in form, so that its errors are the ones to report.
fn mentions_state<'g>(body: &Body<'g>, update: &'g NodeProto) -> bool {
    update.input.iter().any(|t| body.op(t, "Mul").is_some_and(|m| m.input.iter().any(|v| body.unmasked(v).is_ok_and(|v| v == body.state))))
}

/// The GRU cell whose state update is the `Add` node `update`.
fn cell<'g>(body: &Body<'g>, update: &'g NodeProto) -> Result<Gru> {
    let l = label(update);
    let name = &body.loop_name;
    // h' = z * h + (1 - z) * n, the two products in either order.
    let terms: Vec<&NodeProto> = update.input.iter().filter_map(|t| body.op(t, "Mul")).collect();
    ensure!(terms.len() == 2, "{l} in {name}: the state update is not a sum of two products");
    let keeps_state = |m: &NodeProto| m.input.iter().position(|v| body.unmasked(v).is_ok_and(|v| v == body.state));
    let (keep, new) = match (keeps_state(terms[0]), keeps_state(terms[1])) {
        (Some(i), None) => ((terms[0], i), terms[1]),
        (None, Some(i)) => ((terms[1], i), terms[0]),
        _ => bail!("{l} in {name}: the state update does not keep a share of the old state"),
    };
    let z = &keep.0.input[1 - keep.1];
    let z_node = body.op(z, "Sigmoid").with_context(|| format!("{} in {name}: the update gate is not a sigmoid", label(keep.0)))?;
    let one_minus_z = new.input.iter().find_map(|v| body.op(v, "Sub")).filter(|s| {
        s.input.get(1) == Some(z) && body.constant(&s.input[0]).ok().flatten().is_some_and(|c| c.data.iter().all(|&v| v == 1.0))
    });
    ensure!(one_minus_z.is_some(), "{} in {name}: the candidate's share is not 1 - z", label(new));
    let candidate = new
        .input
        .iter()
        .find_map(|v| body.op(v, "Tanh"))
        .with_context(|| format!("{} in {name}: the candidate state is not a tanh", label(new)))?;
    // n = tanh(x W_n + b_n + r * (h U_n + c_n)): Keras reset_after=True.
    // Judged before the gates: the other cell's gates are built differently.
    let pre = body
        .op(&candidate.input[0], "Add")
        .with_context(|| format!("{} in {name}: the candidate is not tanh of a sum", label(candidate)))?;
    let gated = pre.input.iter().find_map(|v| body.op(v, "Mul"));
    let Some(gated) = gated else {
        let reset_before =
            pre.input.iter().filter_map(|v| body.op(v, "MatMul")).any(|m| {
                body.op(&m.input[0], "Mul").is_some_and(|g| g.input.iter().any(|v| body.unmasked(v).is_ok_and(|v| v == body.state)))
            });
        if reset_before {
            bail!(
                "{} in {name}: the reset gate multiplies the state before the recurrent product (Keras reset_after=False), \
                 a different cell from the one edgegru runs (r * (U h + c): reset_after=True, the Keras default, and PyTorch's); \
                 retrain with reset_after=True",
                label(pre)
            )
        }
        bail!("{} in {name}: the candidate's state term is not gated by the reset gate", label(pre))
    };
    let (xz, hz) = body.gate_terms(&z_node.input[0], "z")?;
    let xn = body.affine(pre.input.iter().find(|v| body.op(v, "Mul").is_none()).context("checked")?)?;
    ensure!(xn.side == Side::Input, "{} in {name}: the candidate's first term does not read the input", label(pre));
    let (r_value, hn_value) = match (body.op(&gated.input[0], "Sigmoid"), body.op(&gated.input[1], "Sigmoid")) {
        (Some(r), _) => (r, &gated.input[1]),
        (_, Some(r)) => (r, &gated.input[0]),
        _ => bail!("{} in {name}: the candidate's state term is not gated by a sigmoid", label(gated)),
    };
    let hn = body.affine(hn_value)?;
    ensure!(hn.side == Side::State, "{} in {name}: the reset gate multiplies a term that does not read the state", label(gated));
    let (xr, hr) = body.gate_terms(&r_value.input[0], "r")?;
    assemble(name, [xz, xr, xn], [hz, hr, hn])
}

/// The weights in ONNX order (z, r, n), rows per output, checked for shape.
fn assemble(name: &str, x: [Affine; 3], h: [Affine; 3]) -> Result<Gru> {
    let (input, hidden) = (x[0].weight.dims[0], x[0].weight.dims[1]);
    for (gate, (a, b)) in ["z", "r", "n"].iter().zip(x.iter().zip(&h)) {
        ensure!(
            a.weight.dims == [input, hidden],
            "{name}: gate {gate}'s input weight has shape {:?}; want [{input}, {hidden}]",
            a.weight.dims
        );
        ensure!(
            b.weight.dims == [hidden, hidden],
            "{name}: gate {gate}'s recurrent weight has shape {:?}; want [{hidden}, {hidden}]",
            b.weight.dims
        );
        for bias in [&a.bias, &b.bias].into_iter().flatten() {
            ensure!(bias.data.len() == hidden, "{name}: gate {gate} has a bias of {} values for {hidden} units", bias.data.len());
        }
    }
    let (mut w, mut r, mut wb, mut rb) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (a, b) in x.iter().zip(&h) {
        append_rows(&mut w, &a.weight);
        append_rows(&mut r, &b.weight);
        wb.extend(a.bias.as_ref().map_or(vec![0.0; hidden], |c| c.data.clone()));
        rb.extend(b.bias.as_ref().map_or(vec![0.0; hidden], |c| c.data.clone()));
    }
    Ok(Gru { node: name.to_string(), hidden, input, w, r, wb, rb })
}
