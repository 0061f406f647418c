//! Writing `.egru` files from in-memory float weights (std only).
//!
//! The trainer's export and the tests use this one writer. Quantization is
//! int8 symmetric with one scale per output row (`ScaleRule::MaxAbs`); sparse
//! matrices keep every 8x4 block that has a non-zero quantized value.

use std::string::String;
use std::vec::Vec;

use crate::crc32::crc32;
use crate::error::Result;
use crate::format::{self, Body, Dims, Header, Numerics, Provenance, ScaleRule, TensorDesc, Tensors, TokenizerDesc, TokenizerKind};
use crate::model::Model;
use crate::sampling::Rng;

/// An owned tokenizer description; [`TokenizerSpec::tables`] makes the file's tables.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TokenizerSpec {
    /// Character or word level.
    pub kind: TokenizerKind,
    /// Lower-case before lookup.
    pub lowercase: bool,
    /// Word level: characters treated as separators.
    pub filters: String,
    /// Word level: the separator.
    pub split: char,
    /// Padding token id.
    pub pad: Option<u32>,
    /// Out-of-vocabulary token id.
    pub oov: Option<u32>,
    /// Token texts in id order.
    pub tokens: Vec<String>,
}

/// Keras' default `filters` for its `Tokenizer`.
pub const KERAS_FILTERS: &str = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n";

impl TokenizerSpec {
    /// A case-sensitive character vocabulary: one token per character of `chars`.
    pub fn chars(chars: &str) -> Self {
        TokenizerSpec {
            kind: TokenizerKind::Char,
            lowercase: false,
            filters: String::new(),
            split: ' ',
            pad: None,
            oov: None,
            tokens: chars.chars().map(String::from).collect(),
        }
    }

    /// The spec of a loaded model's tokenizer.
    pub fn from_tokenizer(t: &crate::Tokenizer<'_>) -> Result<Self> {
        Ok(TokenizerSpec {
            kind: t.kind(),
            lowercase: t.lowercase(),
            filters: t.filters().into(),
            split: t.split(),
            pad: t.pad(),
            oov: t.oov(),
            tokens: (0..t.vocab_size()).map(|id| t.token_text(id).map(String::from)).collect::<Result<_>>()?,
        })
    }

    /// The `text`, `ends` and `sorted` tables of FORMAT.md.
    pub fn tables(&self) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let mut text = Vec::new();
        let mut ends = Vec::new();
        for t in &self.tokens {
            text.extend_from_slice(t.as_bytes());
            ends.extend_from_slice(&(text.len() as u32).to_le_bytes());
        }
        let special = |id: u32| Some(id) == self.pad || Some(id) == self.oov;
        let mut ids: Vec<u32> = (0..self.tokens.len() as u32).filter(|&i| !special(i)).collect();
        ids.sort_by(|&a, &b| self.tokens[a as usize].as_bytes().cmp(self.tokens[b as usize].as_bytes()));
        let sorted = ids.iter().flat_map(|i| i.to_le_bytes()).collect();
        (text, ends, sorted)
    }
}

/// Provenance strings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProvenanceSpec {
    /// Model name.
    pub name: String,
    /// Writer program and version.
    pub producer: String,
    /// Corpus description.
    pub corpus: String,
    /// Training command or configuration.
    pub training: String,
}

/// A model's weights in f32, row-major `[out, in]`, gates z, r, n.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatModel {
    /// Layer sizes.
    pub dims: Dims,
    /// The tokenizer.
    pub tokenizer: TokenizerSpec,
    /// Where it came from.
    pub provenance: ProvenanceSpec,
    /// `[vocab, emb]`.
    pub embedding: Vec<f32>,
    /// `[3*hidden, emb]`.
    pub gru_input: Vec<f32>,
    /// `[3*hidden, hidden]`.
    pub gru_recurrent: Vec<f32>,
    /// `[3*hidden]`.
    pub gru_input_bias: Vec<f32>,
    /// `[3*hidden]`.
    pub gru_recurrent_bias: Vec<f32>,
    /// `[dense, hidden]`.
    pub dense: Vec<f32>,
    /// `[dense]`.
    pub dense_bias: Vec<f32>,
    /// `[vocab, dense]`.
    pub output: Vec<f32>,
    /// `[vocab]`.
    pub output_bias: Vec<f32>,
}

/// Encoding of the weight matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightKind {
    /// 32-bit float.
    F32,
    /// 16-bit float.
    F16,
    /// int8, one scale per row (hybrid int8 numerics).
    Int8,
}

