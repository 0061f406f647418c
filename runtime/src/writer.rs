//! Writing `.egru` files from in-memory float weights (feature `writer`,
//! which needs an allocator; a device never links it).
//!
//! The trainer's export and import, the ONNX crate and the tests use this one
//! writer. Quantization is int8 symmetric with one scale per output row
//! (`ScaleRule::MaxAbs`); sparse matrices keep every 8x4 block that has a
//! non-zero quantized value.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::crc32::crc32;
use crate::error::{Error, Result};
use crate::format::{
    self, v1, Activation, AnyBody, Body, DenseDesc, Extension, Fill, GruDesc, HeadDesc, HeadKindDesc, Header, InputDesc, Numerics,
    Provenance, ScaleRule, TensorDesc, TokenizerDesc, TokenizerKind,
};
use crate::kernels::arm_dsp_layout;
use crate::model::{HeadKind, Input, Model};
use crate::tokenizer::Tokenizer;

/// An owned tokenizer description; [`TokenizerSpec::tables`] makes the file's tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub fn from_tokenizer(t: &Tokenizer<'_>) -> Result<Self> {
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

    /// The `text`, `ends` and `sorted` tables of docs/file-format.md.
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

    /// The file's description of this tokenizer over its `tables()`.
    pub fn desc<'t>(&'t self, tables: &'t (Vec<u8>, Vec<u8>, Vec<u8>)) -> TokenizerDesc<'t> {
        let (text, ends, sorted) = tables;
        TokenizerDesc {
            kind: self.kind,
            lowercase: self.lowercase,
            filters: &self.filters,
            split: self.split,
            pad: self.pad,
            oov: self.oov,
            text,
            ends,
            sorted,
        }
    }
}

/// A spec with its tables built: the runtime's [`Tokenizer`] over owned
/// memory (what the trainer encodes with, and what the ONNX sessions use).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenizerTables {
    spec: TokenizerSpec,
    text: Vec<u8>,
    ends: Vec<u8>,
    sorted: Vec<u8>,
}

impl TokenizerTables {
    /// Builds and checks the tables (the checks a model load does).
    pub fn new(spec: TokenizerSpec) -> Result<Self> {
        let (text, ends, sorted) = spec.tables();
        let t = TokenizerTables { spec, text, ends, sorted };
        t.tokenizer()?;
        Ok(t)
    }

    /// The spec.
    pub fn spec(&self) -> &TokenizerSpec {
        &self.spec
    }

    /// The description as it goes into a file.
    pub fn desc(&self) -> TokenizerDesc<'_> {
        let s = &self.spec;
        TokenizerDesc {
            kind: s.kind,
            lowercase: s.lowercase,
            filters: &s.filters,
            split: s.split,
            pad: s.pad,
            oov: s.oov,
            text: &self.text,
            ends: &self.ends,
            sorted: &self.sorted,
        }
    }

    /// The runtime's tokenizer over these tables.
    pub fn tokenizer(&self) -> Result<Tokenizer<'_>> {
        Tokenizer::from_desc(&self.desc(), self.spec.tokens.len() as u32)
    }
}

/// Provenance strings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProvenanceSpec {
    /// Model name.
    pub name: String,
    /// Writer program and version.
    pub producer: String,
    /// Data description.
    pub corpus: String,
    /// Training command or configuration.
    pub training: String,
}

/// The input of a network, with its weights.
#[derive(Debug, Clone, PartialEq)]
pub enum FloatInput {
    /// Tokens: a tokenizer and an embedding table `[vocab, emb]`.
    Tokens {
        /// The tokenizer (`vocab` tokens).
        tokenizer: TokenizerSpec,
        /// Embedding width.
        emb: usize,
        /// `[vocab, emb]`, row-major.
        embedding: Vec<f32>,
    },
    /// Float features, normalized as `(x - mean) * scale`.
    Features {
        /// One per feature.
        mean: Vec<f32>,
        /// One per feature.
        scale: Vec<f32>,
        /// Integer numerics: the int8 scale of the normalized features.
        quant_scale: f32,
        /// The features' names, one per feature, or none (written in version 4).
        names: Vec<String>,
        /// What a missing value becomes (other than `Refuse`: written in version 4).
        fill: Fill,
    },
}

/// One GRU layer's weights, gates z, r, n.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatGru {
    /// State width.
    pub hidden: usize,
    /// `[3*hidden, in]`.
    pub input: Vec<f32>,
    /// `[3*hidden, hidden]`.
    pub recurrent: Vec<f32>,
    /// `[3*hidden]`.
    pub input_bias: Vec<f32>,
    /// `[3*hidden]`.
    pub recurrent_bias: Vec<f32>,
}

/// One dense layer: `act(W x + b)`, `W` row-major `[out, in]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatDense {
    /// Its activation.
    pub activation: Activation,
    /// `[out, in]`.
    pub weight: Vec<f32>,
    /// `[out]`.
    pub bias: Vec<f32>,
}

/// The output layer: `W x + b`, `W` row-major `[outputs, in]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatHead {
    /// What the outputs are.
    pub kind: HeadKind,
    /// Class or output names in output order: one per output for classes,
    /// one per output or none for regression, none for a next-token head.
    pub names: Vec<String>,
    /// `[outputs, in]`.
    pub weight: Vec<f32>,
    /// `[outputs]`.
    pub bias: Vec<f32>,
}

