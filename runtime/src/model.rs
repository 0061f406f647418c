//! Loading a model: decode, then validate every size and index once, so that
//! the step loop can trust them.

use crate::error::{Error, Result, TensorName};
use crate::format::{self, Dims, Numerics, Provenance, TensorDesc};
use crate::kernels::Isa;
use crate::tensor::{Matrix, Vector};
use crate::tokenizer::Tokenizer;

/// Largest vocabulary a file may declare.
pub const MAX_VOCAB: u32 = 1 << 22;
/// Largest `emb`, `hidden` or `dense` a file may declare.
pub const MAX_WIDTH: u32 = 1 << 16;

/// Alignment of every buffer carved from a session arena.
pub(crate) const ARENA_ALIGN: usize = 32;

/// A model borrowed from `.egru` bytes (in RAM or flash). Nothing is copied.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    pub(crate) dims: Dims,
    pub(crate) numerics: Numerics,
    pub(crate) tokenizer: Tokenizer<'a>,
    pub(crate) provenance: Provenance<'a>,
    pub(crate) embedding: Matrix<'a>,
    pub(crate) gru_input: Matrix<'a>,
    pub(crate) gru_recurrent: Matrix<'a>,
    pub(crate) gru_input_bias: Vector<'a>,
    pub(crate) gru_recurrent_bias: Vector<'a>,
    pub(crate) dense: Matrix<'a>,
    pub(crate) dense_bias: Vector<'a>,
    pub(crate) output: Matrix<'a>,
    pub(crate) output_bias: Vector<'a>,
    pub(crate) checksum: u32,
    pub(crate) file_len: usize,
    pub(crate) isa: Isa,
}

fn check_dim(name: &'static str, value: u32, max: u32) -> Result<usize> {
    if value == 0 || value > max {
        return Err(Error::BadDimension { name, value, max });
    }
    Ok(value as usize)
}

/// Sizes (in elements) of the buffers a session carves from its arena.
/// Float and hybrid numerics use the f32 buffers; integer numerics replace
/// the f32 x, gx, gh and d by the integer ones.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ArenaLayout {
    pub hidden: usize,
    /// f32 embedding row (float paths).
    pub x: usize,
    /// f32 gate pre-activations, for `W x` and `U h` each (float paths).
    pub gates: usize,
    /// f32 dense outputs (float paths).
    pub dense: usize,
    /// Logits, probabilities and the sort order.
    pub vocab: usize,
    /// int32 accumulators: the most rows of any product.
    pub acc: usize,
    /// Quantized inputs: the most columns of any product, rounded up to 32.
    pub q: usize,
    /// int16 state (integer numerics).
    pub int_hidden: usize,
    /// int32 gate pre-activations of `W x` (integer numerics; `U h` uses `acc`).
    pub int_gates: usize,
    /// int32 dense outputs (integer numerics).
    pub int_dense: usize,
}

pub(crate) fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

impl ArenaLayout {
    pub(crate) fn of(d: &Dims, numerics: Numerics) -> Self {
        let (v, e, h, de) = (d.vocab as usize, d.emb as usize, d.hidden as usize, d.dense as usize);
        let integer = matches!(numerics, Numerics::Integer { .. });
        let (float, int) = if integer { (0, 1) } else { (1, 0) };
        ArenaLayout {
            hidden: h,
            x: e * float,
            gates: 3 * h * float,
            dense: de * float,
            vocab: v,
            acc: (3 * h).max(de).max(v),
            q: round_up(e.max(h).max(de), 32),
            int_hidden: h * int,
            int_gates: 3 * h * int,
            int_dense: de * int,
        }
    }

    /// Bytes of every buffer, each rounded up to `ARENA_ALIGN` (the session
    /// carves them in its own order, each on an `ARENA_ALIGN` boundary).
    pub(crate) fn bytes(&self) -> usize {
        let f32s = [self.hidden, self.x, self.gates, self.gates, self.dense, self.vocab, self.vocab];
        let others = [self.vocab * 4, self.acc * 4, self.q, self.int_hidden * 2, self.int_gates * 4, self.int_dense * 4];
        f32s.iter().map(|&n| n * 4).chain(others).map(|n| round_up(n, ARENA_ALIGN)).sum()
    }
}