/// What [`FloatModel::to_bytes`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportOptions {
    /// Encoding of the GRU and dense matrices.
    pub weights: WeightKind,
    /// Encoding of the embedding table.
    pub embedding: WeightKind,
    /// With int8: store the GRU and dense matrices as 8x4 block-sparse.
    pub sparse: bool,
    /// With int8 weights and embedding: integer-only numerics instead of hybrid.
    pub integer: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions { weights: WeightKind::F32, embedding: WeightKind::F32, sparse: false, integer: false }
    }
}

impl ExportOptions {
    /// int8 everywhere, dense or block-sparse, hybrid numerics.
    pub fn int8(sparse: bool) -> Self {
        ExportOptions { weights: WeightKind::Int8, embedding: WeightKind::Int8, sparse, integer: false }
    }

    /// int8 everywhere, dense or block-sparse, integer-only numerics.
    pub fn integer(sparse: bool) -> Self {
        ExportOptions { integer: true, ..ExportOptions::int8(sparse) }
    }

    /// The numerics these options produce.
    pub fn numerics(&self) -> Numerics {
        match (self.weights, self.embedding, self.integer) {
            (WeightKind::Int8, WeightKind::Int8, true) => Numerics::Integer { weight_scale: ScaleRule::MaxAbs },
            (WeightKind::Int8, _, _) => Numerics::HybridInt8 { weight_scale: ScaleRule::MaxAbs },
            _ => Numerics::Float,
        }
    }
}

/// Little-endian bytes of f32 values.
pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Per-row symmetric int8 quantization: `scale = max|row| / 127`, `q = round(w / scale)`.
pub fn quantize_rows(w: &[f32], rows: usize, cols: usize) -> (Vec<f32>, Vec<i8>) {
    let mut scales = Vec::with_capacity(rows);
    let mut q = Vec::with_capacity(rows * cols);
    for row in w.chunks(cols.max(1)).take(rows) {
        let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let s = if max > 0.0 { max / 127.0 } else { 1.0 };
        scales.push(if max > 0.0 { s } else { 0.0 });
        q.extend(row.iter().map(|v| (v / s).round().clamp(-127.0, 127.0) as i8));
    }
    (scales, q)
}

/// Block-sparse tables of an int8 matrix: blocks with any non-zero value are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Block8x4Tables {
    /// u32 LE row-block starts.
    pub row_blocks: Vec<u8>,
    /// u16 LE column group of each block.
    pub block_cols: Vec<u8>,
    /// 32 bytes per block.
    pub blocks: Vec<u8>,
}

/// Cuts a row-major int8 matrix into 8x4 blocks, dropping all-zero blocks.
pub fn block8x4(q: &[i8], rows: usize, cols: usize) -> Block8x4Tables {
    let mut t = Block8x4Tables::default();
    let mut count = 0u32;
    t.row_blocks.extend_from_slice(&0u32.to_le_bytes());
    for rb in 0..rows.div_ceil(8) {
        for g in 0..cols.div_ceil(4) {
            let mut block = [0u8; 32];
            for i in 0..8 {
                for j in 0..4 {
                    let (r, c) = (rb * 8 + i, g * 4 + j);
                    if r < rows && c < cols {
                        block[i * 4 + j] = q[r * cols + c] as u8;
                    }
                }
            }
            if block.iter().any(|&b| b != 0) {
                t.block_cols.extend_from_slice(&(g as u16).to_le_bytes());
                t.blocks.extend_from_slice(&block);
                count += 1;
            }
        }
        t.row_blocks.extend_from_slice(&count.to_le_bytes());
    }
    t
}

/// An owned tensor; [`OwnedTensor::desc`] borrows it as a [`TensorDesc`].
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedTensor {
    /// f32 values.
    F32 {
        /// Output rows.
        rows: u32,
        /// Input columns.
        cols: u32,
        /// f32 LE values.
        data: Vec<u8>,
    },
    /// f16 values.
    F16 {
        /// Output rows.
        rows: u32,
        /// Input columns.
        cols: u32,
        /// f16 LE values.
        data: Vec<u8>,
    },
    /// int8 with per-row scales.
    Int8 {
        /// Output rows.
        rows: u32,
        /// Input columns.
        cols: u32,
        /// f32 LE per-row scales.
        scales: Vec<u8>,
        /// int8 values.
        data: Vec<u8>,
    },
    /// int8 8x4 block-sparse.
    Block8x4 {
        /// Output rows.
        rows: u32,
        /// Input columns.
        cols: u32,
        /// f32 LE per-row scales.
        scales: Vec<u8>,
        /// Block tables.
        tables: Block8x4Tables,
    },
}

