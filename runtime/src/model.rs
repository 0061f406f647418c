//! Loading a model: decode, then validate every size and index once, so that
//! the step loop can trust them.
//!
//! A model is a network: an input (a token embedding, or a feature vector
//! with its normalization), 1 to 4 stacked GRU layers, 0 to 3 dense layers
//! and a head (next-token logits, class probabilities, or linear outputs).
//! Version-1 files, which hold one fixed network, load into the same shape.

use crate::error::{Error, Result, TensorName};
use crate::fixed::{self, Mul};
#[cfg(feature = "format-v1")]
use crate::format::v1;
use crate::format::{
    self, Activation, DenseDesc, Extension, Fill, GruDesc, HeadDesc, HeadKindDesc, InputDesc, Numerics, Provenance, RowTables, TensorDesc,
    MAX_DENSE_LAYERS, MAX_GRU_LAYERS, MAX_PRODUCTS,
};
use crate::kernels::Isa;
use crate::le::u32_at;
use crate::tensor::{Matrix, RowInput, RowTable, Vector};
use crate::tokenizer::Tokenizer;

/// Largest vocabulary (and number of outputs) a file may declare.
pub const MAX_VOCAB: u32 = 1 << 22;
/// Largest width (embedding, features, hidden, dense) a file may declare.
pub const MAX_WIDTH: u32 = 1 << 16;

/// Alignment of every buffer carved from a session arena.
pub(crate) const ARENA_ALIGN: usize = 32;

/// What one step of a model reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Input<'a> {
    /// A token id: a row of the embedding table.
    Tokens {
        /// The tokenizer stored with the model.
        tokenizer: Tokenizer<'a>,
        /// `[vocab, emb]`.
        embedding: Matrix<'a>,
    },
    /// A feature vector, normalized as `(x - mean) * scale`.
    Features {
        /// Per-feature means.
        mean: Vector<'a>,
        /// Per-feature scales.
        scale: Vector<'a>,
        /// Integer numerics: the int8 scale of the normalized features (as
        /// the file holds it, for the writer).
        #[cfg_attr(not(feature = "writer"), allow(dead_code))]
        quant_scale: f32,
        /// `1 / quant_scale` and `quant_scale` as a multiplier, derived once
        /// at load (a core without an FPU would divide in software every step).
        quant: (f32, Mul),
        /// The features' names (none before version 4).
        names: Names<'a>,
        /// What a missing value becomes (refused before version 4).
        fill: Fill,
    },
}

/// One GRU layer's weights.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gru<'a> {
    pub input: Matrix<'a>,
    pub recurrent: Matrix<'a>,
    pub input_bias: Vector<'a>,
    pub recurrent_bias: Vector<'a>,
}

impl Gru<'_> {
    /// Width of the layer's state.
    pub fn hidden(&self) -> usize {
        self.recurrent.cols()
    }
}

/// One dense layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dense<'a> {
    pub weight: Matrix<'a>,
    pub bias: Vector<'a>,
    pub activation: Activation,
}

/// A table of names stored in the file (class or output names).
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    text: &'a str,
    ends: &'a [u8],
}

impl<'a> Names<'a> {
    /// Checks `count` names (or none, when `optional` and the table is empty).
    fn from_bytes(text: &'a [u8], ends: &'a [u8], count: usize, optional: bool) -> Result<Self> {
        let bad = |reason, index| Error::Names { reason, index };
        let text = core::str::from_utf8(text).map_err(|e| bad("name text is not UTF-8", e.valid_up_to()))?;
        let names = Names { text, ends };
        if optional && ends.is_empty() && text.is_empty() {
            return Ok(names);
        }
        if ends.len() != count.checked_mul(4).ok_or(bad("too many names", count))? {
            return Err(bad("`ends` must hold one u32 per name", ends.len() / 4));
        }
        let mut start = 0usize;
        for i in 0..count {
            let end = u32_at(ends, i) as usize;
            if end < start || end > text.len() || !text.is_char_boundary(end) {
                return Err(bad("name end offset is decreasing, past the text, or inside a character", i));
            }
            start = end;
        }
        if start != text.len() {
            return Err(bad("name text has bytes after the last name", count));
        }
        Ok(names)
    }

    /// No names.
    pub(crate) const EMPTY: Names<'static> = Names { text: "", ends: &[] };

    /// Number of names (0 when unnamed).
    pub fn len(&self) -> usize {
        self.ends.len() / 4
    }

