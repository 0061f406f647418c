//! The one error type of the runtime.

use core::fmt;

/// Which tensor of a model an error is about. Layer numbers count from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TensorName {
    /// Token embedding table, `[vocab, emb]`.
    Embedding,
    /// Per-feature means of a feature input.
    FeatureMean,
    /// Per-feature scales of a feature input.
    FeatureScale,
    /// Input weights of GRU layer `n`, `[3*hidden, in]`, gates z, r, n.
    GruInput(u8),
    /// Recurrent weights of GRU layer `n`, `[3*hidden, hidden]`.
    GruRecurrent(u8),
    /// Input bias of GRU layer `n`, `[3*hidden]`.
    GruInputBias(u8),
    /// Recurrent bias of GRU layer `n`, `[3*hidden]`.
    GruRecurrentBias(u8),
    /// Weights of dense layer `n`, `[out, in]`.
    Dense(u8),
    /// Bias of dense layer `n`, `[out]`.
    DenseBias(u8),
    /// Output layer weights, `[outputs, in]`.
    Output,
    /// Output layer bias, `[outputs]`.
    OutputBias,
}

impl fmt::Display for TensorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TensorName::Embedding => f.write_str("embedding"),
            TensorName::FeatureMean => f.write_str("features.mean"),
            TensorName::FeatureScale => f.write_str("features.scale"),
            TensorName::GruInput(n) => write!(f, "gru{n}.input"),
            TensorName::GruRecurrent(n) => write!(f, "gru{n}.recurrent"),
            TensorName::GruInputBias(n) => write!(f, "gru{n}.input_bias"),
            TensorName::GruRecurrentBias(n) => write!(f, "gru{n}.recurrent_bias"),
            TensorName::Dense(n) => write!(f, "dense{n}"),
            TensorName::DenseBias(n) => write!(f, "dense{n}.bias"),
            TensorName::Output => f.write_str("output"),
            TensorName::OutputBias => f.write_str("output.bias"),
        }
    }
}

