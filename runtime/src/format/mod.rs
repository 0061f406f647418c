//! The `.egru` wire types, exactly as docs/file-format.md specifies them.
//!
//! A file is a 10-byte prefix (magic, version, CRC-32) followed by the
//! postcard encoding of [`Body`] (version 2, a network; version 3, the same
//! network with tensors in a device layout such as [`TensorDesc::Int8ArmDsp`])
//! or [`v1::Body`] (version 1, the original Embedding -> GRU -> Dense(relu)
//! -> Dense(vocab) model, still read). Byte sections are `&[u8]` borrowed from the caller's
//! slice: nothing is copied when a model is loaded.

use serde::{Deserialize, Serialize};

use crate::crc32::crc32;
use crate::error::{Error, Result};

mod read;
use read::{Decode, Reader};

/// The four bytes every `.egru` file starts with.
pub const MAGIC: [u8; 4] = *b"EGRU";
/// The format version this runtime writes (a network of layers) when every
/// tensor is in the portable layout.
pub const FORMAT_VERSION: u16 = 2;
/// The version of a network with tensors in a device layout (the arm-dsp layout kinds,
/// [`TensorDesc::is_arm_dsp`]); its body is the version-2 [`Body`].
pub const ARM_DSP_VERSION: u16 = 3;
/// The version that adds an [`Extension`] after the body (a version-3 body:
/// the arm-dsp layout kinds allowed): a feature model's feature names and
/// what a missing value becomes.
pub const EXTENSION_VERSION: u16 = 4;
/// The version that puts the integer numerics' [`RowTables`] before a
/// version-4 body and extension: each product's requantization per row,
/// ready to use.
pub const ROW_TABLES_VERSION: u16 = 5;
/// The version whose row tables are [`AlignedRowTables`]: the same tables,
/// padded so that the multipliers and biases start at multiples of 4 from
/// the file's start. The version writers write for integer numerics, and
/// the newest this runtime reads.
pub const ALIGNED_TABLES_VERSION: u16 = 6;
/// The oldest format version this runtime reads.
pub const OLDEST_VERSION: u16 = 1;
/// Length of the fixed prefix: magic (4), version (u16 LE), CRC-32 (u32 LE).
pub const PREFIX_LEN: usize = 10;
/// Most stacked GRU layers a file may hold.
pub const MAX_GRU_LAYERS: usize = 4;
/// Most dense layers between the last GRU and the head.
pub const MAX_DENSE_LAYERS: usize = 3;
/// Most int8 products of a network (two per GRU layer, one per dense layer, the head).
pub const MAX_PRODUCTS: usize = 2 * MAX_GRU_LAYERS + MAX_DENSE_LAYERS + 1;

/// Everything after the prefix of a version-2 file: a network.
#[derive(Debug, Clone, Serialize)]
pub struct Body<'a> {
    /// Numerics and provenance.
    pub header: Header<'a>,
    /// What one step reads: a token or a feature vector.
    pub input: InputDesc<'a>,
    /// The stacked GRU layers, first (reading the input) to last.
    pub grus: heapless::Vec<GruDesc<'a>, MAX_GRU_LAYERS>,
    /// Dense layers after the last GRU, in order.
    pub dense: heapless::Vec<DenseDesc<'a>, MAX_DENSE_LAYERS>,
    /// The output layer and what its outputs mean.
    pub head: HeadDesc<'a>,
}

/// How the network computes and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Header<'a> {
    /// How the matrix products are computed.
    pub numerics: Numerics,
    /// Where the model came from.
    pub provenance: Provenance<'a>,
}

/// The input of one step.
#[derive(Debug, Clone, Serialize)]
pub enum InputDesc<'a> {
    /// A token id, looked up in an embedding table; the tokenizer travels with it.
    Tokens {
        /// The tokenizer, so that a device needs nothing else.
        tokenizer: TokenizerDesc<'a>,
        /// `[vocab, emb]`, row `t` is token `t`'s vector.
        embedding: TensorDesc<'a>,
    },
    /// `count` float features per step, normalized as `(x - mean) * scale`.
    Features {
        /// Features per step.
        count: u32,
        /// f32 LE, one per feature.
        mean: &'a [u8],
        /// f32 LE, one per feature.
        scale: &'a [u8],
        /// Integer numerics: the normalized features enter the first GRU as
        /// int8 of this scale (`q = round(x / quant_scale)`, clamped to ±127).
        quant_scale: f32,
    },
}