    /// Whether there are no names.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Name `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        if i >= self.len() {
            return None;
        }
        let start = if i == 0 { 0 } else { u32_at(self.ends, i - 1) as usize };
        self.text.get(start..u32_at(self.ends, i) as usize)
    }
}

/// What a model's outputs are.
#[derive(Debug, Clone, Copy)]
pub enum Head<'a> {
    /// Next-token logits (a language model).
    NextToken,
    /// Class probabilities (a session returns the softmax of the logits), with the class names.
    Classes(Names<'a>),
    /// Linear outputs (regression), with their names if the file has them.
    Regression(Names<'a>),
}

impl<'a> Head<'a> {
    /// What the outputs are, without their names.
    pub fn kind(&self) -> HeadKind {
        match self {
            Head::NextToken => HeadKind::NextToken,
            Head::Classes(_) => HeadKind::Classes,
            Head::Regression(_) => HeadKind::Regression,
        }
    }

    /// `next-token`, `classes` or `regression`.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The class or output names stored in the file (none for a next-token head).
    pub fn names(&self) -> Option<Names<'a>> {
        match self {
            Head::NextToken => None,
            Head::Classes(n) | Head::Regression(n) => Some(*n),
        }
    }
}

/// What a network's outputs are: the one description of a head everywhere
/// (files, ONNX metadata, training runs, imports, the C API), without the
/// output names (which travel beside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HeadKind {
    /// Next-token logits (a language model; token input).
    NextToken,
    /// Class probabilities: a session returns the softmax of the output layer.
    Classes,
    /// Linear outputs (regression): a session returns the output layer as it is.
    Regression,
}

impl HeadKind {
    /// Every kind of head.
    pub const ALL: [HeadKind; 3] = [HeadKind::NextToken, HeadKind::Classes, HeadKind::Regression];

    /// The kind named `name` (`next-token`, `classes`, `regression`).
    pub fn from_name(name: &str) -> Option<HeadKind> {
        HeadKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// `next-token`, `classes` or `regression`.
    pub const fn name(self) -> &'static str {
        match self {
            HeadKind::NextToken => "next-token",
            HeadKind::Classes => "classes",
            HeadKind::Regression => "regression",
        }
    }
}

/// What a model reads per step: the one description of a network's input
/// everywhere (files, ONNX metadata, training runs, the C API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum InputKind {
    /// Token ids of a vocabulary, each looked up in an embedding of `emb` values.
    Tokens {
        /// Vocabulary size.
        vocab: usize,
        /// Embedding width.
        emb: usize,
    },
    /// `count` float features.
    Features {
        /// Features per step.
        count: usize,
    },
}

/// One layer of a model, for reports and the C API's model info.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// A GRU layer with a state of `hidden` values.
    Gru {
        /// State width.
        hidden: usize,
    },
    /// A dense layer of `width` outputs.
    Dense {
        /// Outputs.
        width: usize,
        /// Its activation.
        activation: Activation,
    },
}

/// A model borrowed from `.egru` bytes (in RAM or flash). Nothing is copied.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    pub(crate) numerics: Numerics,
    pub(crate) provenance: Provenance<'a>,
    pub(crate) input: Input<'a>,
    pub(crate) grus: heapless::Vec<Gru<'a>, MAX_GRU_LAYERS>,
    pub(crate) dense: heapless::Vec<Dense<'a>, MAX_DENSE_LAYERS>,
    pub(crate) head: Head<'a>,
    pub(crate) output: Matrix<'a>,
    pub(crate) output_bias: Vector<'a>,
    /// Integer numerics, versions 5 and 6: the row tables of every product,
    /// in step order (see [`Model::products`]); `None` before version 5.
    pub(crate) rows: Option<RowTable<'a>>,
    /// Bit `i`: product `i`'s input scale is set per step ([`RowInput::PerStep`]).
    pub(crate) per_step_inputs: u16,
    pub(crate) version: u16,
    pub(crate) checksum: u32,
    pub(crate) file_len: usize,
    pub(crate) isa: Isa,
}

const _: () = assert!(MAX_PRODUCTS <= u16::BITS as usize, "a bit of `per_step_inputs` per product");

fn check_dim(name: &'static str, value: u32, max: u32) -> Result<usize> {
    if value == 0 || value > max {
        return Err(Error::BadDimension { name, value, max });
    }
    Ok(value as usize)
}

/// The rows of a tensor, checked against `max` before anything is sized by it.
fn rows_of(desc: &TensorDesc<'_>, name: &'static str, max: u32) -> Result<usize> {
    check_dim(name, desc.shape().0, max)
}