/// A network's weights in f32, row-major `[out, in]`, gates z, r, n.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatModel {
    /// What a step reads.
    pub input: FloatInput,
    /// The GRU layers, first to last.
    pub grus: Vec<FloatGru>,
    /// Dense layers after the last GRU.
    pub dense: Vec<FloatDense>,
    /// The output layer.
    pub head: FloatHead,
    /// Where it came from.
    pub provenance: ProvenanceSpec,
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

/// How int8 matrices are laid out in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// One byte per value, row-major (or 8x4 blocks): every core, the
    /// smallest file (format version 2).
    #[default]
    Portable,
    /// The arm-dsp layout for Cortex-M cores with the DSP extension (M4, M7,
    /// M33, M55): values stored as i16 in `SMLAD` order
    /// ([`crate::kernels::arm_dsp_layout`]), twice the flash of the int8 matrices for
    /// faster products (format version 3). The same results on every core.
    ArmDsp,
}

impl Layout {
    /// Name used on the command line and in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Layout::Portable => "portable",
            Layout::ArmDsp => "arm-dsp",
        }
    }
}

/// What [`FloatModel::to_bytes`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportOptions {
    /// Encoding of the GRU, dense and output matrices.
    pub weights: WeightKind,
    /// Encoding of the embedding table.
    pub embedding: WeightKind,
    /// With int8: store the GRU, dense and output matrices as 8x4 block-sparse.
    pub sparse: bool,
    /// With int8 weights (and embedding): integer-only numerics instead of hybrid.
    pub integer: bool,
    /// With int8: the layout of the GRU, dense and output matrices (the
    /// embedding stays portable).
    pub layout: Layout,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions { weights: WeightKind::F32, embedding: WeightKind::F32, sparse: false, integer: false, layout: Layout::Portable }
    }
}

impl ExportOptions {
    /// int8 everywhere, dense or block-sparse, hybrid numerics.
    pub fn int8(sparse: bool) -> Self {
        ExportOptions { weights: WeightKind::Int8, embedding: WeightKind::Int8, sparse, integer: false, layout: Layout::Portable }
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
    /// int8 values in the arm-dsp layout ([`Layout::ArmDsp`]).
    Int8ArmDsp {
        /// Output rows.
        rows: u32,
        /// Input columns.
        cols: u32,
        /// f32 LE per-row scales.
        scales: Vec<u8>,
        /// [`arm_dsp_layout::dense_bytes`] bytes.
        data: Vec<u8>,
    },
    /// int8 8x4 block-sparse, blocks in the arm-dsp layout (64 bytes each).
    ArmDspBlock8x4 {
        /// Output rows.
        rows: u32,
        /// Input columns.
        cols: u32,
        /// f32 LE per-row scales.
        scales: Vec<u8>,
        /// Block tables (64 bytes per block).
        tables: Block8x4Tables,
    },
}

impl OwnedTensor {
    /// Encodes a float matrix (int8 in the portable layout; see [`OwnedTensor::from_desc`]).
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
            OwnedTensor::Int8ArmDsp { rows, cols, scales, data } => TensorDesc::Int8ArmDsp { rows: *rows, cols: *cols, scales, data },
            OwnedTensor::ArmDspBlock8x4 { rows, cols, scales, tables } => TensorDesc::Int8ArmDspBlock8x4 {
                rows: *rows,
                cols: *cols,
                scales,
                row_blocks: &tables.row_blocks,
                block_cols: &tables.block_cols,
                blocks: &tables.blocks,
            },
        }
    }

    /// An owned copy of a file's tensor, its int8 values in `layout` (float
    /// tensors are copied as they are). Converting between the layouts
    /// keeps every value: the products give the same sums.
    pub fn from_desc(desc: &TensorDesc<'_>, layout: Layout) -> Self {
        let owned = |b: &[u8]| b.to_vec();
        let tables = |row_blocks: &[u8], block_cols: &[u8], blocks: Vec<u8>| Block8x4Tables {
            row_blocks: owned(row_blocks),
            block_cols: owned(block_cols),
            blocks,
        };
        match (desc.clone(), layout) {
            (TensorDesc::F32 { rows, cols, data }, _) => OwnedTensor::F32 { rows, cols, data: owned(data) },
            (TensorDesc::F16 { rows, cols, data }, _) => OwnedTensor::F16 { rows, cols, data: owned(data) },
            (TensorDesc::Int8 { rows, cols, scales, data }, Layout::Portable) => {
                OwnedTensor::Int8 { rows, cols, scales: owned(scales), data: owned(data) }
            }
            (TensorDesc::Int8ArmDsp { rows, cols, scales, data }, Layout::ArmDsp) => {
                OwnedTensor::Int8ArmDsp { rows, cols, scales: owned(scales), data: owned(data) }
            }
            (TensorDesc::Int8 { rows, cols, scales, data }, Layout::ArmDsp) => {
                let (r, c) = (rows as usize, cols as usize);
                let mut arm_dsp_data = alloc::vec![0u8; arm_dsp_layout::dense_bytes(r, c).unwrap_or(0)];
                arm_dsp_layout::widen_dense(bytemuck::cast_slice(data), r, c, &mut arm_dsp_data);
                OwnedTensor::Int8ArmDsp { rows, cols, scales: owned(scales), data: arm_dsp_data }
            }
            (TensorDesc::Int8ArmDsp { rows, cols, scales, data }, Layout::Portable) => {
                let (r, c, groups) = (rows as usize, cols as usize, (cols as usize).div_ceil(4));
                let q =
                    (0..r * c).map(|i| arm_dsp_layout::value_at(data, arm_dsp_layout::dense_offset(groups, i / c, i % c)) as u8).collect();
                OwnedTensor::Int8 { rows, cols, scales: owned(scales), data: q }
            }
            (TensorDesc::Int8Block8x4 { rows, cols, scales, row_blocks, block_cols, blocks }, Layout::Portable) => {
                OwnedTensor::Block8x4 { rows, cols, scales: owned(scales), tables: tables(row_blocks, block_cols, owned(blocks)) }
            }
            (TensorDesc::Int8ArmDspBlock8x4 { rows, cols, scales, row_blocks, block_cols, blocks }, Layout::ArmDsp) => {
                OwnedTensor::ArmDspBlock8x4 { rows, cols, scales: owned(scales), tables: tables(row_blocks, block_cols, owned(blocks)) }
            }
            (TensorDesc::Int8Block8x4 { rows, cols, scales, row_blocks, block_cols, blocks }, Layout::ArmDsp) => {
                let widened = blocks.chunks_exact(32).flat_map(|b| arm_dsp_layout::widen_block(bytemuck::cast_slice(b))).collect();
                OwnedTensor::ArmDspBlock8x4 { rows, cols, scales: owned(scales), tables: tables(row_blocks, block_cols, widened) }
            }
            (TensorDesc::Int8ArmDspBlock8x4 { rows, cols, scales, row_blocks, block_cols, blocks }, Layout::Portable) => {
                let narrowed = blocks
                    .chunks_exact(arm_dsp_layout::BLOCK_BYTES)
                    .flat_map(|b| (0..32).map(|k| arm_dsp_layout::value_at(b, arm_dsp_layout::block_offset(k / 4, k % 4)) as u8))
                    .collect();
                OwnedTensor::Block8x4 { rows, cols, scales: owned(scales), tables: tables(row_blocks, block_cols, narrowed) }
            }
        }
    }
}