/// One GRU layer (the ONNX convention: gates z, r, n; `linear_before_reset = 1`).
#[derive(Debug, Clone, Serialize)]
pub struct GruDesc<'a> {
    /// `[3*hidden, in]`, gate rows in order z, r, n.
    pub input: TensorDesc<'a>,
    /// `[3*hidden, hidden]`, gate rows in order z, r, n.
    pub recurrent: TensorDesc<'a>,
    /// f32 LE `[3*hidden]`.
    pub input_bias: &'a [u8],
    /// f32 LE `[3*hidden]`.
    pub recurrent_bias: &'a [u8],
}

/// A dense layer: `act(W x + b)`.
#[derive(Debug, Clone, Serialize)]
pub struct DenseDesc<'a> {
    /// The activation applied to every output.
    pub activation: Activation,
    /// `[out, in]`.
    pub weight: TensorDesc<'a>,
    /// f32 LE `[out]`.
    pub bias: &'a [u8],
}

/// Activation of a dense layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// `x`.
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `tanh(x)`.
    Tanh,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
}

impl Activation {
    /// Every activation, in wire order.
    pub const ALL: [Activation; 4] = [Activation::Linear, Activation::Relu, Activation::Tanh, Activation::Sigmoid];

    /// Name used in reports and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
        }
    }
}

/// The output layer (`W x + b`, no activation of its own) and what it means.
#[derive(Debug, Clone, Serialize)]
pub struct HeadDesc<'a> {
    /// What the outputs are.
    pub kind: HeadKindDesc<'a>,
    /// `[outputs, in]`.
    pub weight: TensorDesc<'a>,
    /// f32 LE `[outputs]`.
    pub bias: &'a [u8],
}

/// What the head's outputs mean. Names use the tokenizer's table layout:
/// name `i` is `text[ends[i-1]..ends[i]]`.
#[derive(Debug, Clone, Serialize)]
pub enum HeadKindDesc<'a> {
    /// Logits of the next token (a language model): one per vocabulary entry.
    NextToken,
    /// Logits of classes; a session returns their softmax, the class probabilities.
    Classes {
        /// UTF-8 class names, concatenated.
        names: &'a [u8],
        /// u32 LE end offset of each name, one per class.
        ends: &'a [u8],
    },
    /// Linear outputs (regression), returned as they are.
    Regression {
        /// UTF-8 output names, concatenated (may be empty).
        names: &'a [u8],
        /// u32 LE end offsets: one per output, or none when unnamed.
        ends: &'a [u8],
    },
}

/// Layer sizes of the version-1 model, Embedding(vocab, emb) -> GRU(hidden) ->
/// Dense(dense, relu) -> Dense(vocab).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dims {
    /// Number of tokens.
    pub vocab: u32,
    /// Embedding width.
    pub emb: u32,
    /// GRU state width.
    pub hidden: u32,
    /// Width of the hidden dense layer.
    pub dense: u32,
}

/// How the matrix products of a model are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Numerics {
    /// Float weights (f32 or f16), f32 arithmetic: the reference path.
    Float,
    /// int8 weights with one scale per output row, the input vector of each
    /// product quantized to int8 per step, int32 accumulation, f32 gates.
    HybridInt8 {
        /// How the exporter chose the weight scales.
        weight_scale: ScaleRule,
    },
    /// Integer-only, for cores without an FPU: int8 weights (the embedding
    /// too), int16 state, fixed-point requantization, table sigmoid and tanh.
    /// The same bits on every target.
    Integer {
        /// How the exporter chose the weight scales.
        weight_scale: ScaleRule,
    },
}