/// The buffers a session carves from its arena, in carving order: the one
/// list both the arena's size and the session's carving come from. Float and
/// hybrid numerics use the f32 buffers; integer numerics replace the f32
/// input, gate and dense buffers by the integer ones (the others are empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Buffer {
    /// f32: the state of every GRU layer, concatenated.
    Hidden,
    /// f32: the input vector, an embedding row or normalized features (float paths).
    Input,
    /// f32: gate pre-activations of `W x`, the widest layer's (float paths).
    GatesInput,
    /// f32: gate pre-activations of `U h` (float paths).
    GatesState,
    /// f32: dense outputs, the widest layer's (float paths).
    Dense0,
    /// f32: a second dense buffer when dense layers follow each other (float paths).
    Dense1,
    /// f32: the head's outputs.
    Outputs,
    /// i32: accumulators, the most rows of any product.
    Acc,
    /// i8: quantized inputs, the most columns of any product, rounded up to 32.
    Quantized,
    /// i16: the states (integer numerics).
    IntHidden,
    /// i32: gate pre-activations of `W x` (integer numerics; `U h` uses `Acc`).
    IntGates,
    /// i32: dense outputs (integer numerics).
    IntDense0,
    /// i32: a second dense buffer (integer numerics).
    IntDense1,
    /// f32: probabilities for sampling (language models only).
    Probs,
    /// u32: the sort order for sampling (language models only).
    Order,
    /// f32: the features as the step reads them, missing values filled (a
    /// fill policy only; `previous` keeps the last values seen in it).
    Filled,
}

impl Buffer {
    /// Every buffer, in carving order.
    pub(crate) const ALL: [Buffer; 16] = [
        Buffer::Hidden,
        Buffer::Input,
        Buffer::GatesInput,
        Buffer::GatesState,
        Buffer::Dense0,
        Buffer::Dense1,
        Buffer::Outputs,
        Buffer::Acc,
        Buffer::Quantized,
        Buffer::IntHidden,
        Buffer::IntGates,
        Buffer::IntDense0,
        Buffer::IntDense1,
        Buffer::Probs,
        Buffer::Order,
        Buffer::Filled,
    ];

    /// Bytes of one element.
    pub(crate) const fn element_bytes(self) -> usize {
        match self {
            Buffer::Quantized => 1,
            Buffer::IntHidden => 2,
            _ => 4,
        }
    }
}

/// Elements of each [`Buffer`] of a model's sessions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ArenaLayout {
    len: [usize; Buffer::ALL.len()],
}

pub(crate) fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

impl ArenaLayout {
    pub(crate) fn of(m: &Model<'_>) -> Self {
        let hidden: usize = m.grus.iter().map(Gru::hidden).sum();
        let max_h = m.grus.iter().map(Gru::hidden).max().unwrap_or(0);
        let max_d = m.dense.iter().map(|d| d.weight.rows()).max().unwrap_or(0);
        let second_dense = if m.dense.len() > 1 { max_d } else { 0 };
        let width = m.input_width();
        let outputs = m.output.rows();
        let integer = matches!(m.numerics, Numerics::Integer { .. });
        let (float, int) = if integer { (0, 1) } else { (1, 0) };
        let sampling = if matches!(m.head, Head::NextToken) { outputs } else { 0 };
        let len = Buffer::ALL.map(|b| match b {
            Buffer::Hidden => hidden,
            Buffer::Input => width * float,
            Buffer::GatesInput | Buffer::GatesState => 3 * max_h * float,
            Buffer::Dense0 => max_d * float,
            Buffer::Dense1 => second_dense * float,
            Buffer::Outputs => outputs,
            Buffer::Acc => (3 * max_h).max(max_d).max(outputs),
            Buffer::Quantized => round_up(width.max(max_h).max(max_d), 32),
            Buffer::IntHidden => hidden * int,
            Buffer::IntGates => 3 * max_h * int,
            Buffer::IntDense0 => max_d * int,
            Buffer::IntDense1 => second_dense * int,
            Buffer::Probs | Buffer::Order => sampling,
            Buffer::Filled => match m.input {
                Input::Features { fill: Fill::Zero | Fill::Mean | Fill::Previous, .. } => width,
                _ => 0,
            },
        });
        ArenaLayout { len }
    }

    /// Bytes of buffer `b`.
    pub(crate) fn bytes_of(&self, b: Buffer) -> usize {
        self.len[b as usize] * b.element_bytes()
    }

