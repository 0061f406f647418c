//! Shared helpers for edgegru's cross-crate tests: random networks, files of
//! format version 1, checksum fixing, and an independent, straightforward
//! f64 implementation of the network to hold the runtime against.

use edgegru_runtime::format::{self, v1, Dims, TokenizerKind};
use edgegru_runtime::writer::{
    encode_file, f32_bytes, ExportOptions, FloatDense, FloatGru, FloatHead, FloatInput, FloatModel, OwnedTensor, ProvenanceSpec,
    TokenizerSpec, WeightKind, KERAS_FILTERS,
};
use edgegru_runtime::{Activation, Fill, HeadKind, Rng};

/// Characters of the test vocabularies.
pub const TEST_CHARS: &str = "abcdefghijklmnopqrstuvwxyz ,.'\n";

/// What a random network reads.
#[derive(Debug, Clone)]
pub enum TestInput {
    /// Tokens of this tokenizer, embedded in `emb` values.
    Tokens(TokenizerSpec, usize),
    /// `n` features.
    Features(usize),
}

/// The shape of a random network.
#[derive(Debug, Clone)]
pub struct NetShape {
    /// The input.
    pub input: TestInput,
    /// GRU state widths, first to last.
    pub grus: Vec<usize>,
    /// Dense layers: width and activation.
    pub dense: Vec<(usize, Activation)>,
    /// The head (`NextToken` takes its size from the tokenizer).
    pub head: HeadKind,
    /// Its output names (classes: one per output).
    pub names: Vec<String>,
    /// Outputs of a classes or regression head.
    pub outputs: usize,
}

fn uniform(rng: &mut Rng, n: usize, limit: f32) -> Vec<f32> {
    (0..n).map(|_| (rng.next_f32() * 2.0 - 1.0) * limit).collect()
}

/// A network with Glorot-uniform random weights and small random biases
/// (drawn in file order, so that a version-1 shape gets the weights the
/// original test models had).
pub fn random_network(shape: &NetShape, seed: u64) -> FloatModel {
    let mut rng = Rng::new(seed);
    let glorot = |fan_in: usize, fan_out: usize| (6.0 / (fan_in + fan_out) as f32).sqrt();
    let (input, mut width) = match &shape.input {
        TestInput::Tokens(tokenizer, emb) => {
            let v = tokenizer.tokens.len();
            (FloatInput::Tokens { tokenizer: tokenizer.clone(), emb: *emb, embedding: uniform(&mut rng, v * emb, 1.0) }, *emb)
        }
        TestInput::Features(n) => {
            let mean = uniform(&mut rng, *n, 2.0);
            let scale = (0..*n).map(|_| 0.5 + rng.next_f32()).collect();
            (FloatInput::Features { mean, scale, quant_scale: 4.0 / 127.0, names: Vec::new(), fill: Fill::Refuse }, *n)
        }
    };
    let mut grus = Vec::new();
    for &h in &shape.grus {
        grus.push(FloatGru {
            hidden: h,
            input: uniform(&mut rng, 3 * h * width, glorot(width, 3 * h)),
            recurrent: uniform(&mut rng, 3 * h * h, glorot(h, 3 * h) * 1.5),
            input_bias: uniform(&mut rng, 3 * h, 0.1),
            recurrent_bias: uniform(&mut rng, 3 * h, 0.1),
        });
        width = h;
    }
    let mut dense = Vec::new();
    for &(d, activation) in &shape.dense {
        dense.push(FloatDense {
            activation,
            weight: uniform(&mut rng, d * width, glorot(width, d) * 2.0),
            bias: uniform(&mut rng, d, 0.1),
        });
        width = d;
    }
    let outputs = match (&shape.head, &shape.input) {
        (HeadKind::NextToken, TestInput::Tokens(t, _)) => t.tokens.len(),
        _ => shape.outputs,
    };
    let head = FloatHead {
        kind: shape.head,
        names: shape.names.clone(),
        weight: uniform(&mut rng, outputs * width, glorot(width, outputs) * 2.0),
        bias: uniform(&mut rng, outputs, 0.1),
    };
    let provenance = ProvenanceSpec {
        name: "random".into(),
        producer: concat!("edgegru-tests ", env!("CARGO_PKG_VERSION")).into(),
        ..Default::default()
    };
    FloatModel { input, grus, dense, head, provenance }
}