impl OwnedTensor {
    /// Encodes a float matrix.
    pub fn encode(w: &[f32], rows: usize, cols: usize, kind: WeightKind, sparse: bool) -> Self {
        let (r, c) = (rows as u32, cols as u32);
        match (kind, sparse) {
            (WeightKind::F32, _) => OwnedTensor::F32 { rows: r, cols: c, data: f32_bytes(w) },
            (WeightKind::F16, _) => {
                OwnedTensor::F16 { rows: r, cols: c, data: w.iter().flat_map(|&x| half::f16::from_f32(x).to_le_bytes()).collect() }
            }
            (WeightKind::Int8, false) => {
                let (scales, q) = quantize_rows(w, rows, cols);
                OwnedTensor::Int8 { rows: r, cols: c, scales: f32_bytes(&scales), data: q.iter().map(|&v| v as u8).collect() }
            }
            (WeightKind::Int8, true) => {
                let (scales, q) = quantize_rows(w, rows, cols);
                OwnedTensor::Block8x4 { rows: r, cols: c, scales: f32_bytes(&scales), tables: block8x4(&q, rows, cols) }
            }
        }
    }

    /// Borrowed view for serialization.
    pub fn desc(&self) -> TensorDesc<'_> {
        match self {
            OwnedTensor::F32 { rows, cols, data } => TensorDesc::F32 { rows: *rows, cols: *cols, data },
            OwnedTensor::F16 { rows, cols, data } => TensorDesc::F16 { rows: *rows, cols: *cols, data },
            OwnedTensor::Int8 { rows, cols, scales, data } => TensorDesc::Int8 { rows: *rows, cols: *cols, scales, data },
            OwnedTensor::Block8x4 { rows, cols, scales, tables } => TensorDesc::Int8Block8x4 {
                rows: *rows,
                cols: *cols,
                scales,
                row_blocks: &tables.row_blocks,
                block_cols: &tables.block_cols,
                blocks: &tables.blocks,
            },
        }
    }
}