    /// Bytes of every buffer, each rounded up to `ARENA_ALIGN` (each is
    /// carved on an `ARENA_ALIGN` boundary).
    pub(crate) fn bytes(&self) -> usize {
        Buffer::ALL.iter().map(|&b| round_up(self.bytes_of(b), ARENA_ALIGN)).sum()
    }
}

/// One int8 product of the integer numerics and what its requantization
/// needs: the one list of a step's products, in step order, that row tables
/// follow (each GRU layer's input then recurrent matrix, the dense layers,
/// the head).
#[derive(Clone, Copy)]
pub(crate) struct Product<'m, 'a> {
    /// Which matrix.
    pub tensor: TensorName,
    /// The matrix.
    pub matrix: &'m Matrix<'a>,
    /// Its bias.
    pub bias: &'m Vector<'a>,
    /// Its outputs' saturation limit.
    pub limit: i32,
    /// Where the scale of its input comes from.
    pub input: RowInput,
}

impl<'a> Model<'a> {
    /// The int8 products of a step with integer numerics, in step order
    /// (none for other numerics).
    pub(crate) fn products(&self) -> impl Iterator<Item = Product<'_, 'a>> + Clone {
        (0..).map_while(|i| self.product(i))
    }

    /// Product `i` of [`Model::products`].
    pub(crate) fn product(&self, i: usize) -> Option<Product<'_, 'a>> {
        if !matches!(self.numerics, Numerics::Integer { .. }) {
            return None;
        }
        let state = RowInput::Fixed(fixed::to_act(fixed::STATE_INPUT_MUL));
        let (gates, logits) = (fixed::PRE_ACT_LIMIT, fixed::LOGIT_LIMIT);
        let grus = 2 * self.grus.len();
        if let Some(g) = self.grus.get(i / 2).filter(|_| i < grus) {
            let k = (i / 2) as u8;
            return Some(if i % 2 == 1 {
                Product { tensor: TensorName::GruRecurrent(k), matrix: &g.recurrent, bias: &g.recurrent_bias, limit: gates, input: state }
            } else {
                let input = match self.input {
                    _ if k > 0 => state,
                    Input::Tokens { .. } => RowInput::PerStep,
                    Input::Features { quant: (_, x_mul), .. } => RowInput::Fixed(fixed::to_act(x_mul)),
                };
                Product { tensor: TensorName::GruInput(k), matrix: &g.input, bias: &g.input_bias, limit: gates, input }
            });
        }
        // The first consumer of the last state reads it with the state's
        // fixed scale; the layers after a dense layer, with a scale set per step.
        let n = i - grus;
        let input = if n == 0 { state } else { RowInput::PerStep };
        match self.dense.get(n) {
            Some(d) => Some(Product { tensor: TensorName::Dense(n as u8), matrix: &d.weight, bias: &d.bias, limit: logits, input }),
            None if n == self.dense.len() => {
                Some(Product { tensor: TensorName::Output, matrix: &self.output, bias: &self.output_bias, limit: logits, input })
            }
            None => None,
        }
    }
}

/// Builds a model layer by layer, checking each one against the one before.
struct Builder {
    numerics: Numerics,
    /// The file's version allows tensors in the arm-dsp layout (version 3).
    arm_dsp: bool,
    /// Width of the vector the next layer reads.
    width: usize,
}