/// The version-1 network, Embedding -> GRU -> Dense(relu) -> Dense(vocab), with random weights.
pub fn v1_shaped(tokenizer: TokenizerSpec, emb: u32, hidden: u32, dense: u32, seed: u64) -> FloatModel {
    let shape = NetShape {
        input: TestInput::Tokens(tokenizer, emb as usize),
        grus: vec![hidden as usize],
        dense: vec![(dense as usize, Activation::Relu)],
        head: HeadKind::NextToken,
        names: Vec::new(),
        outputs: 0,
    };
    random_network(&shape, seed)
}

/// A random character-level model over the characters of `chars`.
pub fn random_char(chars: &str, emb: u32, hidden: u32, dense: u32, seed: u64) -> FloatModel {
    v1_shaped(TokenizerSpec::chars(chars), emb, hidden, dense, seed)
}

/// A random character-level model over [`TEST_CHARS`].
pub fn char_model(emb: u32, hidden: u32, dense: u32, seed: u64) -> FloatModel {
    random_char(TEST_CHARS, emb, hidden, dense, seed)
}

/// A word tokenizer with Keras conventions: id 0 padding, id 1 `<OOV>`, then `words`.
pub fn word_tokenizer(words: &[&str]) -> TokenizerSpec {
    let mut tokens = vec![String::new(), "<OOV>".to_string()];
    tokens.extend(words.iter().map(|w| w.to_string()));
    TokenizerSpec {
        kind: TokenizerKind::Word,
        lowercase: true,
        filters: KERAS_FILTERS.to_string(),
        split: ' ',
        pad: Some(0),
        oov: Some(1),
        tokens,
    }
}

/// A random word-level model with Keras conventions: id 0 padding, id 1 `<OOV>`.
pub fn word_model(words: &[&str], emb: u32, hidden: u32, dense: u32, seed: u64) -> FloatModel {
    v1_shaped(word_tokenizer(words), emb, hidden, dense, seed)
}

/// A random feature classifier: `features` inputs, GRU widths `grus`, dense
/// layers `dense`, and `classes` named `c0`, `c1`, ...
pub fn feature_classifier(features: usize, grus: &[usize], dense: &[(usize, Activation)], classes: usize, seed: u64) -> FloatModel {
    let names = (0..classes).map(|i| format!("c{i}")).collect();
    let shape = NetShape {
        input: TestInput::Features(features),
        grus: grus.to_vec(),
        dense: dense.to_vec(),
        head: HeadKind::Classes,
        names,
        outputs: classes,
    };
    random_network(&shape, seed)
}

