//! The network a run trains: its input, stacked GRU layers, dense layers and
//! head, and where each tensor lives in the flat parameter buffer.
//!
//! Tensors are laid out in file order: the embedding (token models), then per
//! GRU layer `W`, `U`, `b_W`, `b_U`, per dense layer `W`, `b`, then the output
//! layer `W`, `b`. The version-1 network (one GRU, one relu dense layer, a
//! next-token head) has exactly the layout checkpoints had before networks.

use anyhow::{bail, Result};
use edgegru_runtime::format::{MAX_DENSE_LAYERS, MAX_GRU_LAYERS};
use edgegru_runtime::{Activation, HeadKind, InputKind, TensorName};
use serde::{Deserialize, Serialize};

/// One dense layer between the last GRU and the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenseSpec {
    /// Outputs.
    pub width: u32,
    /// Activation.
    pub activation: Activation,
}

/// What the network predicts, and its loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeadSpec {
    /// The next token at every step (softmax cross-entropy over the vocabulary).
    NextToken,
    /// One of `count` classes per sequence (softmax cross-entropy).
    Classes {
        /// Number of classes.
        count: u32,
    },
    /// `count` values per sequence (mean squared error).
    Regression {
        /// Number of outputs.
        count: u32,
    },
}

impl HeadSpec {
    /// What the outputs are.
    pub fn kind(self) -> HeadKind {
        match self {
            HeadSpec::NextToken => HeadKind::NextToken,
            HeadSpec::Classes { .. } => HeadKind::Classes,
            HeadSpec::Regression { .. } => HeadKind::Regression,
        }
    }
}

/// The network of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetSpec {
    /// The input.
    pub input: InputKind,
    /// State width of each GRU layer, first to last.
    pub grus: Vec<u32>,
    /// Dense layers after the last GRU.
    pub dense: Vec<DenseSpec>,
    /// The head.
    pub head: HeadSpec,
}

/// A tensor of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    /// `[vocab, emb]`.
    Embedding,
    /// GRU layer `k`'s input weights `[3h, in]`.
    GruInput(usize),
    /// GRU layer `k`'s recurrent weights `[3h, h]`.
    GruRecurrent(usize),
    /// GRU layer `k`'s input bias `[3h]`.
    GruInputBias(usize),
    /// GRU layer `k`'s recurrent bias `[3h]`.
    GruRecurrentBias(usize),
    /// Dense layer `k`'s weights `[out, in]`.
    Dense(usize),
    /// Dense layer `k`'s bias `[out]`.
    DenseBias(usize),
    /// Output layer weights `[outputs, in]`.
    Output,
    /// Output layer bias `[outputs]`.
    OutputBias,
}

impl Slot {
    /// Whether L1/L2 penalties apply (Keras' kernels: every weight matrix but the embedding).
    pub fn is_kernel(self) -> bool {
        matches!(self, Slot::GruInput(_) | Slot::GruRecurrent(_) | Slot::Dense(_) | Slot::Output)
    }

    /// The runtime's name of this tensor (the same in files, errors, reports).
    pub fn tensor(self) -> TensorName {
        let n = |k: usize| k as u8;
        match self {
            Slot::Embedding => TensorName::Embedding,
            Slot::GruInput(k) => TensorName::GruInput(n(k)),
            Slot::GruRecurrent(k) => TensorName::GruRecurrent(n(k)),
            Slot::GruInputBias(k) => TensorName::GruInputBias(n(k)),
            Slot::GruRecurrentBias(k) => TensorName::GruRecurrentBias(n(k)),
            Slot::Dense(k) => TensorName::Dense(n(k)),
            Slot::DenseBias(k) => TensorName::DenseBias(n(k)),
            Slot::Output => TensorName::Output,
            Slot::OutputBias => TensorName::OutputBias,
        }
    }

    /// A name for messages and tables: the runtime's [`TensorName`].
    pub fn name(self) -> String {
        self.tensor().to_string()
    }
}

impl NetSpec {
    /// The version-1 network: Embedding(vocab, emb) -> GRU(hidden) -> Dense(dense, relu) -> Dense(vocab).
    pub fn language_model(vocab: u32, emb: u32, grus: &[u32], dense: u32) -> Self {
        NetSpec {
            input: InputKind::Tokens { vocab: vocab as usize, emb: emb as usize },
            grus: grus.to_vec(),
            dense: vec![DenseSpec { width: dense, activation: Activation::Relu }],
            head: HeadSpec::NextToken,
        }
    }