impl Builder {
    fn gru<'a>(&mut self, n: u8, g: &GruDesc<'a>) -> Result<Gru<'a>> {
        let h = check_dim("hidden", g.recurrent.shape().1, MAX_WIDTH)?;
        let gru = Gru {
            input: Matrix::from_desc(&g.input, TensorName::GruInput(n), 3 * h, self.width)?,
            recurrent: Matrix::from_desc(&g.recurrent, TensorName::GruRecurrent(n), 3 * h, h)?,
            input_bias: Vector::from_bytes(g.input_bias, TensorName::GruInputBias(n), 3 * h)?,
            recurrent_bias: Vector::from_bytes(g.recurrent_bias, TensorName::GruRecurrentBias(n), 3 * h)?,
        };
        self.check_numerics(TensorName::GruInput(n), &gru.input)?;
        self.check_numerics(TensorName::GruRecurrent(n), &gru.recurrent)?;
        self.width = h;
        Ok(gru)
    }

    fn dense<'a>(&mut self, n: u8, d: &DenseDesc<'a>) -> Result<Dense<'a>> {
        let out = rows_of(&d.weight, "dense", MAX_WIDTH)?;
        let layer = Dense {
            weight: Matrix::from_desc(&d.weight, TensorName::Dense(n), out, self.width)?,
            bias: Vector::from_bytes(d.bias, TensorName::DenseBias(n), out)?,
            activation: d.activation,
        };
        self.check_numerics(TensorName::Dense(n), &layer.weight)?;
        self.width = out;
        Ok(layer)
    }

    fn output<'a>(&self, weight: &TensorDesc<'a>, bias: &'a [u8]) -> Result<(Matrix<'a>, Vector<'a>)> {
        let out = rows_of(weight, "outputs", MAX_VOCAB)?;
        let m = Matrix::from_desc(weight, TensorName::Output, out, self.width)?;
        self.check_numerics(TensorName::Output, &m)?;
        Ok((m, Vector::from_bytes(bias, TensorName::OutputBias, out)?))
    }

    fn check_numerics(&self, tensor: TensorName, m: &Matrix<'_>) -> Result<()> {
        if m.is_arm_dsp() && !self.arm_dsp {
            return Err(Error::UnsupportedTensorKind { tensor, kind: m.kind_name() });
        }
        if m.is_int8() != self.numerics.is_int8() {
            return Err(Error::NumericsMismatch { tensor, numerics: self.numerics.name() });
        }
        Ok(())
    }
}

fn embedding<'a>(desc: &TensorDesc<'a>, numerics: Numerics, vocab: usize, emb: usize) -> Result<Matrix<'a>> {
    if matches!(desc, TensorDesc::Int8Block8x4 { .. }) || desc.is_arm_dsp() {
        return Err(Error::UnsupportedTensorKind { tensor: TensorName::Embedding, kind: desc.kind_name() });
    }
    let m = Matrix::from_desc(desc, TensorName::Embedding, vocab, emb)?;
    // Integer numerics read the embedding's int8 rows directly.
    if matches!(numerics, Numerics::Integer { .. }) && m.int8_row(0).is_none() {
        return Err(Error::NumericsMismatch { tensor: TensorName::Embedding, numerics: numerics.name() });
    }
    Ok(m)
}

/// `numerics`, if this build runs them (float and hybrid-int8 numerics need
/// the `float-numerics` feature).
fn built_in(numerics: Numerics) -> Result<Numerics> {
    match numerics {
        Numerics::Float | Numerics::HybridInt8 { .. } if !cfg!(feature = "float-numerics") => {
            Err(Error::NumericsNotBuiltIn { numerics: numerics.name() })
        }
        _ => Ok(numerics),
    }
}

impl<'a> Model<'a> {
    /// Loads a model from the bytes of an `.egru` file (version 1 to 6),
    /// checking the CRC and every size, index and table. Never panics; any
    /// defect is an [`Error`].
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self> {
        let (version, body, checksum) = format::open(bytes)?;
        // One function per version, not inlined, each building the model in
        // its return value: a version-1 file's load does not pay for the
        // larger version-2 description, and no extra copy of the model is
        // made here (loading is the deepest stack a device sees).
        match version {
            #[cfg(feature = "format-v1")]
            1 => Model::load_v1(body, checksum, bytes.len()),
            #[cfg(not(feature = "format-v1"))]
            1 => Err(Error::VersionNotBuiltIn { found: 1 }),
            _ => Model::load_network(body, version, checksum, bytes.len()),
        }
    }