/// Recomputes the CRC of a file in place (for tests that rewrite fields).
pub fn fix_checksum(file: &mut [u8]) {
    if file.len() >= format::PREFIX_LEN {
        let crc = edgegru_runtime::crc32::crc32(&file[format::PREFIX_LEN..]);
        file[6..10].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Writes a version-1 file (the format before networks) of a model of the
/// version-1 shape, as the writer of that time did.
pub fn v1_bytes(m: &FloatModel, opts: &ExportOptions) -> Vec<u8> {
    let FloatInput::Tokens { tokenizer: t, emb, embedding } = &m.input else { panic!("a version-1 model reads tokens") };
    assert!(m.grus.len() == 1 && m.dense.len() == 1 && m.dense[0].activation == Activation::Relu, "not the version-1 shape");
    let (v, e, h, d) = (t.tokens.len(), *emb, m.grus[0].hidden, m.dense[0].bias.len());
    let sparse = opts.sparse && opts.weights == WeightKind::Int8;
    let mat = |w: &[f32], rows, cols| OwnedTensor::encode(w, rows, cols, opts.weights, sparse);
    let embedding = OwnedTensor::encode(embedding, v, e, opts.embedding, false);
    let g = &m.grus[0];
    let (gi, gr, de, ou) = (mat(&g.input, 3 * h, e), mat(&g.recurrent, 3 * h, h), mat(&m.dense[0].weight, d, h), mat(&m.head.weight, v, d));
    let biases = [&g.input_bias, &g.recurrent_bias, &m.dense[0].bias, &m.head.bias].map(|b| f32_bytes(b));
    let tables = t.tables();
    let p = &m.provenance;
    let body = v1::Body {
        header: v1::Header {
            dims: Dims { vocab: v as u32, emb: e as u32, hidden: h as u32, dense: d as u32 },
            tokenizer: t.desc(&tables),
            numerics: opts.numerics(),
            provenance: format::Provenance { name: &p.name, producer: &p.producer, corpus: &p.corpus, training: &p.training },
        },
        tensors: v1::Tensors {
            embedding: embedding.desc(),
            gru_input: gi.desc(),
            gru_recurrent: gr.desc(),
            gru_input_bias: &biases[0],
            gru_recurrent_bias: &biases[1],
            dense: de.desc(),
            dense_bias: &biases[2],
            output: ou.desc(),
            output_bias: &biases[3],
        },
    };
    encode_file(1, &body).expect("a version-1 body encodes")
}

/// A plain f64 implementation of the network, written from docs/file-format.md's
/// equations with nothing shared with the runtime.
pub struct Reference<'m> {
    m: &'m FloatModel,
    /// The GRU states, one per layer.
    pub h: Vec<Vec<f64>>,
}

fn matvec(w: &[f32], x: &[f64], rows: usize) -> Vec<f64> {
    let cols = x.len();
    (0..rows).map(|r| (0..cols).map(|c| w[r * cols + c] as f64 * x[c]).sum()).collect()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl<'m> Reference<'m> {
    /// Zero state.
    pub fn new(m: &'m FloatModel) -> Self {
        Reference { m, h: m.grus.iter().map(|g| vec![0.0; g.hidden]).collect() }
    }

    /// One step of a token model: returns the outputs (logits for a language model).
    pub fn step(&mut self, token: u32) -> Vec<f64> {
        let FloatInput::Tokens { emb, embedding, .. } = &self.m.input else { panic!("a token model") };
        let x: Vec<f64> = embedding[token as usize * emb..(token as usize + 1) * emb].iter().map(|&v| v as f64).collect();
        self.forward(x)
    }

    /// One step of a feature model: returns the outputs (class probabilities for a classifier).
    pub fn step_features(&mut self, f: &[f32]) -> Vec<f64> {
        let FloatInput::Features { mean, scale, .. } = &self.m.input else { panic!("a feature model") };
        let x = f.iter().zip(mean).zip(scale).map(|((&v, &m), &s)| (v as f64 - m as f64) * s as f64).collect();
        self.forward(x)
    }

    fn forward(&mut self, mut x: Vec<f64>) -> Vec<f64> {
        for (g, state) in self.m.grus.iter().zip(self.h.iter_mut()) {
            let h = g.hidden;
            let gx = matvec(&g.input, &x, 3 * h);
            let gh = matvec(&g.recurrent, state, 3 * h);
            let (bi, br) = (&g.input_bias, &g.recurrent_bias);
            let mut next = vec![0.0; h];
            for i in 0..h {
                let z = sigmoid(gx[i] + bi[i] as f64 + gh[i] + br[i] as f64);
                let r = sigmoid(gx[h + i] + bi[h + i] as f64 + gh[h + i] + br[h + i] as f64);
                let n = (gx[2 * h + i] + bi[2 * h + i] as f64 + r * (gh[2 * h + i] + br[2 * h + i] as f64)).tanh();
                next[i] = (1.0 - z) * n + z * state[i];
            }
            *state = next;
            x = state.clone();
        }
        for d in &self.m.dense {
            x = matvec(&d.weight, &x, d.bias.len())
                .iter()
                .zip(&d.bias)
                .map(|(a, &b)| {
                    let v = a + b as f64;
                    match d.activation {
                        Activation::Linear => v,
                        Activation::Relu => v.max(0.0),
                        Activation::Tanh => v.tanh(),
                        Activation::Sigmoid => sigmoid(v),
                    }
                })
                .collect();
        }
        let out: Vec<f64> =
            matvec(&self.m.head.weight, &x, self.m.outputs()).iter().zip(&self.m.head.bias).map(|(a, &b)| a + b as f64).collect();
        match self.m.head.kind {
            HeadKind::Classes => {
                let max = out.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = out.iter().map(|v| (v - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                e.iter().map(|v| v / sum).collect()
            }
            _ => out,
        }
    }
}

/// Writes a model file, panicking on a model the writer refuses (tests only).
pub trait ToFile {
    /// The version-2 `.egru` bytes of the model, checked by loading them.
    fn file(&self, opts: &ExportOptions) -> Vec<u8>;
}

impl ToFile for FloatModel {
    fn file(&self, opts: &ExportOptions) -> Vec<u8> {
        self.to_checked_bytes(opts).unwrap_or_else(|e| panic!("the test model is written: {e}"))
    }
}