/// Serializes a body and prepends the prefix: magic, version and CRC-32.
pub fn encode_file(body: &Body<'_>) -> Vec<u8> {
    let payload = postcard::to_allocvec(body).unwrap_or_default();
    let mut out = Vec::with_capacity(format::PREFIX_LEN + payload.len());
    out.extend_from_slice(&format::MAGIC);
    out.extend_from_slice(&format::FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&crc32(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Recomputes the CRC of a file in place (for tests that rewrite fields).
pub fn fix_checksum(file: &mut [u8]) {
    if file.len() >= format::PREFIX_LEN {
        let crc = crc32(&file[format::PREFIX_LEN..]);
        file[6..10].copy_from_slice(&crc.to_le_bytes());
    }
}

fn uniform(rng: &mut Rng, n: usize, limit: f32) -> Vec<f32> {
    (0..n).map(|_| (rng.next_f32() * 2.0 - 1.0) * limit).collect()
}

impl FloatModel {
    /// The weights of a loaded model in f32 (int8 and f16 values dequantized,
    /// pruned blocks as zeros), with its tokenizer and provenance.
    pub fn from_model(model: &Model<'_>) -> Result<Self> {
        let matrix = |m: &crate::Matrix<'_>| {
            let mut w = std::vec![0.0f32; m.rows() * m.cols()];
            for (r, row) in w.chunks_mut(m.cols().max(1)).enumerate() {
                m.row_into(r, row);
            }
            w
        };
        let vector = |v: &crate::Vector<'_>| (0..v.len()).map(|i| v.get(i)).collect::<Vec<f32>>();
        let p = model.provenance();
        Ok(FloatModel {
            dims: model.dims(),
            tokenizer: TokenizerSpec::from_tokenizer(model.tokenizer())?,
            provenance: ProvenanceSpec {
                name: p.name.into(),
                producer: p.producer.into(),
                corpus: p.corpus.into(),
                training: p.training.into(),
            },
            embedding: matrix(&model.embedding),
            gru_input: matrix(&model.gru_input),
            gru_recurrent: matrix(&model.gru_recurrent),
            gru_input_bias: vector(&model.gru_input_bias),
            gru_recurrent_bias: vector(&model.gru_recurrent_bias),
            dense: matrix(&model.dense),
            dense_bias: vector(&model.dense_bias),
            output: matrix(&model.output),
            output_bias: vector(&model.output_bias),
        })
    }

    /// A model with Glorot-uniform random weights and small random biases,
    /// for tests and benchmarks.
    pub fn random(dims: Dims, tokenizer: TokenizerSpec, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let (v, e, h, d) = (dims.vocab as usize, dims.emb as usize, dims.hidden as usize, dims.dense as usize);
        let glorot = |fan_in: usize, fan_out: usize| (6.0 / (fan_in + fan_out) as f32).sqrt();
        FloatModel {
            dims,
            tokenizer,
            provenance: ProvenanceSpec {
                name: "random".into(),
                producer: concat!("edgegru-runtime ", env!("CARGO_PKG_VERSION")).into(),
                ..Default::default()
            },
            embedding: uniform(&mut rng, v * e, 1.0),
            gru_input: uniform(&mut rng, 3 * h * e, glorot(e, 3 * h)),
            gru_recurrent: uniform(&mut rng, 3 * h * h, glorot(h, 3 * h) * 1.5),
            gru_input_bias: uniform(&mut rng, 3 * h, 0.1),
            gru_recurrent_bias: uniform(&mut rng, 3 * h, 0.1),
            dense: uniform(&mut rng, d * h, glorot(h, d) * 2.0),
            dense_bias: uniform(&mut rng, d, 0.1),
            output: uniform(&mut rng, v * d, glorot(d, v) * 2.0),
            output_bias: uniform(&mut rng, v, 0.1),
        }
    }

    /// A random character-level model over the characters of `chars`.
    pub fn random_char(chars: &str, emb: u32, hidden: u32, dense: u32, seed: u64) -> Self {
        let tokenizer = TokenizerSpec::chars(chars);
        let dims = Dims { vocab: tokenizer.tokens.len() as u32, emb, hidden, dense };
        FloatModel::random(dims, tokenizer, seed)
    }

    /// Writes the model as an `.egru` file.
    pub fn to_bytes(&self, opts: &ExportOptions) -> Vec<u8> {
        let (v, e, h, d) = (self.dims.vocab as usize, self.dims.emb as usize, self.dims.hidden as usize, self.dims.dense as usize);
        let sparse = opts.sparse && opts.weights == WeightKind::Int8;
        let mat = |w: &[f32], rows, cols| OwnedTensor::encode(w, rows, cols, opts.weights, sparse);
        let embedding = OwnedTensor::encode(&self.embedding, v, e, opts.embedding, false);
        let (gi, gr, de, ou) =
            (mat(&self.gru_input, 3 * h, e), mat(&self.gru_recurrent, 3 * h, h), mat(&self.dense, d, h), mat(&self.output, v, d));
        let biases = [&self.gru_input_bias, &self.gru_recurrent_bias, &self.dense_bias, &self.output_bias].map(|b| f32_bytes(b));
        let (text, ends, sorted) = self.tokenizer.tables();
        let t = &self.tokenizer;
        let p = &self.provenance;
        let body = Body {
            header: Header {
                dims: self.dims,
                tokenizer: TokenizerDesc {
                    kind: t.kind,
                    lowercase: t.lowercase,
                    filters: &t.filters,
                    split: t.split,
                    pad: t.pad,
                    oov: t.oov,
                    text: &text,
                    ends: &ends,
                    sorted: &sorted,
                },
                numerics: opts.numerics(),
                provenance: Provenance { name: &p.name, producer: &p.producer, corpus: &p.corpus, training: &p.training },
            },
            tensors: Tensors {
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
        encode_file(&body)
    }

    /// Writes the model and checks that the runtime loads it.
    pub fn to_checked_bytes(&self, opts: &ExportOptions) -> Result<Vec<u8>> {
        let bytes = self.to_bytes(opts);
        Model::from_bytes(&bytes)?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loaded_model_converts_back_to_its_float_weights() {
        let fm = FloatModel::random_char("abc de", 4, 8, 6, 3);
        let f32_file = fm.to_bytes(&ExportOptions::default());
        assert_eq!(FloatModel::from_model(&Model::from_bytes(&f32_file).unwrap()).unwrap(), fm);
        let sparse = fm.to_bytes(&ExportOptions::int8(true));
        let back = FloatModel::from_model(&Model::from_bytes(&sparse).unwrap()).unwrap();
        let (scales, q) = quantize_rows(&fm.dense, 6, 8);
        let want: Vec<f32> = q.iter().enumerate().map(|(i, &v)| v as f32 * scales[i / 8]).collect();
        assert_eq!(back.dense, want, "dequantized int8, the same values the runtime multiplies");
        assert_eq!(back.tokenizer, fm.tokenizer);
    }
}
