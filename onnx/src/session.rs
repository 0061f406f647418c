//! Sessions over a step graph (see [`crate::contract`]), run by tract
//! (feature `tract`) or ONNX Runtime (feature `ort`), behind the one session
//! interface, [`StepSession`]: steps, and for language models text, sampling,
//! suggestions and generation. The states of every GRU layer are carried
//! across steps here.

use std::fmt;

use edgegru_runtime::text::{self, Generation, SamplingScratch, Stepper};
use edgegru_runtime::writer::TokenizerTables;
use edgegru_runtime::{Error, Fill, HeadKind, InputKind, Rng, SamplingParams, StepSession, TokenProb, Tokenizer};

use crate::contract::{NetworkInfo, SequenceLayout, StepInfo};

/// What can go wrong with an ONNX session.
#[derive(Debug)]
#[non_exhaustive]
pub enum OnnxError {
    /// The runtime refused something: a token id, text, sampling parameters.
    Runtime(Error),
    /// The file is not an edgegru step graph (metadata or shapes missing or wrong).
    NotAStepGraph(String),
    /// The backend could not load or run the graph.
    Backend {
        /// `tract` or `ort`.
        backend: &'static str,
        /// The backend's message.
        message: String,
    },
    /// The engine cannot do what was asked (it says why).
    Unsupported(&'static str),
    /// ONNX Runtime's shared library could not be loaded.
    LibraryMissing {
        /// Where it was looked for.
        path: String,
        /// Why loading failed.
        reason: String,
        /// The oldest ONNX Runtime minor version the `ort` backend works with (1.N).
        minimum_minor: u32,
    },
}

impl From<Error> for OnnxError {
    fn from(e: Error) -> Self {
        OnnxError::Runtime(e)
    }
}

impl fmt::Display for OnnxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OnnxError::Runtime(e) => write!(f, "{e}"),
            OnnxError::NotAStepGraph(why) => write!(f, "not an edgegru ONNX step graph: {why}"),
            OnnxError::Backend { backend, message } => write!(f, "{backend}: {message}"),
            OnnxError::Unsupported(why) => f.write_str(why),
            OnnxError::LibraryMissing { path, reason, minimum_minor } => write!(
                f,
                "cannot load ONNX Runtime from {path}: {reason} (the ort backend needs ONNX Runtime 1.{minimum_minor} or later; it \
                 ships in the onnxruntime wheel: python3 -m venv .venv && .venv/bin/pip install 'onnxruntime>=1.{minimum_minor}', \
                 then point ORT_DYLIB_PATH at .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.1.*)"
            ),
        }
    }
}

impl std::error::Error for OnnxError {}

/// Results of ONNX sessions.
pub type OnnxResult<T> = core::result::Result<T, OnnxError>;

/// What one step of the graph reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum GraphInput<'i> {
    /// A token id.
    Token(u32),
    /// A feature vector.
    Features(&'i [f32]),
}

/// One step of the graph in some backend: `(input, states) -> (outputs, new states)`.
pub(crate) trait StepGraph: Send {
    /// Runs the graph; writes the outputs and the new state of every layer.
    fn run(&mut self, input: GraphInput<'_>, states: &[Vec<f32>], out: &mut [f32], next: &mut [Vec<f32>]) -> OnnxResult<()>;

    /// Forgets what the graph keeps between steps besides the states (a
    /// sequence graph's inputs so far).
    fn reset(&mut self) {}

    /// Whether the graph keeps every input so far (a user's whole-sequence
    /// graph) rather than a state that can be saved.
    fn is_sequence(&self) -> bool {
        false
    }
}

/// A user's whole-sequence graph input: its shape (`[1, T]` or `[T, 1]`,
/// with a feature axis for feature models) and values of the graph's type.
pub(crate) struct SequenceInput<'a> {
    pub(crate) name: &'a str,
    pub(crate) shape: Vec<usize>,
    pub(crate) data: SequenceData<'a>,
}

