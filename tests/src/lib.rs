//! Shared helpers for edgegru's cross-crate tests: small models with known
//! weights, and an independent, straightforward f32 implementation of the
//! model to hold the runtime against.

use edgegru_runtime::writer::{FloatModel, TokenizerSpec, KERAS_FILTERS};
use edgegru_runtime::{Dims, TokenizerKind};

/// Characters of the test vocabularies.
pub const TEST_CHARS: &str = "abcdefghijklmnopqrstuvwxyz ,.'\n";

/// A random character-level model over [`TEST_CHARS`].
pub fn char_model(emb: u32, hidden: u32, dense: u32, seed: u64) -> FloatModel {
    FloatModel::random_char(TEST_CHARS, emb, hidden, dense, seed)
}

/// A random word-level model with Keras conventions: id 0 padding, id 1 `<OOV>`.
pub fn word_model(words: &[&str], emb: u32, hidden: u32, dense: u32, seed: u64) -> FloatModel {
    let mut tokens = vec![String::new(), "<OOV>".to_string()];
    tokens.extend(words.iter().map(|w| w.to_string()));
    let tokenizer = TokenizerSpec {
        kind: TokenizerKind::Word,
        lowercase: true,
        filters: KERAS_FILTERS.to_string(),
        split: ' ',
        pad: Some(0),
        oov: Some(1),
        tokens,
    };
    let dims = Dims { vocab: tokenizer.tokens.len() as u32, emb, hidden, dense };
    FloatModel::random(dims, tokenizer, seed)
}

/// A plain f32 implementation of the model, written from DESIGN.md's
/// equations with nothing shared with the runtime.
pub struct Reference<'m> {
    m: &'m FloatModel,
    /// The GRU state.
    pub h: Vec<f64>,
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
        Reference { m, h: vec![0.0; m.dims.hidden as usize] }
    }

    /// One step: returns the logits (computed in f64).
    pub fn step(&mut self, token: u32) -> Vec<f64> {
        let m = self.m;
        let (e, h, d, v) = (m.dims.emb as usize, m.dims.hidden as usize, m.dims.dense as usize, m.dims.vocab as usize);
        let x: Vec<f64> = m.embedding[token as usize * e..(token as usize + 1) * e].iter().map(|&v| v as f64).collect();
        let gx = matvec(&m.gru_input, &x, 3 * h);
        let gh = matvec(&m.gru_recurrent, &self.h, 3 * h);
        let mut new_h = vec![0.0; h];
        for i in 0..h {
            let z = sigmoid(gx[i] + m.gru_input_bias[i] as f64 + gh[i] + m.gru_recurrent_bias[i] as f64);
            let r = sigmoid(gx[h + i] + m.gru_input_bias[h + i] as f64 + gh[h + i] + m.gru_recurrent_bias[h + i] as f64);
            let n =
                (gx[2 * h + i] + m.gru_input_bias[2 * h + i] as f64 + r * (gh[2 * h + i] + m.gru_recurrent_bias[2 * h + i] as f64)).tanh();
            new_h[i] = (1.0 - z) * n + z * self.h[i];
        }
        self.h = new_h;
        let dense: Vec<f64> = matvec(&m.dense, &self.h, d).iter().zip(&m.dense_bias).map(|(a, &b)| (a + b as f64).max(0.0)).collect();
        matvec(&m.output, &dense, v).iter().zip(&m.output_bias).map(|(a, &b)| a + b as f64).collect()
    }
}