impl Numerics {
    /// Short name used in messages and by `inspect`.
    pub const fn name(&self) -> &'static str {
        match self {
            Numerics::Float => "float",
            Numerics::HybridInt8 { .. } => "hybrid-int8",
            Numerics::Integer { .. } => "integer",
        }
    }

    /// Whether the GRU and dense products use int8 weights.
    pub const fn is_int8(&self) -> bool {
        matches!(self, Numerics::HybridInt8 { .. } | Numerics::Integer { .. })
    }

    /// Whether every value of a step is an integer (the integer-only numerics).
    pub const fn is_integer(&self) -> bool {
        matches!(self, Numerics::Integer { .. })
    }
}

/// The rule that picked per-row int8 weight scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScaleRule {
    /// `scale = max(|w_row|) / 127`, values rounded to nearest, ties away from zero.
    MaxAbs,
}

/// Tokenizer tables. Token `i`'s text is `text[ends[i-1]..ends[i]]` (with `ends[-1] = 0`).
#[derive(Debug, Clone, Serialize)]
pub struct TokenizerDesc<'a> {
    /// Character or word level.
    pub kind: TokenizerKind,
    /// Lower-case text before lookup (Keras `lower=True`).
    pub lowercase: bool,
    /// Word level: characters replaced by the split character before splitting (Keras `filters`).
    pub filters: &'a str,
    /// Word level: the separator (Keras `split`); also put between words when decoding.
    pub split: char,
    /// Id of the padding token, if any. Never produced by encoding.
    pub pad: Option<u32>,
    /// Id of the out-of-vocabulary token, if any.
    pub oov: Option<u32>,
    /// UTF-8 text of all tokens, concatenated in id order.
    pub text: &'a [u8],
    /// u32 LE end offset into `text` of each token, `vocab` entries, non-decreasing.
    pub ends: &'a [u8],
    /// u32 LE ids of all tokens with non-empty text, ordered by their text's bytes (strictly increasing).
    pub sorted: &'a [u8],
}

/// Granularity of the tokenizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenizerKind {
    /// One token per Unicode scalar value.
    Char,
    /// Keras `Tokenizer` word semantics.
    Word,
}

/// Where a model came from. Free text, for people and tools.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance<'a> {
    /// Model name.
    pub name: &'a str,
    /// Program and version that wrote the file.
    pub producer: &'a str,
    /// Data the model was trained on.
    pub corpus: &'a str,
    /// Training command or configuration.
    pub training: &'a str,
}