/// The network of a version-1 body (one GRU, one relu dense layer, a
/// next-token head): the same model in the version-2 description.
pub fn v1_as_network<'a>(b: &v1::Body<'a>) -> Body<'a> {
    let t = &b.tensors;
    let mut grus = heapless::Vec::new();
    let _ = grus.push(GruDesc {
        input: t.gru_input.clone(),
        recurrent: t.gru_recurrent.clone(),
        input_bias: t.gru_input_bias,
        recurrent_bias: t.gru_recurrent_bias,
    });
    let mut dense = heapless::Vec::new();
    let _ = dense.push(DenseDesc { activation: Activation::Relu, weight: t.dense.clone(), bias: t.dense_bias });
    Body {
        header: Header { numerics: b.header.numerics, provenance: b.header.provenance.clone() },
        input: InputDesc::Tokens { tokenizer: b.header.tokenizer.clone(), embedding: t.embedding.clone() },
        grus,
        dense,
        head: HeadDesc { kind: HeadKindDesc::NextToken, weight: t.output.clone(), bias: t.output_bias },
    }
}

/// The version a network body needs: [`format::ARM_DSP_VERSION`] when a
/// matrix is in the arm-dsp layout, else [`format::FORMAT_VERSION`].
pub fn version_of(body: &Body<'_>) -> u16 {
    let matrices = body.grus.iter().flat_map(|g| [&g.input, &g.recurrent]).chain(body.dense.iter().map(|d| &d.weight));
    if matrices.chain([&body.head.weight]).any(|t| t.is_arm_dsp()) {
        format::ARM_DSP_VERSION
    } else {
        format::FORMAT_VERSION
    }
}

/// Rewrites a valid `.egru` file (any version) with its GRU, dense and output
/// int8 matrices in `layout`; everything else, and every value, stays as it
/// is (a version-1 file becomes the same network in version 2 or 3). The
/// result is checked by loading it. Float models have no int8 matrices to
/// lay out: [`Layout::ArmDsp`] refuses them.
pub fn relayout(bytes: &[u8], layout: Layout) -> core::result::Result<Vec<u8>, WriteError> {
    let model = Model::from_bytes(bytes).map_err(WriteError::Load)?;
    if layout == Layout::ArmDsp && !model.numerics().is_int8() {
        return Err(WriteError::Shape(alloc::format!(
            "the {} layout is for int8 matrices; this model's numerics are {}",
            layout.name(),
            model.numerics().name()
        )));
    }
    let (body, _) = format::decode(bytes).map_err(WriteError::Load)?;
    let (body, ext) = match body {
        AnyBody::V1(b) => (v1_as_network(&b), None),
        AnyBody::V2(b) => (b, None),
        AnyBody::V4(b, e) | AnyBody::V5(b, e, _) => (b, Some(e)),
    };
    let mat = |t: &TensorDesc<'_>| OwnedTensor::from_desc(t, layout);
    let grus: Vec<_> = body.grus.iter().map(|g| (mat(&g.input), mat(&g.recurrent))).collect();
    let dense: Vec<_> = body.dense.iter().map(|d| mat(&d.weight)).collect();
    let head = mat(&body.head.weight);
    let out = Body {
        header: body.header.clone(),
        input: body.input.clone(),
        grus: body.grus.iter().zip(&grus).map(|(g, (w, u))| GruDesc { input: w.desc(), recurrent: u.desc(), ..g.clone() }).collect(),
        dense: body.dense.iter().zip(&dense).map(|(d, w)| DenseDesc { weight: w.desc(), ..d.clone() }).collect(),
        head: HeadDesc { weight: head.desc(), ..body.head.clone() },
    };
    let file = match ext {
        Some(e) => encode_file(format::EXTENSION_VERSION, &(&out, &e))?,
        None => encode_file(version_of(&out), &out)?,
    };
    let file = align_sections(with_row_tables(file)?)?;
    Model::from_bytes(&file).map_err(WriteError::Load)?;
    Ok(file)
}