impl<'a> SequenceInput<'a> {
    /// The graph input for `steps` inputs so far: `ids`, or `features` of
    /// `width` values each, laid out and typed as `layout` says.
    pub(crate) fn of(layout: &'a SequenceLayout, ids: &'a [i64], features: &'a [f32], width: usize, steps: usize) -> Self {
        let (b, t) = if layout.batch_first { (1, steps) } else { (steps, 1) };
        let (shape, data) = if width > 0 {
            (vec![b, t, width], SequenceData::F32(features.into()))
        } else {
            let data = match layout.input_type.as_str() {
                "int32" => SequenceData::I32(ids.iter().map(|&v| v as i32).collect()),
                "float" => SequenceData::F32(ids.iter().map(|&v| v as f32).collect::<Vec<_>>().into()),
                _ => SequenceData::I64(ids),
            };
            (vec![b, t], data)
        };
        SequenceInput { name: &layout.input, shape, data }
    }
}

/// The values of a [`SequenceInput`].
pub(crate) enum SequenceData<'a> {
    /// Token ids as int64.
    I64(&'a [i64]),
    /// Token ids as int32.
    I32(Vec<i32>),
    /// Token ids as float, or features.
    F32(std::borrow::Cow<'a, [f32]>),
}

/// A backend running a user's whole-sequence graph ([`SequenceLayout`]).
pub(crate) trait SequenceRun: Send {
    /// Runs the graph on `input`; returns the first output's values and shape.
    fn run_sequence(&mut self, input: &SequenceInput<'_>) -> OnnxResult<(Vec<f32>, Vec<usize>)>;
}

/// A user's sequence graph as a step graph: every step runs the whole
/// sequence so far and keeps the last position's outputs (a comparison
/// tool, quadratic in the length, not a way to deploy).
pub(crate) struct SequenceGraph<R: SequenceRun> {
    pub(crate) backend: &'static str,
    pub(crate) run: R,
    pub(crate) layout: SequenceLayout,
    pub(crate) head: HeadKind,
    pub(crate) ids: Vec<i64>,
    pub(crate) features: Vec<f32>,
    pub(crate) steps: usize,
}

impl<R: SequenceRun> StepGraph for SequenceGraph<R> {
    fn run(&mut self, input: GraphInput<'_>, _: &[Vec<f32>], out: &mut [f32], _: &mut [Vec<f32>]) -> OnnxResult<()> {
        let width = match input {
            GraphInput::Token(t) => {
                self.ids.push(t as i64);
                0
            }
            GraphInput::Features(f) => {
                self.features.extend_from_slice(f);
                f.len()
            }
        };
        self.steps += 1;
        let input = SequenceInput::of(&self.layout, &self.ids, &self.features, width, self.steps);
        let (values, shape) = self.run.run_sequence(&input)?;
        let n = out.len();
        // [1, T, N] (batch first) or [T, 1, N]: either way the last position's
        // outputs are the last N values.
        let time = if self.layout.batch_first { shape.get(1) } else { shape.first() };
        if shape.len() != 3 || shape[2] != n || time != Some(&self.steps) || values.len() < n {
            return Err(OnnxError::NotAStepGraph(format!(
                "{}: the sequence graph's output has shape {shape:?}; expected {} positions of {n} values",
                self.backend, self.steps
            )));
        }
        out.copy_from_slice(&values[values.len() - n..]);
        match self.head {
            HeadKind::NextToken if self.layout.softmax => out.iter_mut().for_each(|v| *v = v.ln()),
            HeadKind::Classes if !self.layout.softmax => {
                let max = out.iter().copied().fold(f32::MIN, f32::max);
                out.iter_mut().for_each(|v| *v = (*v - max).exp());
                let sum: f32 = out.iter().sum();
                out.iter_mut().for_each(|v| *v /= sum);
            }
            _ => {}
        }
        Ok(())
    }

    fn is_sequence(&self) -> bool {
        true
    }

    fn reset(&mut self) {
        self.ids.clear();
        self.features.clear();
        self.steps = 0;
    }
}

/// The graph, the states and the last outputs.
struct StepMachine {
    graph: Box<dyn StepGraph>,
    states: Vec<Vec<f32>>,
    next: Vec<Vec<f32>>,
    /// The states concatenated (what [`StepSession::hidden`] returns).
    hidden: Vec<f32>,
    out: Vec<f32>,
    has_output: bool,
    input: InputKind,
    /// How missing feature values are filled, and the features as last filled.
    fill: FeatureFill,
}

/// A feature model's fill policy on the host side, as the runtime applies it:
/// each NaN becomes 0, the training mean, or the last value seen (the mean
/// before any).
struct FeatureFill {
    fill: Fill,
    means: Vec<f32>,
    /// The last features filled (for `Fill::Previous`, what a NaN becomes).
    filled: Vec<f32>,
}

impl FeatureFill {
    fn of(network: &NetworkInfo) -> Self {
        let means = network.feature_means.clone();
        FeatureFill { fill: network.fill, filled: means.clone(), means }
    }

    /// Forgets the values seen.
    fn reset(&mut self) {
        self.filled.clone_from(&self.means);
    }

    /// The features with their missing values filled.
    fn apply(&mut self, f: &[f32]) -> &[f32] {
        self.filled.resize(f.len(), 0.0);
        let means = &self.means;
        self.fill.apply(f, |i| means[i], &mut self.filled);
        &self.filled
    }

    /// Values a saved state keeps (the last features, for `Fill::Previous`).
    fn remembered(&self) -> usize {
        if self.fill == Fill::Previous {
            self.means.len()
        } else {
            0
        }
    }
}

impl StepMachine {
    /// Checks the input against the network; nothing changes on error.
    fn check(&self, input: GraphInput<'_>) -> Result<(), Error> {
        match (input, &self.input) {
            (GraphInput::Token(token), InputKind::Tokens { vocab, .. }) if token as usize >= *vocab => {
                Err(Error::TokenOutOfRange { token, vocab: *vocab as u32 })
            }
            (GraphInput::Features(f), InputKind::Features { count }) if f.len() != *count => {
                Err(Error::FeatureCount { expected: *count, found: f.len() })
            }
            // A missing value (NaN) is filled when the model says how; infinities never are.
            (GraphInput::Features(f), InputKind::Features { .. }) => match self.fill.fill.refused(f) {
                Some(index) => Err(Error::NonFiniteInput { index }),
                None => Ok(()),
            },
            (GraphInput::Token(_), InputKind::Features { .. }) => Err(Error::WrongInput { expected: "features" }),
            (GraphInput::Features(_), InputKind::Tokens { .. }) => Err(Error::WrongInput { expected: "tokens" }),
            (GraphInput::Token(_), InputKind::Tokens { .. }) => Ok(()),
        }
    }

    fn step(&mut self, input: GraphInput<'_>) -> OnnxResult<()> {
        self.check(input)?;
        let input = match input {
            GraphInput::Features(f) if self.fill.fill != Fill::Refuse => GraphInput::Features(self.fill.apply(f)),
            other => other,
        };
        self.graph.run(input, &self.states, &mut self.out, &mut self.next)?;
        std::mem::swap(&mut self.states, &mut self.next);
        self.sync_hidden();
        self.has_output = true;
        Ok(())
    }

    fn sync_hidden(&mut self) {
        let mut at = 0;
        for s in &self.states {
            self.hidden[at..at + s.len()].copy_from_slice(s);
            at += s.len();
        }
    }
}

impl Stepper for StepMachine {
    type Error = OnnxError;

    fn step_token(&mut self, token: u32) -> OnnxResult<()> {
        self.step(GraphInput::Token(token))
    }

    fn last_logits(&self) -> Option<&[f32]> {
        self.has_output.then_some(&self.out[..])
    }
}

/// Magic at the start of an ONNX session's saved state.
const STATE_MAGIC: [u8; 4] = *b"EGOS";
/// Bytes before the values: magic, the ONNX file's CRC, flags.
const STATE_HEADER: usize = 12;

/// A stream of steps through an ONNX step graph, run by tract or ONNX
/// Runtime; its API is [`StepSession`].
pub struct OnnxSession {
    backend: &'static str,
    network: NetworkInfo,
    /// CRC-32 of the ONNX file: what a saved state belongs to.
    fingerprint: u32,
    /// A user's whole-sequence graph (its state is every input so far).
    sequence: bool,
    machine: StepMachine,
    tokenizer: Option<TokenizerTables>,
    probs: Vec<f32>,
    order: Vec<u32>,
}

impl OnnxSession {
    #[allow(dead_code)]
    pub(crate) fn new(backend: &'static str, onnx: &[u8], info: StepInfo, graph: Box<dyn StepGraph>) -> OnnxResult<Self> {
        let n = info.network.outputs;
        let states: Vec<Vec<f32>> = info.network.grus.iter().map(|&h| vec![0.0; h]).collect();
        let tokenizer = info.tokenizer.map(TokenizerTables::new).transpose()?;
        Ok(OnnxSession {
            backend,
            fingerprint: edgegru_runtime::crc32::crc32(onnx),
            sequence: graph.is_sequence(),
            machine: StepMachine {
                graph,
                next: states.clone(),
                hidden: vec![0.0; states.iter().map(Vec::len).sum()],
                states,
                out: vec![0.0; n],
                has_output: false,
                input: info.network.input,
                fill: FeatureFill::of(&info.network),
            },
            network: info.network,
            tokenizer,
            probs: vec![0.0; n],
            order: vec![0; n],
        })
    }

    /// A session run by tract, from the bytes of an ONNX step graph.
    #[cfg(feature = "tract")]
    pub fn tract(onnx: &[u8]) -> OnnxResult<Self> {
        let (info, graph) = crate::tract::load(onnx)?;
        OnnxSession::new("tract", onnx, info, graph)
    }

    /// A session run by ONNX Runtime (one thread), from the bytes of an ONNX step graph.
    #[cfg(feature = "ort")]
    pub fn ort(onnx: &[u8], library: &crate::OrtLibrary) -> OnnxResult<Self> {
        let (info, graph) = crate::ort::load(onnx, library)?;
        OnnxSession::new("ort", onnx, info, graph)
    }

    /// `tract` or `ort`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// The network, from the graph's metadata.
    pub fn network(&self) -> &NetworkInfo {
        &self.network
    }

    /// The tokenizer of a language model, and the sampling buffers.
    fn language_model(&mut self) -> OnnxResult<(Tokenizer<'_>, &mut StepMachine, SamplingScratch<'_>)> {
        match (&self.tokenizer, self.network.head) {
            (Some(t), HeadKind::NextToken) => {
                Ok((t.tokenizer()?, &mut self.machine, SamplingScratch { probs: &mut self.probs, order: &mut self.order }))
            }
            _ => Err(Error::NotALanguageModel.into()),
        }
    }
}

impl StepSession<OnnxError> for OnnxSession {
    fn input(&self) -> InputKind {
        self.network.input
    }

    fn head(&self) -> HeadKind {
        self.network.head
    }

    fn tokenizer(&self) -> Option<Tokenizer<'_>> {
        self.tokenizer.as_ref().and_then(|t| t.tokenizer().ok())
    }

    fn step(&mut self, token: u32) -> OnnxResult<&[f32]> {
        self.machine.step(GraphInput::Token(token))?;
        Ok(&self.machine.out)
    }

    fn step_features(&mut self, features: &[f32]) -> OnnxResult<&[f32]> {
        self.machine.step(GraphInput::Features(features))?;
        Ok(&self.machine.out)
    }

    fn output(&self) -> Option<&[f32]> {
        self.machine.last_logits()
    }

    fn reset(&mut self) {
        self.machine.states.iter_mut().for_each(|s| s.iter_mut().for_each(|v| *v = 0.0));
        self.machine.hidden.iter_mut().for_each(|v| *v = 0.0);
        self.machine.has_output = false;
        self.machine.fill.reset();
        self.machine.graph.reset();
    }

    fn hidden(&self) -> &[f32] {
        &self.machine.hidden
    }

    fn feed(&mut self, text: &str) -> OnnxResult<usize> {
        let tables = self.tokenizer.as_ref().ok_or(OnnxError::Runtime(Error::WrongInput { expected: "features" }))?;
        text::feed(&mut self.machine, &tables.tokenizer()?, text)
    }

    fn sample(&mut self, params: &SamplingParams, rng: &mut Rng) -> OnnxResult<u32> {
        let (tok, machine, mut scratch) = self.language_model()?;
        text::sample(machine, &tok, params, rng, &mut scratch)
    }

    fn top_k_next(&mut self, out: &mut [TokenProb], allow_oov: bool) -> OnnxResult<usize> {
        let (tok, machine, mut scratch) = self.language_model()?;
        text::top_k(machine, &tok, allow_oov, &mut scratch, out)
    }

    fn generate(
        &mut self,
        prompt: &str,
        max_tokens: usize,
        params: &SamplingParams,
        rng: &mut Rng,
        out: &mut [u8],
        on_token: &mut dyn FnMut(u32, &str) -> bool,
    ) -> OnnxResult<Generation> {
        let (tok, machine, mut scratch) = self.language_model()?;
        text::generate(machine, &tok, &mut scratch, prompt, max_tokens, params, rng, out, on_token)
    }

    fn state_size(&self) -> usize {
        if self.sequence {
            return 0;
        }
        STATE_HEADER + 4 * (self.machine.hidden.len() + self.machine.out.len() + self.machine.fill.remembered()) + 4
    }

    fn save_state(&self, out: &mut [u8]) -> OnnxResult<usize> {
        if self.sequence {
            return Err(OnnxError::Unsupported(
                "a whole-sequence graph keeps every input so far, not a state to save; export an edgegru step graph",
            ));
        }
        let needed = self.state_size();
        let available = out.len();
        let out = out.get_mut(..needed).ok_or(Error::BufferTooSmall { needed, available })?;
        out[..4].copy_from_slice(&STATE_MAGIC);
        out[4..8].copy_from_slice(&self.fingerprint.to_le_bytes());
        out[8..12].copy_from_slice(&(self.machine.has_output as u32).to_le_bytes());
        let kept = self.machine.fill.remembered();
        let values = self.machine.hidden.iter().chain(&self.machine.out).chain(&self.machine.fill.filled[..kept]);
        for (dst, v) in out[STATE_HEADER..needed - 4].chunks_exact_mut(4).zip(values) {
            dst.copy_from_slice(&v.to_le_bytes());
        }
        let crc = edgegru_runtime::crc32::crc32(&out[..needed - 4]);
        out[needed - 4..].copy_from_slice(&crc.to_le_bytes());
        Ok(needed)
    }

    fn restore_state(&mut self, state: &[u8]) -> OnnxResult<()> {
        let size = self.state_size();
        let values = check_state(state, size, self.fingerprint)?;
        let (hidden, rest) = values.split_at(self.machine.hidden.len());
        let (out, remembered) = rest.split_at(self.machine.out.len());
        self.machine.hidden.copy_from_slice(hidden);
        self.machine.out.copy_from_slice(out);
        self.machine.fill.filled[..remembered.len()].copy_from_slice(remembered);
        let mut at = 0;
        for s in &mut self.machine.states {
            let n = s.len();
            s.copy_from_slice(&hidden[at..at + n]);
            at += n;
        }
        self.machine.has_output = state[8] == 1;
        Ok(())
    }
}

/// The values of a saved state of `size` bytes (0: this session saves none)
/// for the ONNX file with CRC `fingerprint`, checked whole.
fn check_state(state: &[u8], size: usize, fingerprint: u32) -> OnnxResult<Vec<f32>> {
    let damaged = |reason| OnnxError::Runtime(Error::StateDamaged { reason });
    if size == 0 {
        return Err(OnnxError::Unsupported("a whole-sequence graph has no state to restore"));
    }
    if state.len() != size {
        return Err(damaged("its length is not this model's state size"));
    }
    if state[..4] != STATE_MAGIC {
        return Err(damaged("it does not start with the ONNX session's state magic"));
    }
    let word = |i: usize| u32::from_le_bytes([state[i], state[i + 1], state[i + 2], state[i + 3]]);
    if edgegru_runtime::crc32::crc32(&state[..size - 4]) != word(size - 4) {
        return Err(damaged("its CRC-32 does not match its contents"));
    }
    if word(4) != fingerprint {
        return Err(OnnxError::Runtime(Error::StateMismatch { found: word(4), expected: fingerprint }));
    }
    if word(8) > 1 {
        return Err(damaged("unknown flags"));
    }
    let values: Vec<f32> = state[STATE_HEADER..size - 4].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    if values.iter().any(|v| !v.is_finite()) {
        return Err(damaged("a value is NaN or infinite"));
    }
    Ok(values)
}

/// A backend's error as an [`OnnxError`].
#[allow(dead_code)]
pub(crate) fn backend_error<E: fmt::Display>(backend: &'static str, e: E) -> OnnxError {
    OnnxError::Backend { backend, message: e.to_string() }
}

/// Copies a backend output into `dst`, which must have the same length.
#[allow(dead_code)]
pub(crate) fn copy_output(backend: &'static str, name: &str, src: &[f32], dst: &mut [f32]) -> OnnxResult<()> {
    if src.len() != dst.len() {
        return Err(OnnxError::NotAStepGraph(format!("{backend}: output {name} has {} values, expected {}", src.len(), dst.len())));
    }
    dst.copy_from_slice(src);
    Ok(())
}