/// One weight matrix and its encoding. Matrices are row-major `[out, in]`:
/// row `r` produces output `r`.
#[derive(Debug, Clone, Serialize)]
pub enum TensorDesc<'a> {
    /// f32 LE, `rows*cols*4` bytes.
    F32 {
        /// Output rows.
        rows: u32,
        /// Input columns.
        cols: u32,
        /// Row-major values.
        data: &'a [u8],
    },
    /// IEEE binary16 LE, `rows*cols*2` bytes.
    F16 {
        /// Output rows.
        rows: u32,
        /// Input columns.
        cols: u32,
        /// Row-major values.
        data: &'a [u8],
    },
    /// int8, value = `data[r][c] * scales[r]`.
    Int8 {
        /// Output rows.
        rows: u32,
        /// Input columns.
        cols: u32,
        /// f32 LE, one per row.
        scales: &'a [u8],
        /// Row-major int8 values, `rows*cols` bytes.
        data: &'a [u8],
    },
    /// int8 in 8x4 blocks (8 output rows x 4 consecutive inputs), value = `q * scales[r]`.
    Int8Block8x4 {
        /// Output rows.
        rows: u32,
        /// Input columns.
        cols: u32,
        /// f32 LE, one per row.
        scales: &'a [u8],
        /// u32 LE, `ceil(rows/8)+1` entries: blocks of row block `b` are `row_blocks[b]..row_blocks[b+1]`.
        row_blocks: &'a [u8],
        /// u16 LE block column of each block (inputs `4c..4c+4`), strictly increasing within a row block.
        block_cols: &'a [u8],
        /// 32 bytes per block: 8 rows of 4 int8 values, row-major.
        blocks: &'a [u8],
    },
    /// int8 values stored widened to i16 for the Cortex-M DSP extension
    /// (version 3): value = `q * scales[r]` with `q` in [-127, 127], exactly
    /// as [`TensorDesc::Int8`]. Each row holds `ceil(cols/4)` groups of four
    /// i16 LE in `SMLAD` order `[q0, q2, q1, q3]` (columns `4g..4g+4`);
    /// columns past `cols` are zero.
    Int8ArmDsp {
        /// Output rows.
        rows: u32,
        /// Input columns.
        cols: u32,
        /// f32 LE, one per row.
        scales: &'a [u8],
        /// `rows * ceil(cols/4) * 8` bytes.
        data: &'a [u8],
    },
    /// [`TensorDesc::Int8Block8x4`] with its blocks widened as
    /// [`TensorDesc::Int8ArmDsp`] rows are (version 3): 64 bytes per block, 8
    /// rows of `[q0, q2, q1, q3]` i16 LE.
    Int8ArmDspBlock8x4 {
        /// Output rows.
        rows: u32,
        /// Input columns.
        cols: u32,
        /// f32 LE, one per row.
        scales: &'a [u8],
        /// As in [`TensorDesc::Int8Block8x4`].
        row_blocks: &'a [u8],
        /// As in [`TensorDesc::Int8Block8x4`].
        block_cols: &'a [u8],
        /// 64 bytes per block.
        blocks: &'a [u8],
    },
}

impl TensorDesc<'_> {
    /// Short name of the encoding.
    pub const fn kind_name(&self) -> &'static str {
        match self {
            TensorDesc::F32 { .. } => "f32",
            TensorDesc::F16 { .. } => "f16",
            TensorDesc::Int8 { .. } => "int8",
            TensorDesc::Int8Block8x4 { .. } => "int8-block8x4",
            TensorDesc::Int8ArmDsp { .. } => "int8-arm-dsp",
            TensorDesc::Int8ArmDspBlock8x4 { .. } => "int8-arm-dsp-block8x4",
        }
    }

    /// Whether the tensor is in a device layout (an arm-dsp layout kind: version 3 only).
    pub const fn is_arm_dsp(&self) -> bool {
        matches!(self, TensorDesc::Int8ArmDsp { .. } | TensorDesc::Int8ArmDspBlock8x4 { .. })
    }

    /// `(rows, cols)` as written in the file.
    pub const fn shape(&self) -> (u32, u32) {
        match *self {
            TensorDesc::F32 { rows, cols, .. }
            | TensorDesc::F16 { rows, cols, .. }
            | TensorDesc::Int8 { rows, cols, .. }
            | TensorDesc::Int8Block8x4 { rows, cols, .. }
            | TensorDesc::Int8ArmDsp { rows, cols, .. }
            | TensorDesc::Int8ArmDspBlock8x4 { rows, cols, .. } => (rows, cols),
        }
    }
}

/// The wire types of version 1: one fixed model.
pub mod v1 {
    use serde::Serialize;

    use super::{Dims, Numerics, Provenance, TensorDesc, TokenizerDesc};