    /// Checks the sizes (non-zero widths, layer counts the file format holds).
    pub fn validate(&self) -> Result<()> {
        if self.grus.is_empty() || self.grus.len() > MAX_GRU_LAYERS {
            bail!("a network has 1 to {MAX_GRU_LAYERS} GRU layers, not {}", self.grus.len());
        }
        if self.dense.len() > MAX_DENSE_LAYERS {
            bail!("a network has 0 to {MAX_DENSE_LAYERS} dense layers, not {}", self.dense.len());
        }
        let zero = match self.input {
            InputKind::Tokens { vocab, emb } => vocab == 0 || emb == 0,
            InputKind::Features { count } => count == 0,
        } || self.grus.contains(&0)
            || self.dense.iter().any(|d| d.width == 0)
            || self.outputs() == 0;
        if zero {
            bail!("every layer needs a width of at least 1");
        }
        Ok(())
    }

    /// Width of the vector the first GRU reads.
    pub fn input_width(&self) -> usize {
        match self.input {
            InputKind::Tokens { emb, .. } => emb,
            InputKind::Features { count } => count,
        }
    }

    /// Width of the last GRU layer.
    pub fn top_hidden(&self) -> usize {
        self.grus.last().copied().unwrap_or(0) as usize
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        match (self.head, self.input) {
            (HeadSpec::NextToken, InputKind::Tokens { vocab, .. }) => vocab,
            (HeadSpec::NextToken, InputKind::Features { .. }) => 0,
            (HeadSpec::Classes { count }, _) | (HeadSpec::Regression { count }, _) => count as usize,
        }
    }

    /// Width of the vector the head's output layer reads.
    pub fn head_input(&self) -> usize {
        self.dense.last().map_or(self.top_hidden(), |d| d.width as usize)
    }

    /// Width of the vector GRU layer `k` reads.
    pub fn gru_input(&self, k: usize) -> usize {
        if k == 0 {
            self.input_width()
        } else {
            self.grus[k - 1] as usize
        }
    }

    /// Width of the vector dense layer `k` reads.
    pub fn dense_input(&self, k: usize) -> usize {
        if k == 0 {
            self.top_hidden()
        } else {
            self.dense[k - 1].width as usize
        }
    }

    /// Every tensor with its `(rows, cols)` (biases have one column), in buffer order.
    pub fn slots(&self) -> Vec<(Slot, usize, usize)> {
        let mut s = Vec::new();
        if let InputKind::Tokens { vocab, emb } = self.input {
            s.push((Slot::Embedding, vocab, emb));
        }
        for (k, &h) in self.grus.iter().enumerate() {
            let h = h as usize;
            s.push((Slot::GruInput(k), 3 * h, self.gru_input(k)));
            s.push((Slot::GruRecurrent(k), 3 * h, h));
            s.push((Slot::GruInputBias(k), 3 * h, 1));
            s.push((Slot::GruRecurrentBias(k), 3 * h, 1));
        }
        for (k, d) in self.dense.iter().enumerate() {
            s.push((Slot::Dense(k), d.width as usize, self.dense_input(k)));
            s.push((Slot::DenseBias(k), d.width as usize, 1));
        }
        s.push((Slot::Output, self.outputs(), self.head_input()));
        s.push((Slot::OutputBias, self.outputs(), 1));
        s
    }

    /// Where a tensor lives in the buffer (an empty range at the end when the network lacks it).
    pub fn range(&self, slot: Slot) -> std::ops::Range<usize> {
        let mut start = 0;
        for (t, r, c) in self.slots() {
            if t == slot {
                return start..start + r * c;
            }
            start += r * c;
        }
        start..start
    }

    /// `(rows, cols)` of a tensor ((0, 0) when the network lacks it).
    pub fn shape(&self, slot: Slot) -> (usize, usize) {
        self.slots().into_iter().find(|(t, _, _)| *t == slot).map_or((0, 0), |(_, r, c)| (r, c))
    }

    /// Total number of values.
    pub fn count(&self) -> usize {
        self.slots().iter().map(|(_, r, c)| r * c).sum()
    }

    /// A short description, e.g. `tokens 113x64 -> GRU 256 -> dense 256 relu -> next token`.
    pub fn describe(&self) -> String {
        let mut parts = vec![match self.input {
            InputKind::Tokens { vocab, emb } => format!("tokens {vocab}x{emb}"),
            InputKind::Features { count } => format!("{count} features"),
        }];
        parts.extend(self.grus.iter().map(|h| format!("GRU {h}")));
        parts.extend(self.dense.iter().map(|d| format!("dense {} {}", d.width, d.activation.name())));
        parts.push(match self.head {
            HeadSpec::NextToken => "next token".into(),
            HeadSpec::Classes { count } => format!("{count} classes"),
            HeadSpec::Regression { count } => format!("{count} outputs"),
        });
        parts.join(" -> ")
    }
}