/// Everything that can go wrong in the runtime. Every variant carries the
/// numbers that explain it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The byte slice is shorter than the fixed file prefix.
    TooShort {
        /// Bytes found.
        len: usize,
        /// Bytes needed at least.
        needed: usize,
    },
    /// The file does not start with `EGRU`.
    BadMagic {
        /// The first four bytes found.
        found: [u8; 4],
    },
    /// The file's format version is not one this runtime reads.
    UnsupportedVersion {
        /// Version in the file.
        found: u16,
        /// The newest version this runtime reads (it reads every version from 1).
        supported: u16,
    },
    /// The file's format version is one this runtime was built without
    /// (version 1 needs the `format-v1` feature).
    VersionNotBuiltIn {
        /// Version in the file.
        found: u16,
    },
    /// The CRC-32 stored in the file does not match its contents.
    ChecksumMismatch {
        /// CRC stored in the file.
        stored: u32,
        /// CRC computed over the bytes.
        computed: u32,
    },
    /// The postcard body could not be decoded (truncated or malformed).
    Decode {
        /// What the decoder reported.
        reason: &'static str,
    },
    /// The body decoded but bytes were left over after it.
    TrailingBytes {
        /// Number of unused bytes.
        count: usize,
    },
    /// A model dimension is zero or above the supported limit.
    BadDimension {
        /// Which dimension (`vocab`, `emb`, `hidden`, `dense`).
        name: &'static str,
        /// Its value in the file.
        value: u32,
        /// The largest value accepted.
        max: u32,
    },
    /// A tensor's shape does not match the model dimensions.
    TensorShape {
        /// Which tensor.
        tensor: TensorName,
        /// Expected `(rows, cols)`.
        expected: (u32, u32),
        /// Found `(rows, cols)`.
        found: (u32, u32),
    },
    /// A tensor's byte section has the wrong length for its shape.
    TensorLength {
        /// Which tensor.
        tensor: TensorName,
        /// Which part of the tensor (`data`, `scales`, `row_blocks`, ...).
        part: &'static str,
        /// Expected byte length.
        expected: usize,
        /// Found byte length.
        found: usize,
    },
    /// A tensor's size does not fit in this machine's address space.
    SizeOverflow {
        /// Which tensor.
        tensor: TensorName,
    },
    /// A per-row quantization scale is negative, NaN or infinite.
    BadScale {
        /// Which tensor.
        tensor: TensorName,
        /// Row of the bad scale.
        row: usize,
    },
    /// An entry of a product's row table (format versions 5 and 6) is not the one
    /// its matrix's scale and bias give.
    RowTable {
        /// Which tensor.
        tensor: TensorName,
        /// Row of the entry.
        row: usize,
    },
    /// An int8 weight is -128; weights must lie in [-127, 127].
    Int8OutOfRange {
        /// Which tensor.
        tensor: TensorName,
        /// Byte index of the value in the tensor's data.
        index: usize,
    },
    /// A value of a tensor in the arm-dsp layout (version 3) is outside [-127, 127], or one
    /// of its padding values is not zero.
    ArmDspValue {
        /// Which tensor.
        tensor: TensorName,
        /// Index of the i16 value in the tensor's data (or blocks).
        index: usize,
    },
    /// The tensor's layout (the arm-dsp layout, or 8x4 blocks) is one this
    /// runtime was built without.
    LayoutNotBuiltIn {
        /// Which tensor.
        tensor: TensorName,
        /// Its kind.
        kind: &'static str,
        /// The feature that builds it in: `arm-dsp-layout` or `block-sparse`.
        feature: &'static str,
    },
    /// The file's numerics (float or hybrid-int8) are ones this runtime was
    /// built without (they need the `float-numerics` feature).
    NumericsNotBuiltIn {
        /// The numerics the file asks for.
        numerics: &'static str,
    },
    /// A bias value is NaN or infinite.
    NonFinite {
        /// Which tensor.
        tensor: TensorName,
        /// Index of the bad value.
        index: usize,
    },
    /// A block-sparse tensor has a bad row-block table or column index.
    SparseIndex {
        /// Which tensor.
        tensor: TensorName,
        /// Row block (8 rows) where the problem is.
        row_block: usize,
        /// The offending value.
        value: u32,
        /// The bound it had to respect.
        limit: u32,
    },
    /// This tensor kind is not allowed in this place.
    UnsupportedTensorKind {
        /// Which tensor.
        tensor: TensorName,
        /// The kind found.
        kind: &'static str,
    },
    /// A file holds too few or too many layers of a kind.
    LayerCount {
        /// `GRU` or `dense`.
        kind: &'static str,
        /// Layers in the file.
        count: usize,
        /// Fewest allowed.
        min: usize,
        /// Most allowed.
        max: usize,
    },
    /// The head does not fit the input: a next-token head needs token input
    /// and one output per token.
    HeadMismatch {
        /// What is wrong.
        reason: &'static str,
    },
    /// The class or output names table is inconsistent.
    Names {
        /// What is wrong.
        reason: &'static str,
        /// Name index where it was found.
        index: usize,
    },
    /// The numerics declared in the header do not match the tensor kinds.
    NumericsMismatch {
        /// Which tensor disagrees.
        tensor: TensorName,
        /// The numerics in the header.
        numerics: &'static str,
    },
    /// The tokenizer tables in the file are inconsistent.
    Tokenizer {
        /// What is wrong.
        reason: &'static str,
        /// Token id or table index where it was found.
        index: usize,
    },
    /// The arena handed to a session is too small.
    ArenaTooSmall {
        /// Bytes needed (`Model::arena_size`).
        needed: usize,
        /// Bytes given.
        available: usize,
    },
    /// An output buffer is too small.
    BufferTooSmall {
        /// Bytes or elements needed.
        needed: usize,
        /// Bytes or elements given.
        available: usize,
    },
    /// A token id is not below the vocabulary size.
    TokenOutOfRange {
        /// The id given.
        token: u32,
        /// The vocabulary size.
        vocab: u32,
    },
    /// Text holds a token that the vocabulary lacks, and the model has no OOV token.
    UnknownToken {
        /// Byte offset of the token in the text.
        offset: usize,
        /// Its first character (after lower-casing, if the tokenizer lower-cases).
        character: char,
    },
    /// A saved state belongs to another model.
    StateMismatch {
        /// Model checksum the state was saved from.
        found: u32,
        /// Checksum of this model.
        expected: u32,
    },
    /// A saved state is damaged: wrong length, magic or integrity check, or
    /// values this model cannot hold.
    StateDamaged {
        /// What is wrong.
        reason: &'static str,
    },
    /// The model reads another kind of input (a token model was given
    /// features, or a feature model a token or text).
    WrongInput {
        /// What this model reads: `tokens` or `features`.
        expected: &'static str,
    },
    /// Text operations (feeding text, sampling, generation, suggestions) need
    /// a language model: token input and a next-token head.
    NotALanguageModel,
    /// A feature vector has the wrong number of values.
    FeatureCount {
        /// Features the model reads per step.
        expected: usize,
        /// Values given.
        found: usize,
    },
    /// An input value is NaN or infinite.
    NonFiniteInput {
        /// Index of the value.
        index: usize,
    },
    /// A sampling or generation parameter is out of range.
    InvalidParameter {
        /// Which parameter, and the range it must be in.
        what: &'static str,
    },
    /// Generation needs a prompt (or an earlier step) to start from.
    EmptyPrompt,
    /// The requested kernel set is not supported by this CPU or build.
    KernelUnavailable {
        /// The kernel set asked for.
        isa: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::TooShort { len, needed } => write!(f, "file is {len} bytes, shorter than the {needed}-byte prefix"),
            Error::BadMagic { found } => write!(f, "not an .egru file: magic is {found:02x?}, expected \"EGRU\""),
            Error::UnsupportedVersion { found, supported } => {
                write!(f, "format version {found} is not supported (this runtime reads versions 1 to {supported})")
            }
            Error::VersionNotBuiltIn { found } => write!(
                f,
                "format version {found} needs a runtime built with the `format-v1` feature; `edgegru export --model OLD --out NEW` rewrites the file as version 2"
            ),
            Error::ChecksumMismatch { stored, computed } => {
                write!(f, "checksum mismatch: file says {stored:#010x}, contents give {computed:#010x} (corrupted or truncated file)")
            }
            Error::Decode { reason } => write!(f, "malformed model body: {reason}"),
            Error::TrailingBytes { count } => write!(f, "{count} unexpected bytes after the model body"),
            Error::BadDimension { name, value, max } => write!(f, "dimension {name} = {value} is out of range (1..={max})"),
            Error::TensorShape { tensor, expected, found } => {
                write!(f, "tensor {tensor} has shape {}x{}, expected {}x{}", found.0, found.1, expected.0, expected.1)
            }
            Error::TensorLength { tensor, part, expected, found } => {
                write!(f, "tensor {tensor}: {part} is {found} bytes, expected {expected}")
            }
            Error::SizeOverflow { tensor } => write!(f, "tensor {tensor}: size overflows this machine's address space"),
            Error::BadScale { tensor, row } => write!(f, "tensor {tensor}: scale of row {row} is negative or not finite"),
            Error::RowTable { tensor, row } => {
                write!(f, "tensor {tensor}: row {row} of the row table is not what the row's scale and bias give")
            }
            Error::Int8OutOfRange { tensor, index } => {
                write!(f, "tensor {tensor}: int8 value {index} is -128, outside the symmetric range [-127, 127]")
            }
            Error::ArmDspValue { tensor, index } => {
                write!(f, "tensor {tensor}: arm-dsp layout value {index} is outside [-127, 127] or is padding that is not zero")
            }
            Error::LayoutNotBuiltIn { tensor, kind, feature } => {
                write!(f, "tensor {tensor}: kind {kind} needs a runtime built with the `{feature}` feature")
            }
            Error::NumericsNotBuiltIn { numerics } => write!(
                f,
                "{numerics} numerics need a runtime built with the `float-numerics` feature (this build runs integer-only models)"
            ),
            Error::NonFinite { tensor, index } => write!(f, "tensor {tensor}: value {index} is NaN or infinite"),
            Error::SparseIndex { tensor, row_block, value, limit } => {
                write!(f, "tensor {tensor}: row block {row_block} has index {value}, which breaks the bound {limit}")
            }
            Error::UnsupportedTensorKind { tensor, kind } => write!(f, "tensor {tensor}: kind {kind} is not allowed here"),
            Error::LayerCount { kind, count, min, max } => {
                write!(f, "the file holds {count} {kind} layers; {min} to {max} are allowed")
            }
            Error::HeadMismatch { reason } => write!(f, "head does not fit the network: {reason}"),
            Error::Names { reason, index } => write!(f, "output names table: {reason} (at index {index})"),
            Error::NumericsMismatch { tensor, numerics } => write!(f, "tensor {tensor} does not match the header's numerics {numerics}"),
            Error::Tokenizer { reason, index } => write!(f, "tokenizer table: {reason} (at index {index})"),
            Error::ArenaTooSmall { needed, available } => write!(f, "arena is {available} bytes, the model needs {needed}"),
            Error::BufferTooSmall { needed, available } => write!(f, "buffer holds {available}, {needed} needed"),
            Error::TokenOutOfRange { token, vocab } => write!(f, "token id {token} is out of range (vocabulary has {vocab} tokens)"),
            Error::UnknownToken { offset, character } => write!(
                f,
                "{character:?} (U+{:04X}) at byte {offset} is not in the vocabulary and the model has no OOV token",
                character as u32
            ),
            Error::StateMismatch { found, expected } => {
                write!(f, "saved state belongs to model {found:#010x}, not this model {expected:#010x}")
            }
            Error::StateDamaged { reason } => write!(f, "saved state is damaged: {reason}"),
            Error::WrongInput { expected } => write!(f, "this model reads {expected}"),
            Error::NotALanguageModel => {
                f.write_str("this model is not a language model (text, sampling and generation need token input and a next-token head)")
            }
            Error::FeatureCount { expected, found } => write!(f, "the model reads {expected} features per step, {found} were given"),
            Error::NonFiniteInput { index } => write!(f, "input value {index} is NaN or infinite"),
            Error::InvalidParameter { what } => write!(f, "invalid parameter: {what}"),
            Error::EmptyPrompt => f.write_str("generation needs a non-empty prompt or an earlier step"),
            Error::KernelUnavailable { isa } => write!(f, "kernel set {isa} is not available on this CPU or build"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// Shorthand for results of this crate.
pub type Result<T> = core::result::Result<T, Error>;