    /// Everything after the prefix of a version-1 file.
    #[derive(Debug, Clone, Serialize)]
    pub struct Body<'a> {
        /// Dimensions, tokenizer, numerics and provenance.
        pub header: Header<'a>,
        /// The weights.
        pub tensors: Tensors<'a>,
    }

    /// The version-1 header.
    #[derive(Debug, Clone, Serialize)]
    pub struct Header<'a> {
        /// Layer sizes.
        pub dims: Dims,
        /// The tokenizer.
        pub tokenizer: TokenizerDesc<'a>,
        /// How the matrix products are computed.
        pub numerics: Numerics,
        /// Where the model came from.
        pub provenance: Provenance<'a>,
    }

    /// All version-1 weights.
    #[derive(Debug, Clone, Serialize)]
    pub struct Tensors<'a> {
        /// `[vocab, emb]`.
        pub embedding: TensorDesc<'a>,
        /// `[3*hidden, emb]`, gate rows in order z, r, n.
        pub gru_input: TensorDesc<'a>,
        /// `[3*hidden, hidden]`, gate rows in order z, r, n.
        pub gru_recurrent: TensorDesc<'a>,
        /// f32 LE `[3*hidden]`.
        pub gru_input_bias: &'a [u8],
        /// f32 LE `[3*hidden]`.
        pub gru_recurrent_bias: &'a [u8],
        /// `[dense, hidden]`.
        pub dense: TensorDesc<'a>,
        /// f32 LE `[dense]`.
        pub dense_bias: &'a [u8],
        /// `[vocab, dense]`.
        pub output: TensorDesc<'a>,
        /// f32 LE `[vocab]`.
        pub output_bias: &'a [u8],
    }
}

/// What a missing feature value (NaN) becomes before a step; infinities are
/// always refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Fill {
    /// Refused: the step fails with `Error::NonFiniteInput` (files before version 4).
    #[default]
    Refuse,
    /// 0, as the raw feature value.
    Zero,
    /// The feature's training mean (0 after normalization).
    Mean,
    /// The feature's last value seen in this stream (its mean before any).
    Previous,
}

impl Fill {
    /// Every policy, in `--fill`'s order.
    pub const ALL: [Fill; 4] = [Fill::Refuse, Fill::Zero, Fill::Mean, Fill::Previous];

    /// The policy named `name` (`refuse`, `zero`, `mean`, `previous`).
    pub fn from_name(name: &str) -> Option<Fill> {
        Fill::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The index of the first value of one step's features `x` this policy
    /// refuses: an infinity always, a NaN only with `Refuse`.
    pub fn refused(self, x: &[f32]) -> Option<usize> {
        // By the bits: every exponent bit set is an infinity or a NaN, a
        // NaN when the significand is not zero.
        let nan_too = self == Fill::Refuse;
        x.iter().position(|v| {
            let mag = v.to_bits() & 0x7fff_ffff;
            mag == 0x7f80_0000 || (nan_too && mag > 0x7f80_0000)
        })
    }

    /// One step's features `x` into `out`, each missing value (NaN) filled:
    /// 0, `mean(i)`, or what `out` held (the last step's filled values, the
    /// means before any step). The one rule the runtime, the ONNX sessions
    /// and training use. `Refuse` copies NaN through (refused before).
    pub fn apply(self, x: &[f32], mean: impl Fn(usize) -> f32, out: &mut [f32]) {
        for (i, (dst, &v)) in out.iter_mut().zip(x).enumerate() {
            *dst = match (v.is_nan(), self) {
                (false, _) | (true, Fill::Refuse) => v,
                (true, Fill::Zero) => 0.0,
                (true, Fill::Mean) => mean(i),
                (true, Fill::Previous) => *dst,
            };
        }
    }

    /// `refuse`, `zero`, `mean` or `previous`.
    pub const fn name(self) -> &'static str {
        match self {
            Fill::Refuse => "refuse",
            Fill::Zero => "zero",
            Fill::Mean => "mean",
            Fill::Previous => "previous",
        }
    }
}

/// What version 4 adds after the body.
#[derive(Debug, Clone, Serialize)]
pub struct Extension<'a> {
    /// Feature names, UTF-8, back to back (empty: the features are unnamed).
    pub feature_names: &'a [u8],
    /// u32 LE end offset of each name in `feature_names`: one per feature, or none.
    pub feature_ends: &'a [u8],
    /// What a missing feature value becomes.
    pub fill: Fill,
}