/// Layer sizes as checkpoints stored them before networks (the version-1 network).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyShape {
    /// Tokens.
    pub vocab: u32,
    /// Embedding width.
    pub emb: u32,
    /// GRU width.
    pub hidden: u32,
    /// Dense width.
    pub dense: u32,
}

impl From<LegacyShape> for NetSpec {
    fn from(s: LegacyShape) -> Self {
        NetSpec::language_model(s.vocab, s.emb, &[s.hidden], s.dense)
    }
}

impl NetSpec {
    /// A Keras-style model summary: layers, output shapes, parameter counts.
    pub fn summary(&self, seq_len: usize) -> String {
        let net = self;
        let count = |slots: &[Slot]| -> usize { slots.iter().map(|&s| net.range(s).len()).sum() };
        let mut rows = Vec::new();
        match net.input {
            InputKind::Tokens { emb, .. } => rows.push(("embedding (Embedding)".to_string(), emb, count(&[Slot::Embedding]))),
            InputKind::Features { count: f } => rows.push(("input (normalized features)".to_string(), f, 0)),
        }
        for (k, &h) in net.grus.iter().enumerate() {
            let name = if k == 0 { "gru (GRU)".to_string() } else { format!("gru_{k} (GRU)") };
            rows.push((
                name,
                h as usize,
                count(&[Slot::GruInput(k), Slot::GruRecurrent(k), Slot::GruInputBias(k), Slot::GruRecurrentBias(k)]),
            ));
        }
        for (j, d) in net.dense.iter().enumerate() {
            let name = if j == 0 {
                format!("dense (Dense, {})", d.activation.name())
            } else {
                format!("dense_{j} (Dense, {})", d.activation.name())
            };
            rows.push((name, d.width as usize, count(&[Slot::Dense(j), Slot::DenseBias(j)])));
        }
        let head = if net.dense.is_empty() { "dense" } else { "dense_out" };
        rows.push((format!("{head} (Dense, softmax)"), net.outputs(), count(&[Slot::Output, Slot::OutputBias])));
        let rule = "_".repeat(72);
        let mut s =
            format!("Model: \"edgegru\"\n{rule}\n {:<30}{:<26}{:>12}\n{}\n", "Layer (type)", "Output Shape", "Param #", "=".repeat(72));
        for (name, width, n) in rows {
            s.push_str(&format!(" {:<30}{:<26}{:>12}\n", name, format!("(None, {seq_len}, {width})"), n));
        }
        let total = net.count();
        s.push_str(&format!(
            "{}\nTotal params: {total} ({:.2} MB as f32)\nTrainable params: {total}\n{rule}\n",
            "=".repeat(72),
            total as f64 * 4.0 / 1e6
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_1_network_keeps_the_layout_checkpoints_had() {
        let net: NetSpec = LegacyShape { vocab: 5, emb: 3, hidden: 6, dense: 4 }.into();
        // embedding, W, U, bW, bU, dense, dense bias, output, output bias.
        assert_eq!(net.count(), 5 * 3 + 18 * 3 + 18 * 6 + 18 + 18 + 4 * 6 + 4 + 5 * 4 + 5);
        assert_eq!(net.range(Slot::GruInput(0)), 15..69);
        assert_eq!(net.range(Slot::OutputBias).end, net.count());
    }

    #[test]
    fn stacked_feature_networks_chain_their_widths() {
        let net = NetSpec {
            input: InputKind::Features { count: 6 },
            grus: vec![32, 16],
            dense: vec![DenseSpec { width: 8, activation: Activation::Tanh }],
            head: HeadSpec::Classes { count: 4 },
        };
        net.validate().unwrap();
        assert_eq!(net.shape(Slot::GruInput(0)), (96, 6));
        assert_eq!(net.shape(Slot::GruInput(1)), (48, 32));
        assert_eq!(net.shape(Slot::Dense(0)), (8, 16));
        assert_eq!(net.shape(Slot::Output), (4, 8));
        assert_eq!(net.shape(Slot::Embedding), (0, 0));
        assert_eq!(net.describe(), "6 features -> GRU 32 -> GRU 16 -> dense 8 tanh -> 4 classes");
        let five = NetSpec { grus: vec![8; 5], ..net };
        assert!(five.validate().is_err());
    }
}