impl<'a> Model<'a> {
    /// Loads a model from the bytes of an `.egru` file, checking the CRC and
    /// every size, index and table. Never panics; any defect is an [`Error`].
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self> {
        let (body, checksum) = format::decode(bytes)?;
        let dims = body.header.dims;
        let v = check_dim("vocab", dims.vocab, MAX_VOCAB)?;
        let e = check_dim("emb", dims.emb, MAX_WIDTH)?;
        let h = check_dim("hidden", dims.hidden, MAX_WIDTH)?;
        let d = check_dim("dense", dims.dense, MAX_WIDTH)?;
        let t = &body.tensors;
        if matches!(t.embedding, TensorDesc::Int8Block8x4 { .. }) {
            return Err(Error::UnsupportedTensorKind { tensor: TensorName::Embedding, kind: t.embedding.kind_name() });
        }
        let model = Model {
            dims,
            numerics: body.header.numerics,
            tokenizer: Tokenizer::from_desc(&body.header.tokenizer, dims.vocab)?,
            provenance: body.header.provenance,
            embedding: Matrix::from_desc(&t.embedding, TensorName::Embedding, v, e)?,
            gru_input: Matrix::from_desc(&t.gru_input, TensorName::GruInput, 3 * h, e)?,
            gru_recurrent: Matrix::from_desc(&t.gru_recurrent, TensorName::GruRecurrent, 3 * h, h)?,
            gru_input_bias: Vector::from_bytes(t.gru_input_bias, TensorName::GruInputBias, 3 * h)?,
            gru_recurrent_bias: Vector::from_bytes(t.gru_recurrent_bias, TensorName::GruRecurrentBias, 3 * h)?,
            dense: Matrix::from_desc(&t.dense, TensorName::Dense, d, h)?,
            dense_bias: Vector::from_bytes(t.dense_bias, TensorName::DenseBias, d)?,
            output: Matrix::from_desc(&t.output, TensorName::Output, v, d)?,
            output_bias: Vector::from_bytes(t.output_bias, TensorName::OutputBias, v)?,
            checksum,
            file_len: bytes.len(),
            isa: Isa::detect(),
        };
        let want_int8 = model.numerics.is_int8();
        for (tensor, m) in model.matrices().into_iter().skip(1) {
            if m.is_int8() != want_int8 {
                return Err(Error::NumericsMismatch { tensor, numerics: model.numerics.name() });
            }
        }
        // Integer numerics read the embedding's int8 rows directly.
        if matches!(model.numerics, Numerics::Integer { .. }) && model.embedding.int8_row(0).is_none() {
            return Err(Error::NumericsMismatch { tensor: TensorName::Embedding, numerics: model.numerics.name() });
        }
        Ok(model)
    }

    /// Bytes of arena a [`crate::Session`] over this model needs.
    pub fn arena_size(&self) -> usize {
        ArenaLayout::of(&self.dims, self.numerics).bytes() + ARENA_ALIGN - 1
    }

    /// Layer sizes.
    pub fn dims(&self) -> Dims {
        self.dims
    }

    /// How the products are computed.
    pub fn numerics(&self) -> Numerics {
        self.numerics
    }

    /// The tokenizer stored in the file.
    pub fn tokenizer(&self) -> &Tokenizer<'a> {
        &self.tokenizer
    }

    /// Where the model came from.
    pub fn provenance(&self) -> &Provenance<'a> {
        &self.provenance
    }

    /// CRC-32 of the file: identifies the model (saved states carry it).
    pub fn checksum(&self) -> u32 {
        self.checksum
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> usize {
        self.file_len
    }

    /// Kernel set used by sessions created from now on.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Chooses the kernel set (for comparisons); fails if this CPU lacks it.
    pub fn set_isa(&mut self, isa: Isa) -> Result<()> {
        if !isa.is_available() {
            return Err(Error::KernelUnavailable { isa: isa.name() });
        }
        self.isa = isa;
        Ok(())
    }

    /// The five weight matrices with their names, embedding first.
    pub fn matrices(&self) -> [(TensorName, Matrix<'a>); 5] {
        [
            (TensorName::Embedding, self.embedding),
            (TensorName::GruInput, self.gru_input),
            (TensorName::GruRecurrent, self.gru_recurrent),
            (TensorName::Dense, self.dense),
            (TensorName::Output, self.output),
        ]
    }

    /// Number of parameters (weights and biases) of the dense model.
    pub fn parameter_count(&self) -> usize {
        let m: usize = self.matrices().iter().map(|(_, m)| m.rows() * m.cols()).sum();
        let b = self.gru_input_bias.len() + self.gru_recurrent_bias.len() + self.dense_bias.len() + self.output_bias.len();
        m + b
    }
}