/// A valid file with its f32 sections (scales, biases, feature statistics,
/// f32 weights) and the data of each arm-dsp layout tensor moved to
/// multiples of 4 bytes from the file's start: where the file lies
/// 4-aligned in memory, a core then loads them by whole words (a DSP core
/// a row's two weight words with one `LDRD`, an FPU several scales with
/// one `VLDM`). The bytes move by writing length prefixes in more bytes
/// than they need (a varint with continuation bytes that add nothing, up
/// to the 5 bytes a u32 may take): the same values in the same version,
/// which the reader takes as any other file. A section whose prefixes have no room left
/// stays where it is.
pub fn align_sections(file: Vec<u8>) -> core::result::Result<Vec<u8>, WriteError> {
    let edits = {
        let (body, _) = format::decode(&file).map_err(WriteError::Load)?;
        match &body {
            AnyBody::V1(_) => Vec::new(),
            AnyBody::V2(b) | AnyBody::V4(b, _) | AnyBody::V5(b, _, _) => length_edits(&file, b),
        }
    };
    if edits.is_empty() {
        return Ok(file);
    }
    let mut out = Vec::with_capacity(file.len() + 3 * edits.len());
    let mut cursor = 0;
    for e in &edits {
        out.extend_from_slice(&file[cursor..e.at]);
        let mut v = e.value;
        for i in 0..e.width {
            out.push((v & 0x7F) as u8 | if i + 1 < e.width { 0x80 } else { 0 });
            v >>= 7;
        }
        cursor = e.at + format::varint_len(e.value as usize);
    }
    out.extend_from_slice(&file[cursor..]);
    let crc = crc32(&out[format::PREFIX_LEN..]);
    out[6..10].copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// A length prefix rewritten by [`align_sections`]: at byte `at`, the
/// length `value`, now `width` bytes long.
struct LengthEdit {
    at: usize,
    value: u32,
    width: usize,
}

/// The byte sections of a tensor, each with whether it is to be aligned
/// (f32 values, and the weights of the arm-dsp layout kinds).
fn tensor_sections<'a>(t: &TensorDesc<'a>) -> Vec<(&'a [u8], bool)> {
    match *t {
        TensorDesc::F32 { data, .. } => alloc::vec![(data, true)],
        TensorDesc::F16 { data, .. } => alloc::vec![(data, false)],
        TensorDesc::Int8 { scales, data, .. } => alloc::vec![(scales, true), (data, false)],
        TensorDesc::Int8ArmDsp { scales, data, .. } => alloc::vec![(scales, true), (data, true)],
        TensorDesc::Int8Block8x4 { scales, row_blocks, block_cols, blocks, .. } => {
            alloc::vec![(scales, true), (row_blocks, false), (block_cols, false), (blocks, false)]
        }
        TensorDesc::Int8ArmDspBlock8x4 { scales, row_blocks, block_cols, blocks, .. } => {
            alloc::vec![(scales, true), (row_blocks, false), (block_cols, false), (blocks, true)]
        }
    }
}

/// The length prefixes to widen so that the sections [`align_sections`]
/// aligns land 4-aligned, in file order: a section's padding goes into its
/// own prefix and those of the sections before it back to the last
/// aligned one (whose place must not move again).
fn length_edits(file: &[u8], body: &Body<'_>) -> Vec<LengthEdit> {
    let mut sections: Vec<(&[u8], bool)> = Vec::new();
    match &body.input {
        InputDesc::Tokens { embedding, .. } => sections.extend(tensor_sections(embedding)),
        InputDesc::Features { mean, scale, .. } => sections.extend([(*mean, true), (*scale, true)]),
    }
    for g in &body.grus {
        sections.extend(tensor_sections(&g.input).into_iter().chain(tensor_sections(&g.recurrent)));
        sections.extend([(g.input_bias, true), (g.recurrent_bias, true)]);
    }
    for d in &body.dense {
        sections.extend(tensor_sections(&d.weight).into_iter().chain([(d.bias, true)]));
    }
    sections.extend(tensor_sections(&body.head.weight).into_iter().chain([(body.head.bias, true)]));
    let offset = |s: &[u8]| s.as_ptr() as usize - file.as_ptr() as usize;
    sections.sort_by_key(|(s, _)| offset(s));
    let (mut edits, mut pending, mut shift) = (Vec::<LengthEdit>::new(), Vec::new(), 0);
    for (s, align) in sections {
        let canonical = format::varint_len(s.len());
        pending.push(edits.len());
        edits.push(LengthEdit { at: offset(s) - canonical, value: s.len() as u32, width: canonical });
        let pad = (4 - (offset(s) + shift) % 4) % 4;
        if !align || pending.iter().map(|&i| 5 - edits[i].width).sum::<usize>() < pad {
            continue;
        }
        let mut left = pad;
        for &i in pending.iter().rev() {
            let more = left.min(5 - edits[i].width);
            edits[i].width += more;
            left -= more;
        }
        shift += pad;
        pending.clear();
    }
    edits.retain(|e| e.width > format::varint_len(e.value as usize));
    edits
}