/// What version 5 puts before a version-4 body and extension: the integer
/// numerics' row tables (docs/file-format.md, "Row tables"), each product's requantization
/// per output row, ready to use. Each section holds the rows of every int8
/// product back to back, in step order (each GRU layer's input then
/// recurrent matrix, the dense layers, the head). Derived from the
/// matrices' scales and the biases, which stay in the body.
#[derive(Debug, Clone, Serialize)]
pub struct RowTables<'a> {
    /// u32 LE per row: the multiplier (a product whose input scale the file
    /// fixes) or the scale's 24-bit significand (an input scale set per step).
    pub multipliers: &'a [u8],
    /// i8 per row: the multiplier's right shift (fixed input scale), or what
    /// the step's shift adds (input scale set per step).
    pub shifts: &'a [u8],
    /// i32 LE per row: the bias in Q.12, saturated to the layer's limit.
    pub biases: &'a [u8],
}

/// What version 6 puts where version 5 has its [`RowTables`]: the same
/// three sections, with zero padding before the multipliers (`lead`) and
/// before the biases (`gap`), 0 to 3 bytes each, chosen by the writer so
/// that both sections start at offsets from the file's start that are
/// multiples of 4: a core without unaligned loads (the Cortex-M0) then reads
/// an entry with one load when the file lies 4-aligned in memory.
#[derive(Debug, Clone, Serialize)]
pub struct AlignedRowTables<'a> {
    /// 0 to 3 zero bytes.
    pub lead: &'a [u8],
    /// As [`RowTables::multipliers`].
    pub multipliers: &'a [u8],
    /// As [`RowTables::shifts`].
    pub shifts: &'a [u8],
    /// 0 to 3 zero bytes.
    pub gap: &'a [u8],
    /// As [`RowTables::biases`].
    pub biases: &'a [u8],
}

impl<'a> AlignedRowTables<'a> {
    /// `tables` padded for a file whose encoding of this value starts `at`
    /// bytes from the file's start (the prefix's length, in version 6).
    pub fn new(tables: &RowTables<'a>, at: usize) -> Self {
        const ZEROS: [u8; 3] = [0; 3];
        // The padding that brings `offset` to a multiple of 4.
        let pad = |offset: usize| &ZEROS[..(4 - offset % 4) % 4];
        let (m, s, b) = (tables.multipliers, tables.shifts, tables.biases);
        // Each section is a varint length, then its bytes; a pad's length takes one byte.
        let lead = pad(at + 1 + varint_len(m.len()));
        let shifts_end = at + 1 + lead.len() + varint_len(m.len()) + m.len() + varint_len(s.len()) + s.len();
        let gap = pad(shifts_end + 1 + varint_len(b.len()));
        AlignedRowTables { lead, multipliers: m, shifts: s, gap, biases: b }
    }

    /// The tables without their padding.
    pub fn tables(&self) -> RowTables<'a> {
        RowTables { multipliers: self.multipliers, shifts: self.shifts, biases: self.biases }
    }
}

/// Bytes of `n` as a postcard varint.
pub(crate) const fn varint_len(n: usize) -> usize {
    let mut len = 1;
    let mut n = n >> 7;
    while n != 0 {
        len += 1;
        n >>= 7;
    }
    len
}

