//! An ONNX graph as edges: what each node reads (its inputs, and for a
//! `Loop` or `Scan` the outer values its body uses), the nodes in an order
//! where every value is made before it is read (whatever order the file
//! lists them in), and the nodes the graph's outputs depend on.

use std::collections::{HashMap, HashSet, VecDeque};

use anyhow::{bail, Result};
use edgegru_onnx::pb::{GraphProto, NodeProto};

use super::onnx::label;

/// The values `node` reads: its inputs, and the outer values its subgraphs
/// (a `Loop`'s or `Scan`'s body) use without making them.
pub(crate) fn reads(node: &NodeProto) -> Vec<&str> {
    let mut out: Vec<&str> = node.input.iter().map(String::as_str).filter(|n| !n.is_empty()).collect();
    for g in node.attribute.iter().filter_map(|a| a.g.as_ref()) {
        out.extend(free_values(g));
    }
    out
}

/// The values a subgraph reads that neither its inputs, its initializers
/// nor its own nodes make.
fn free_values(g: &GraphProto) -> Vec<&str> {
    let mut made: HashSet<&str> = g.input.iter().map(|i| i.name.as_str()).collect();
    made.extend(g.initializer.iter().map(|t| t.name.as_str()));
    for n in &g.node {
        made.extend(n.output.iter().map(String::as_str));
    }
    let mut free = Vec::new();
    for n in &g.node {
        for r in reads(n) {
            if !made.contains(r) && !free.contains(&r) {
                free.push(r);
            }
        }
    }
    free
}

/// The graph's nodes in an order where each is after every node it reads
/// from; among the nodes ready at once, the file's order. A node that reads
/// a value nothing makes, or a cycle, is an error naming the node.
pub(crate) fn topological(graph: &GraphProto) -> Result<Vec<&NodeProto>> {
    let mut available: HashSet<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
    available.extend(graph.initializer.iter().map(|t| t.name.as_str()));
    let producer: HashMap<&str, usize> =
        graph.node.iter().enumerate().flat_map(|(i, n)| n.output.iter().map(move |o| (o.as_str(), i))).collect();
    let mut waiting: Vec<usize> = vec![0; graph.node.len()];
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        for r in reads(n) {
            if available.contains(r) {
                continue;
            }
            if !producer.contains_key(r) {
                bail!("{} reads {r:?}, which no node, input or initializer of the graph makes", label(n));
            }
            waiting[i] += 1;
            readers.entry(r).or_default().push(i);
        }
    }
    let mut ready: VecDeque<usize> = (0..graph.node.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(graph.node.len());
    while let Some(i) = ready.pop_front() {
        order.push(&graph.node[i]);
        for o in &graph.node[i].output {
            for &j in readers.get(o.as_str()).map_or(&[][..], Vec::as_slice) {
                waiting[j] -= 1;
                if waiting[j] == 0 {
                    ready.push_back(j);
                }
            }
        }
    }
    if let Some(stuck) = (0..graph.node.len()).find(|&i| waiting[i] > 0) {
        bail!("{} is part of a cycle of the graph", label(&graph.node[stuck]));
    }
    Ok(order)
}

/// The nodes the graph's outputs depend on (by index in the file).
pub(crate) fn feeding_outputs(graph: &GraphProto) -> HashSet<usize> {
    let producer: HashMap<&str, usize> =
        graph.node.iter().enumerate().flat_map(|(i, n)| n.output.iter().map(move |o| (o.as_str(), i))).collect();
    let mut needed = HashSet::new();
    let mut todo: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    while let Some(value) = todo.pop() {
        if let Some(&i) = producer.get(value) {
            if needed.insert(i) {
                todo.extend(reads(&graph.node[i]));
            }
        }
    }
    needed
}