    /// A version-2 to 6 file: (versions 5 and 6) the row tables, the
    /// network's body, (versions 4 to 6) its extension; read part by part and each
    /// layer checked as it is read, so that one layer's description is held
    /// at a time.
    #[inline(never)]
    fn load_network(body: &'a [u8], version: u16, checksum: u32, file_len: usize) -> Result<Self> {
        let mut p = format::Parts::new(body);
        let tables = match version {
            format::ALIGNED_TABLES_VERSION.. => Some(p.next::<format::AlignedRowTables<'a>>()?.tables()),
            format::ROW_TABLES_VERSION => Some(p.next::<RowTables<'a>>()?),
            _ => None,
        };
        let header = p.next::<format::Header<'a>>()?;
        let numerics = built_in(header.numerics)?;
        let (input, width) = Model::input_of(&p.next::<InputDesc<'a>>()?, numerics)?;
        let mut model = Model::empty(numerics, header.provenance, input, version, checksum, file_len);
        let mut builder = Builder { numerics, arm_dsp: version >= format::ARM_DSP_VERSION, width };
        let grus = p.count(MAX_GRU_LAYERS)?;
        if grus == 0 {
            return Err(Error::LayerCount { kind: "GRU", count: 0, min: 1, max: MAX_GRU_LAYERS });
        }
        for n in 0..grus {
            // Capacity is that of the wire list: the pushes cannot fail.
            let _ = model.grus.push(builder.gru(n as u8, &p.next::<GruDesc<'a>>()?)?);
        }
        for n in 0..p.count(MAX_DENSE_LAYERS)? {
            let _ = model.dense.push(builder.dense(n as u8, &p.next::<DenseDesc<'a>>()?)?);
        }
        model.set_head(&p.next::<HeadDesc<'a>>()?, &builder)?;
        if version >= format::EXTENSION_VERSION {
            model.apply_extension(&p.next::<Extension<'a>>()?)?;
        }
        p.finish()?;
        if let Some(t) = tables {
            model.attach_rows(&t)?;
        }
        Ok(model)
    }

    /// What version 4 adds: the features' names and what a missing value becomes.
    fn apply_extension(&mut self, ext: &Extension<'a>) -> Result<()> {
        match &mut self.input {
            Input::Features { mean, names, fill, .. } => {
                *names = Names::from_bytes(ext.feature_names, ext.feature_ends, mean.len(), true)?;
                *fill = ext.fill;
            }
            Input::Tokens { .. } if ext.fill != Fill::Refuse || !ext.feature_ends.is_empty() => {
                return Err(Error::Names { reason: "feature names or a fill policy in a token model", index: 0 });
            }
            Input::Tokens { .. } => {}
        }
        Ok(())
    }

    /// Checks the row tables against the int8 products of the integer
    /// numerics (the tables must be empty for other numerics) and keeps them
    /// for the step.
    #[inline(never)]
    fn attach_rows(&mut self, tables: &RowTables<'a>) -> Result<()> {
        let table = RowTable::check(tables, self)?;
        let mut per_step_inputs = 0u16;
        for (i, p) in self.products().enumerate() {
            per_step_inputs |= ((p.input == RowInput::PerStep) as u16) << i;
        }
        if self.product(0).is_some() {
            (self.rows, self.per_step_inputs) = (Some(table), per_step_inputs);
        }
        Ok(())
    }

    #[inline(never)]
    #[cfg(feature = "format-v1")]
    fn load_v1(body: &'a [u8], checksum: u32, file_len: usize) -> Result<Self> {
        Model::from_v1(&format::decode_all::<v1::Body<'a>>(body)?, checksum, file_len)
    }

    fn empty(numerics: Numerics, provenance: Provenance<'a>, input: Input<'a>, version: u16, checksum: u32, file_len: usize) -> Self {
        Model {
            numerics,
            provenance,
            input,
            grus: heapless::Vec::new(),
            dense: heapless::Vec::new(),
            head: Head::NextToken,
            output: Matrix::EMPTY,
            output_bias: Vector::EMPTY,
            rows: None,
            per_step_inputs: 0,
            version,
            checksum,
            file_len,
            isa: Isa::detect(),
        }
    }

    #[cfg(feature = "format-v1")]
    fn from_v1(b: &v1::Body<'a>, checksum: u32, file_len: usize) -> Result<Self> {
        built_in(b.header.numerics)?;
        let (d, t) = (b.header.dims, &b.tensors);
        let v = check_dim("vocab", d.vocab, MAX_VOCAB)?;
        let e = check_dim("emb", d.emb, MAX_WIDTH)?;
        let h = check_dim("hidden", d.hidden, MAX_WIDTH)?;
        let dn = check_dim("dense", d.dense, MAX_WIDTH)?;
        let numerics = b.header.numerics;
        let input = Input::Tokens {
            tokenizer: Tokenizer::from_desc(&b.header.tokenizer, d.vocab)?,
            embedding: embedding(&t.embedding, numerics, v, e)?,
        };
        // The v1 dims fix every shape; check them in file order.
        let expect = |desc: &TensorDesc<'_>, tensor, rows: usize, cols: usize| {
            let expected = (rows as u32, cols as u32);
            if desc.shape() == expected {
                Ok(())
            } else {
                Err(Error::TensorShape { tensor, expected, found: desc.shape() })
            }
        };
        expect(&t.gru_input, TensorName::GruInput(0), 3 * h, e)?;
        expect(&t.gru_recurrent, TensorName::GruRecurrent(0), 3 * h, h)?;
        expect(&t.dense, TensorName::Dense(0), dn, h)?;
        expect(&t.output, TensorName::Output, v, dn)?;
        let mut model = Model::empty(numerics, b.header.provenance.clone(), input, 1, checksum, file_len);
        let mut builder = Builder { numerics, arm_dsp: false, width: e };
        let gru = GruDesc {
            input: t.gru_input.clone(),
            recurrent: t.gru_recurrent.clone(),
            input_bias: t.gru_input_bias,
            recurrent_bias: t.gru_recurrent_bias,
        };
        let _ = model.grus.push(builder.gru(0, &gru)?);
        let dense = DenseDesc { activation: Activation::Relu, weight: t.dense.clone(), bias: t.dense_bias };
        let _ = model.dense.push(builder.dense(0, &dense)?);
        (model.output, model.output_bias) = builder.output(&t.output, t.output_bias)?;
        Ok(model)
    }

    /// The input a body describes, checked, and its width.
    fn input_of(desc: &InputDesc<'a>, numerics: Numerics) -> Result<(Input<'a>, usize)> {
        Ok(match desc {
            InputDesc::Tokens { tokenizer, embedding: table } => {
                let (vocab, emb) = table.shape();
                let v = check_dim("vocab", vocab, MAX_VOCAB)?;
                let e = check_dim("emb", emb, MAX_WIDTH)?;
                let input =
                    Input::Tokens { tokenizer: Tokenizer::from_desc(tokenizer, vocab)?, embedding: embedding(table, numerics, v, e)? };
                (input, e)
            }
            InputDesc::Features { count, mean, scale, quant_scale } => {
                let f = check_dim("features", *count, MAX_WIDTH)?;
                let mean = Vector::from_bytes(mean, TensorName::FeatureMean, f)?;
                let scale = Vector::from_bytes(scale, TensorName::FeatureScale, f)?;
                let integer = matches!(numerics, Numerics::Integer { .. });
                if integer && !(quant_scale.is_finite() && *quant_scale > 0.0) {
                    return Err(Error::BadScale { tensor: TensorName::FeatureScale, row: f });
                }
                let quant = (1.0 / *quant_scale, Mul::from_f32_bits(quant_scale.to_bits()));
                (Input::Features { mean, scale, quant_scale: *quant_scale, quant, names: Names::EMPTY, fill: Fill::Refuse }, f)
            }
        })
    }

    /// The output layer and what its outputs mean, checked against the layers before.
    fn set_head(&mut self, head: &HeadDesc<'a>, builder: &Builder) -> Result<()> {
        let HeadDesc { kind, weight, bias } = head;
        (self.output, self.output_bias) = builder.output(weight, bias)?;
        let outputs = self.output.rows();
        self.head = match *kind {
            HeadKindDesc::NextToken => match self.input {
                Input::Tokens { embedding, .. } if embedding.rows() == outputs => Head::NextToken,
                Input::Tokens { .. } => return Err(Error::HeadMismatch { reason: "a next-token head needs one output per token" }),
                Input::Features { .. } => return Err(Error::HeadMismatch { reason: "a next-token head needs token input" }),
            },
            HeadKindDesc::Classes { names, ends } => Head::Classes(Names::from_bytes(names, ends, outputs, false)?),
            HeadKindDesc::Regression { names, ends } => Head::Regression(Names::from_bytes(names, ends, outputs, true)?),
        };
        Ok(())
    }

    /// Width of the vector the first GRU reads.
    pub(crate) fn input_width(&self) -> usize {
        match self.input {
            Input::Tokens { embedding, .. } => embedding.cols(),
            Input::Features { mean, .. } => mean.len(),
        }
    }

    /// Bytes of arena a [`crate::Session`] over this model needs.
    pub fn arena_size(&self) -> usize {
        ArenaLayout::of(self).bytes() + ARENA_ALIGN - 1
    }

    /// Bytes a session's saved state takes ([`crate::Session::save_state`]).
    pub fn state_size(&self) -> usize {
        crate::session::state_size(self)
    }

    /// What one step reads.
    pub fn input(&self) -> InputKind {
        match self.input {
            Input::Tokens { embedding, .. } => InputKind::Tokens { vocab: embedding.rows(), emb: embedding.cols() },
            Input::Features { mean, .. } => InputKind::Features { count: mean.len() },
        }
    }

    /// The GRU and dense layers, in order (the head's output layer not included).
    pub fn layers(&self) -> impl Iterator<Item = Layer> + '_ {
        let grus = self.grus.iter().map(|g| Layer::Gru { hidden: g.hidden() });
        grus.chain(self.dense.iter().map(|d| Layer::Dense { width: d.weight.rows(), activation: d.activation }))
    }

    /// State width of every GRU layer, in order.
    pub fn gru_widths(&self) -> impl Iterator<Item = usize> + '_ {
        self.grus.iter().map(Gru::hidden)
    }

    /// What the outputs are.
    pub fn head(&self) -> Head<'a> {
        self.head
    }

    /// Number of outputs: tokens, classes or regression values.
    pub fn outputs(&self) -> usize {
        self.output.rows()
    }

    /// The name of output `i`: a class name, a regression output's name, or
    /// a token's text; `None` where there is none.
    pub fn output_name(&self, i: usize) -> Option<&'a str> {
        match self.head {
            Head::NextToken => self.tokenizer().and_then(|t| t.token_text(i as u32).ok()),
            Head::Classes(names) | Head::Regression(names) => names.get(i),
        }
    }

    /// Whether this is a language model (token input, next-token head): what
    /// text, sampling and generation need.
    pub fn is_language_model(&self) -> bool {
        matches!((self.input, self.head), (Input::Tokens { .. }, Head::NextToken))
    }

    /// How the products are computed.
    pub fn numerics(&self) -> Numerics {
        self.numerics
    }

    /// The tokenizer stored in the file, for token models.
    pub fn tokenizer(&self) -> Option<&Tokenizer<'a>> {
        match &self.input {
            Input::Tokens { tokenizer, .. } => Some(tokenizer),
            Input::Features { .. } => None,
        }
    }

    /// Feature models: the name of feature `i`, when the file names its features (version 4).
    pub fn feature_name(&self, i: usize) -> Option<&'a str> {
        match self.input {
            Input::Features { names, .. } => names.get(i),
            Input::Tokens { .. } => None,
        }
    }

    /// What a missing feature value (NaN) becomes (`Fill::Refuse` for token
    /// models and files before version 4).
    pub fn fill(&self) -> Fill {
        match self.input {
            Input::Features { fill, .. } => fill,
            Input::Tokens { .. } => Fill::Refuse,
        }
    }

    /// Where the model came from.
    pub fn provenance(&self) -> &Provenance<'a> {
        &self.provenance
    }

    /// The format version of the file (1, 2 or 3).
    pub fn format_version(&self) -> u16 {
        self.version
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

    /// Every weight matrix with its name, in file order (the embedding first, if any).
    pub fn matrices(&self) -> impl Iterator<Item = (TensorName, Matrix<'a>)> + '_ {
        let embedding = match self.input {
            Input::Tokens { embedding, .. } => Some((TensorName::Embedding, embedding)),
            Input::Features { .. } => None,
        };
        let grus = self
            .grus
            .iter()
            .enumerate()
            .flat_map(|(n, g)| [(TensorName::GruInput(n as u8), g.input), (TensorName::GruRecurrent(n as u8), g.recurrent)]);
        let dense = self.dense.iter().enumerate().map(|(n, d)| (TensorName::Dense(n as u8), d.weight));
        embedding.into_iter().chain(grus).chain(dense).chain(core::iter::once((TensorName::Output, self.output)))
    }

    /// Every bias and normalization vector with its name, in file order.
    pub fn vectors(&self) -> impl Iterator<Item = (TensorName, Vector<'a>)> + '_ {
        let features = match self.input {
            Input::Features { mean, scale, .. } => Some([(TensorName::FeatureMean, mean), (TensorName::FeatureScale, scale)]),
            Input::Tokens { .. } => None,
        };
        let grus = self.grus.iter().enumerate().flat_map(|(n, g)| {
            [(TensorName::GruInputBias(n as u8), g.input_bias), (TensorName::GruRecurrentBias(n as u8), g.recurrent_bias)]
        });
        let dense = self.dense.iter().enumerate().map(|(n, d)| (TensorName::DenseBias(n as u8), d.bias));
        features.into_iter().flatten().chain(grus).chain(dense).chain(core::iter::once((TensorName::OutputBias, self.output_bias)))
    }

    /// Dense layer `n`'s activation.
    pub fn dense_activation(&self, n: usize) -> Option<Activation> {
        self.dense.get(n).map(|d| d.activation)
    }

    /// Number of parameters (weights, biases, normalization) of the dense model.
    pub fn parameter_count(&self) -> usize {
        let m: usize = self.matrices().map(|(_, m)| m.rows() * m.cols()).sum();
        m + self.vectors().map(|(_, v)| v.len()).sum::<usize>()
    }
}