/// A decoded body of any version.
#[derive(Debug, Clone)]
// Only tools read a whole body this way (the device's loader decodes each
// version in its own function), so the size difference does not matter.
#[allow(clippy::large_enum_variant)]
pub enum AnyBody<'a> {
    /// A version-1 file.
    V1(v1::Body<'a>),
    /// A version-2 or version-3 file.
    V2(Body<'a>),
    /// A version-4 file: a body and its extension.
    V4(Body<'a>, Extension<'a>),
    /// A version-5 or 6 file: a body, its extension and the row tables
    /// (version 6 pads them; the padding is not kept).
    V5(Body<'a>, Extension<'a>, RowTables<'a>),
}

/// Checks the prefix and CRC; returns the version, the body bytes and the file's CRC.
pub fn open(bytes: &[u8]) -> Result<(u16, &[u8], u32)> {
    if bytes.len() < PREFIX_LEN {
        return Err(Error::TooShort { len: bytes.len(), needed: PREFIX_LEN });
    }
    let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
    if magic != MAGIC {
        return Err(Error::BadMagic { found: magic });
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if !(OLDEST_VERSION..=ALIGNED_TABLES_VERSION).contains(&version) {
        return Err(Error::UnsupportedVersion { found: version, supported: ALIGNED_TABLES_VERSION });
    }
    let stored = u32::from_le_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]);
    let computed = crc32(&bytes[PREFIX_LEN..]);
    if stored != computed {
        return Err(Error::ChecksumMismatch { stored, computed });
    }
    Ok((version, &bytes[PREFIX_LEN..], stored))
}

/// Decodes one value that must use every byte.
pub(crate) fn decode_all<'a, T: Decode<'a>>(body: &'a [u8]) -> Result<T> {
    let mut r = Reader::new(body);
    let value = T::decode(&mut r).map_err(|reason| Error::Decode { reason })?;
    match r.remaining() {
        0 => Ok(value),
        count => Err(Error::TrailingBytes { count }),
    }
}

/// A version-2 to 6 body read part by part, in file order, so that a loader
/// holds one layer's description at a time (loading is the deepest stack a
/// device sees).
pub(crate) struct Parts<'a>(Reader<'a>);

impl<'a> Parts<'a> {
    /// A reader at the start of the body.
    pub(crate) fn new(body: &'a [u8]) -> Self {
        Parts(Reader::new(body))
    }

    /// The next part.
    pub(crate) fn next<T: Decode<'a>>(&mut self) -> Result<T> {
        T::decode(&mut self.0).map_err(|reason| Error::Decode { reason })
    }

    /// The length of the list that comes next; more than `max` is a decode error.
    pub(crate) fn count(&mut self, max: usize) -> Result<usize> {
        self.0.list_len(max).map_err(|reason| Error::Decode { reason })
    }

    /// Checks that every byte was read.
    pub(crate) fn finish(self) -> Result<()> {
        match self.0.remaining() {
            0 => Ok(()),
            count => Err(Error::TrailingBytes { count }),
        }
    }
}

/// Everything after the prefix of a version-2 to 6 file.
#[derive(Debug, Clone)]
pub struct Network<'a> {
    /// Versions 5 and 6: the row tables.
    pub tables: Option<RowTables<'a>>,
    /// The network.
    pub body: Body<'a>,
    /// Versions 4 to 6: the extension.
    pub extension: Option<Extension<'a>>,
}

impl<'a> Network<'a> {
    /// Decodes the body of a version-2 to 6 file, which must use every byte.
    pub fn decode(body: &'a [u8], version: u16) -> Result<Self> {
        let mut r = Reader::new(body);
        let bad = |reason| Error::Decode { reason };
        let tables = match version {
            ALIGNED_TABLES_VERSION.. => Some(AlignedRowTables::decode(&mut r).map_err(bad)?.tables()),
            ROW_TABLES_VERSION => Some(RowTables::decode(&mut r).map_err(bad)?),
            _ => None,
        };
        let body = Body::decode(&mut r).map_err(bad)?;
        let extension = if version >= EXTENSION_VERSION { Some(Extension::decode(&mut r).map_err(bad)?) } else { None };
        match r.remaining() {
            0 => Ok(Network { tables, body, extension }),
            count => Err(Error::TrailingBytes { count }),
        }
    }
}

/// Checks the prefix and CRC, decodes the body of either version, and returns
/// it with the file's CRC.
///
/// This checks the container only; [`crate::Model::from_bytes`] validates the contents.
pub fn decode(bytes: &[u8]) -> Result<(AnyBody<'_>, u32)> {
    let (version, body, crc) = open(bytes)?;
    let body = match version {
        1 => AnyBody::V1(decode_all(body)?),
        _ => match Network::decode(body, version)? {
            Network { tables: Some(t), body: b, extension: Some(e) } => AnyBody::V5(b, e, t),
            Network { body: b, extension: Some(e), .. } => AnyBody::V4(b, e),
            Network { body: b, .. } => AnyBody::V2(b),
        },
    };
    Ok((body, crc))
}