/// A valid version-2 to 4 file with integer numerics rewritten as version 6:
/// the same body and extension, after each product's row table
/// ([`crate::Model`]'s products in step order, each row by
/// [`crate::tensor::row_entry`]). Other numerics have no tables: the file
/// comes back as it is.
pub fn with_row_tables(file: Vec<u8>) -> core::result::Result<Vec<u8>, WriteError> {
    let Some([m, s, b]) = row_tables_of(&Model::from_bytes(&file).map_err(WriteError::Load)?) else {
        return Ok(file);
    };
    let tables = format::RowTables { multipliers: &m, shifts: &s, biases: &b };
    let (body, _) = format::decode(&file).map_err(WriteError::Load)?;
    let (body, ext) = match body {
        AnyBody::V2(b) => (b, Extension { feature_names: &[], feature_ends: &[], fill: Fill::Refuse }),
        AnyBody::V4(b, e) => (b, e),
        AnyBody::V1(_) | AnyBody::V5(..) => return Err(WriteError::Encode("row tables are added to a version 2 to 4 file".into())),
    };
    let tables = format::AlignedRowTables::new(&tables, format::PREFIX_LEN);
    encode_file(format::ALIGNED_TABLES_VERSION, &(&tables, &body, &ext))
}

/// A model's row tables: the multipliers, shifts and biases of every
/// product's rows, in step order (`None` for numerics other than integer).
fn row_tables_of(model: &Model<'_>) -> Option<[Vec<u8>; 3]> {
    model.products().next()?;
    let mut t: [Vec<u8>; 3] = Default::default();
    for p in model.products() {
        let (scales, bias) = (p.matrix.scales().unwrap_or(&[]), p.bias.bytes());
        for (s, b) in scales.chunks_exact(4).zip(bias.chunks_exact(4)) {
            let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let (m, shift, bias) = crate::tensor::row_entry(word(s), word(b), p.input, p.limit);
            t[0].extend_from_slice(&m.to_le_bytes());
            t[1].push(shift as u8);
            t[2].extend_from_slice(&bias.to_le_bytes());
        }
    }
    Some(t)
}

/// Serializes a body and prepends the prefix: magic, `version` and CRC-32.
pub fn encode_file<T: Serialize>(version: u16, body: &T) -> core::result::Result<Vec<u8>, WriteError> {
    let payload = postcard::to_allocvec(body).map_err(|e| WriteError::Encode(alloc::format!("{e}")))?;
    let mut out = Vec::with_capacity(format::PREFIX_LEN + payload.len());
    out.extend_from_slice(&format::MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&crc32(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// A names table: concatenated text and u32 LE end offsets.
fn names_table(names: &[String]) -> (Vec<u8>, Vec<u8>) {
    let mut text = Vec::new();
    let mut ends = Vec::new();
    for n in names {
        text.extend_from_slice(n.as_bytes());
        ends.extend_from_slice(&(text.len() as u32).to_le_bytes());
    }
    (text, ends)
}

/// A matrix read back into f32 (int8 and f16 dequantized, pruned blocks as zeros).
fn matrix_f32(m: &crate::Matrix<'_>) -> Vec<f32> {
    let mut w = alloc::vec![0.0f32; m.rows() * m.cols()];
    for (r, row) in w.chunks_mut(m.cols().max(1)).enumerate() {
        m.row_into(r, row);
    }
    w
}

fn vector_f32(v: &crate::Vector<'_>) -> Vec<f32> {
    (0..v.len()).map(|i| v.get(i)).collect()
}

impl FloatModel {
    /// Width of the vector the first GRU reads.
    pub fn input_width(&self) -> usize {
        match &self.input {
            FloatInput::Tokens { emb, .. } => *emb,
            FloatInput::Features { mean, .. } => mean.len(),
        }
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.head.bias.len()
    }

    /// The tokenizer, for token models.
    pub fn tokenizer(&self) -> Option<&TokenizerSpec> {
        match &self.input {
            FloatInput::Tokens { tokenizer, .. } => Some(tokenizer),
            FloatInput::Features { .. } => None,
        }
    }

    /// The width each layer reads, in order: the GRUs, the dense layers, then the head.
    pub fn layer_inputs(&self) -> Vec<usize> {
        let mut widths = alloc::vec![self.input_width()];
        widths.extend(self.grus.iter().map(|g| g.hidden));
        widths.extend(self.dense.iter().map(|d| d.bias.len()));
        widths
    }

    /// The weights of a loaded model in f32 (int8 and f16 values dequantized,
    /// pruned blocks as zeros), with its tokenizer, head and provenance.
    pub fn from_model(model: &Model<'_>) -> Result<Self> {
        let p = model.provenance();
        let input = match model.input {
            Input::Tokens { tokenizer, embedding } => FloatInput::Tokens {
                tokenizer: TokenizerSpec::from_tokenizer(&tokenizer)?,
                emb: embedding.cols(),
                embedding: matrix_f32(&embedding),
            },
            Input::Features { mean, scale, quant_scale, names, fill, .. } => FloatInput::Features {
                mean: vector_f32(&mean),
                scale: vector_f32(&scale),
                quant_scale,
                names: (0..names.len()).map(|i| String::from(names.get(i).unwrap_or(""))).collect(),
                fill,
            },
        };
        let names = model.head.names().map_or_else(Vec::new, |n| (0..n.len()).map(|i| String::from(n.get(i).unwrap_or(""))).collect());
        Ok(FloatModel {
            input,
            grus: model
                .grus
                .iter()
                .map(|g| FloatGru {
                    hidden: g.hidden(),
                    input: matrix_f32(&g.input),
                    recurrent: matrix_f32(&g.recurrent),
                    input_bias: vector_f32(&g.input_bias),
                    recurrent_bias: vector_f32(&g.recurrent_bias),
                })
                .collect(),
            dense: model
                .dense
                .iter()
                .map(|d| FloatDense { activation: d.activation, weight: matrix_f32(&d.weight), bias: vector_f32(&d.bias) })
                .collect(),
            head: FloatHead { kind: model.head.kind(), names, weight: matrix_f32(&model.output), bias: vector_f32(&model.output_bias) },
            provenance: ProvenanceSpec {
                name: p.name.into(),
                producer: p.producer.into(),
                corpus: p.corpus.into(),
                training: p.training.into(),
            },
        })
    }

    /// Checks that every tensor has the length its layer sizes need (the
    /// writer relies on it; the loader checks the file again).
    pub fn check_shapes(&self) -> core::result::Result<(), String> {
        use alloc::format;
        let want = |what: &str, found: usize, expected: usize| {
            if found == expected {
                Ok(())
            } else {
                Err(format!("{what} holds {found} values, its shape needs {expected}"))
            }
        };
        if let FloatInput::Tokens { tokenizer, emb, embedding } = &self.input {
            want("the embedding", embedding.len(), tokenizer.tokens.len() * emb)?;
        }
        if let FloatInput::Features { mean, scale, names, .. } = &self.input {
            want("the feature scales", scale.len(), mean.len())?;
            if !names.is_empty() {
                want("the feature names", names.len(), mean.len())?;
            }
        }
        let widths = self.layer_inputs();
        for (n, g) in self.grus.iter().enumerate() {
            let (h, i) = (g.hidden, widths[n]);
            want(&format!("GRU {n} input weights"), g.input.len(), 3 * h * i)?;
            want(&format!("GRU {n} recurrent weights"), g.recurrent.len(), 3 * h * h)?;
            want(&format!("GRU {n} input bias"), g.input_bias.len(), 3 * h)?;
            want(&format!("GRU {n} recurrent bias"), g.recurrent_bias.len(), 3 * h)?;
        }
        for (n, d) in self.dense.iter().enumerate() {
            want(&format!("dense layer {n}"), d.weight.len(), d.bias.len() * widths[self.grus.len() + n])?;
        }
        want("the output layer", self.head.weight.len(), self.outputs() * widths[widths.len() - 1])?;
        let names = self.head.names.len();
        match self.head.kind {
            HeadKind::NextToken => {
                let vocab = self.tokenizer().map_or(0, |t| t.tokens.len());
                want("a next-token head", self.outputs(), vocab)?;
                want("a next-token head's names", names, 0)?;
            }
            HeadKind::Classes => want("the class names", names, self.outputs())?,
            HeadKind::Regression if names > 0 => want("the output names", names, self.outputs())?,
            HeadKind::Regression => {}
        }
        Ok(())
    }

    /// Writes the model as a version-2 `.egru` file (version 3 with
    /// [`Layout::ArmDsp`] int8 matrices; call
    /// [`FloatModel::check_shapes`] first, or use [`FloatModel::to_checked_bytes`]).
    pub fn to_bytes(&self, opts: &ExportOptions) -> core::result::Result<Vec<u8>, WriteError> {
        let sparse = opts.sparse && opts.weights == WeightKind::Int8;
        let widths = self.layer_inputs();
        let mat = |w: &[f32], rows, cols| match opts.layout {
            Layout::Portable => OwnedTensor::encode(w, rows, cols, opts.weights, sparse),
            layout => OwnedTensor::from_desc(&OwnedTensor::encode(w, rows, cols, opts.weights, sparse).desc(), layout),
        };
        let grus: Vec<_> = self
            .grus
            .iter()
            .zip(&widths)
            .map(|(g, &i)| {
                let h = g.hidden;
                (mat(&g.input, 3 * h, i), mat(&g.recurrent, 3 * h, h), f32_bytes(&g.input_bias), f32_bytes(&g.recurrent_bias))
            })
            .collect();
        let dense: Vec<_> = self
            .dense
            .iter()
            .zip(&widths[self.grus.len()..])
            .map(|(d, &i)| (d.activation, mat(&d.weight, d.bias.len(), i), f32_bytes(&d.bias)))
            .collect();
        let head_w = mat(&self.head.weight, self.outputs(), widths[widths.len() - 1]);
        let head_b = f32_bytes(&self.head.bias);
        let tables = self.tokenizer().map(|t| t.tables()).unwrap_or_default();
        let (embedding, mean_bytes, scale_bytes);
        let input = match &self.input {
            FloatInput::Tokens { tokenizer: t, emb, embedding: table } => {
                embedding = OwnedTensor::encode(table, t.tokens.len(), *emb, opts.embedding, false);
                InputDesc::Tokens { tokenizer: t.desc(&tables), embedding: embedding.desc() }
            }
            FloatInput::Features { mean, scale, quant_scale, .. } => {
                (mean_bytes, scale_bytes) = (f32_bytes(mean), f32_bytes(scale));
                InputDesc::Features { count: mean.len() as u32, mean: &mean_bytes, scale: &scale_bytes, quant_scale: *quant_scale }
            }
        };
        let names = names_table(&self.head.names);
        let kind = match self.head.kind {
            HeadKind::NextToken => HeadKindDesc::NextToken,
            HeadKind::Classes => HeadKindDesc::Classes { names: &names.0, ends: &names.1 },
            HeadKind::Regression => HeadKindDesc::Regression { names: &names.0, ends: &names.1 },
        };
        let p = &self.provenance;
        let body = Body {
            header: Header {
                numerics: opts.numerics(),
                provenance: Provenance { name: &p.name, producer: &p.producer, corpus: &p.corpus, training: &p.training },
            },
            input,
            grus: grus
                .iter()
                .map(|(w, u, bw, bu)| GruDesc { input: w.desc(), recurrent: u.desc(), input_bias: bw, recurrent_bias: bu })
                .collect(),
            dense: dense.iter().map(|(a, w, b)| DenseDesc { activation: *a, weight: w.desc(), bias: b }).collect(),
            head: HeadDesc { kind, weight: head_w.desc(), bias: &head_b },
        };
        let file = match self.extension() {
            Some((names, ends, fill)) => {
                let ext = Extension { feature_names: &names, feature_ends: &ends, fill };
                encode_file(format::EXTENSION_VERSION, &(&body, &ext))?
            }
            None => encode_file(version_of(&body), &body)?,
        };
        let file = if opts.numerics().is_integer() { with_row_tables(file)? } else { file };
        align_sections(file)
    }

    /// What version 4 adds for this model (feature names, a fill policy), if anything.
    fn extension(&self) -> Option<(Vec<u8>, Vec<u8>, Fill)> {
        match &self.input {
            FloatInput::Features { names, fill, .. } if !names.is_empty() || *fill != Fill::Refuse => {
                let (text, ends) = names_table(names);
                Some((text, ends, *fill))
            }
            _ => None,
        }
    }

    /// Checks the shapes, writes the model and checks that the runtime loads it.
    pub fn to_checked_bytes(&self, opts: &ExportOptions) -> core::result::Result<Vec<u8>, WriteError> {
        self.check_shapes().map_err(WriteError::Shape)?;
        if self.grus.len() > format::MAX_GRU_LAYERS || self.dense.len() > format::MAX_DENSE_LAYERS {
            return Err(WriteError::Shape(alloc::format!(
                "{} GRU and {} dense layers; a file holds 1 to {} GRU and 0 to {} dense layers",
                self.grus.len(),
                self.dense.len(),
                format::MAX_GRU_LAYERS,
                format::MAX_DENSE_LAYERS
            )));
        }
        let bytes = self.to_bytes(opts)?;
        Model::from_bytes(&bytes).map_err(WriteError::Load)?;
        Ok(bytes)
    }
}

/// Why [`FloatModel::to_checked_bytes`] did not write a file.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteError {
    /// A tensor's length does not fit the layer sizes.
    Shape(String),
    /// The written file did not load (a value out of range, ...).
    Load(Error),
    /// Serialization failed.
    Encode(String),
}

impl core::fmt::Display for WriteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WriteError::Shape(s) => write!(f, "cannot write the model: {s}"),
            WriteError::Load(e) => write!(f, "the written model does not load: {e}"),
            WriteError::Encode(e) => write!(f, "cannot encode the model: {e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for WriteError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small token model with deterministic weights.
    fn model() -> FloatModel {
        let tokenizer = TokenizerSpec::chars("abc de");
        let (v, e, h, d) = (6, 4, 8, 6);
        let w = |n: usize, k: usize| (0..n).map(|i| ((i * 7 + k * 13) % 17) as f32 / 17.0 - 0.5).collect::<Vec<f32>>();
        FloatModel {
            input: FloatInput::Tokens { tokenizer, emb: e, embedding: w(v * e, 1) },
            grus: alloc::vec![FloatGru {
                hidden: h,
                input: w(3 * h * e, 2),
                recurrent: w(3 * h * h, 3),
                input_bias: w(3 * h, 4),
                recurrent_bias: w(3 * h, 5)
            }],
            dense: alloc::vec![FloatDense { activation: Activation::Relu, weight: w(d * h, 6), bias: w(d, 7) }],
            head: FloatHead { kind: HeadKind::NextToken, names: Vec::new(), weight: w(v * d, 8), bias: w(v, 9) },
            provenance: ProvenanceSpec::default(),
        }
    }

    #[test]
    fn a_loaded_model_converts_back_to_its_float_weights() {
        let fm = model();
        let f32_file = fm.to_checked_bytes(&ExportOptions::default()).unwrap();
        assert_eq!(FloatModel::from_model(&Model::from_bytes(&f32_file).unwrap()).unwrap(), fm);
        let sparse = fm.to_checked_bytes(&ExportOptions::int8(true)).unwrap();
        let back = FloatModel::from_model(&Model::from_bytes(&sparse).unwrap()).unwrap();
        let (scales, q) = quantize_rows(&fm.dense[0].weight, 6, 8);
        let want: Vec<f32> = q.iter().enumerate().map(|(i, &v)| v as f32 * scales[i / 8]).collect();
        assert_eq!(back.dense[0].weight, want, "dequantized int8, the same values the runtime multiplies");
        assert_eq!(back.tokenizer(), fm.tokenizer());
    }

    /// Offsets from the file's start of the sections a device reads by
    /// words: every tensor's f32 scales (and f32 weights), the arm-dsp
    /// weights, the biases.
    fn word_sections(file: &[u8]) -> Vec<usize> {
        let (body, _) = format::decode(file).unwrap();
        let (AnyBody::V2(b) | AnyBody::V4(b, _) | AnyBody::V5(b, _, _)) = &body else { panic!("a network") };
        let mut s: Vec<&[u8]> = Vec::new();
        let tensors = b.grus.iter().flat_map(|g| [&g.input, &g.recurrent]).chain(b.dense.iter().map(|d| &d.weight)).chain([&b.head.weight]);
        for t in tensors {
            match *t {
                TensorDesc::Int8ArmDsp { scales, data, .. } => s.extend([scales, data]),
                TensorDesc::Int8ArmDspBlock8x4 { scales, blocks, .. } => s.extend([scales, blocks]),
                TensorDesc::Int8 { scales, .. } | TensorDesc::Int8Block8x4 { scales, .. } => s.push(scales),
                TensorDesc::F32 { data, .. } => s.push(data),
                TensorDesc::F16 { .. } => {}
            }
        }
        s.extend(b.grus.iter().flat_map(|g| [g.input_bias, g.recurrent_bias]).chain(b.dense.iter().map(|d| d.bias)).chain([b.head.bias]));
        s.iter().map(|x| x.as_ptr() as usize - file.as_ptr() as usize).collect()
    }

    /// Logits of a few steps, as bits.
    fn outputs(file: &[u8]) -> Vec<u32> {
        let model = Model::from_bytes(file).unwrap();
        let mut arena = alloc::vec![0u8; model.arena_size()];
        let mut session = crate::Session::new(&model, &mut arena).unwrap();
        [1, 4, 2, 5].iter().flat_map(|&t| session.step(t).unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>()).collect()
    }

    #[test]
    fn written_files_hold_their_word_sections_4_aligned_with_the_same_values() {
        let fm = model();
        let all = [
            ExportOptions::default(),
            ExportOptions::int8(false),
            ExportOptions::int8(true),
            ExportOptions::integer(false),
            ExportOptions::integer(true),
        ];
        for opts in all {
            let portable = fm.to_checked_bytes(&opts).unwrap();
            let mut files = alloc::vec![portable.clone(), relayout(&portable, Layout::Portable).unwrap()];
            if opts.weights == WeightKind::Int8 {
                let exported = fm.to_checked_bytes(&ExportOptions { layout: Layout::ArmDsp, ..opts }).unwrap();
                files.extend([relayout(&portable, Layout::ArmDsp).unwrap(), relayout(&exported, Layout::Portable).unwrap(), exported]);
            }
            for file in &files {
                let offsets = word_sections(file);
                assert!(offsets.iter().all(|o| o % 4 == 0), "{offsets:?}");
                assert_eq!(outputs(file), outputs(&portable));
            }
            // The same values encoded canonically (no longer prefixes): the same outputs.
            let canonical = match format::decode(&portable).unwrap().0 {
                AnyBody::V2(b) => encode_file(version_of(&b), &b),
                AnyBody::V4(b, e) => encode_file(format::EXTENSION_VERSION, &(&b, &e)),
                AnyBody::V5(b, e, t) => encode_file(format::ROW_TABLES_VERSION, &(&t, &b, &e)),
                AnyBody::V1(_) => panic!("a network"),
            };
            assert_eq!(outputs(&canonical.unwrap()), outputs(&portable));
        }
    }

    #[test]
    fn shapes_that_do_not_fit_are_refused_before_writing() {
        let mut fm = model();
        fm.dense[0].bias.pop();
        let err = fm.to_checked_bytes(&ExportOptions::default()).unwrap_err().to_string();
        assert!(err.contains("dense layer 0"), "{err}");
        let mut fm = model();
        fm.head.kind = HeadKind::Classes;
        fm.head.names = alloc::vec!["x".into()];
        assert!(fm.to_checked_bytes(&ExportOptions::default()).unwrap_err().to_string().contains("class names"));
    }
}
