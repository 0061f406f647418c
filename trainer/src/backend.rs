//! The engines that run a model, behind the one session interface
//! ([`StepSession`]): the native runtime on an `.egru` file, tract or ONNX
//! Runtime on an ONNX step graph (edgegru's own, or a GRU network's ONNX
//! file that [`crate::import`] accepts, run on its whole sequence).

use std::borrow::Cow;

use anyhow::{bail, Context, Result};
use edgegru_onnx::{OnnxError, OnnxSession, OrtLibrary};
use edgegru_runtime::writer::FloatModel;
use edgegru_runtime::{format, sampling, Isa, Model, Session, StepSession};

/// A session of any engine: what commands, benchmarks and the Python
/// package step through. Its errors are the ONNX sessions' (which wrap the
/// runtime's).
pub type DynSession<'a> = dyn StepSession<OnnxError> + 'a;

/// The engine that runs a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Backend {
    /// edgegru's runtime (an .egru file).
    Native,
    /// tract, pure Rust (an ONNX step graph from `export --format onnx`, or an ONNX model `import` accepts).
    Tract,
    /// ONNX Runtime (ONNX files as for tract; its library from ORT_DYLIB_PATH or ./.venv's onnxruntime wheel).
    Ort,
}

impl Backend {
    /// `native`, `tract` or `ort`: the name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Native => "native",
            Backend::Tract => "tract",
            Backend::Ort => "ort",
        }
    }
}

/// Whether the bytes are an `.egru` file (else they are taken for ONNX).
pub fn is_egru(bytes: &[u8]) -> bool {
    bytes.starts_with(&format::MAGIC)
}

/// The ONNX graph a tract or ONNX Runtime session runs for a model file: an
/// `.egru` file's weights dequantized to f32 and exported (the float step
/// graph); an edgegru step graph as it is; any other ONNX file (a user's own
/// PyTorch or Keras export) as it is, annotated by [`user_onnx`].
pub fn onnx_bytes<'a>(bytes: &'a [u8], vocab: Option<&[u8]>) -> Result<Cow<'a, [u8]>> {
    if is_egru(bytes) {
        let model = Model::from_bytes(bytes)?;
        return Ok(edgegru_onnx::to_bytes(&FloatModel::from_model(&model)?, edgegru_onnx::OnnxWeights::Float)?.into());
    }
    user_onnx(bytes, vocab)
}

/// The bytes `backend` runs for a model file: the file itself for the
/// native runtime, [`onnx_bytes`] for tract and ONNX Runtime.
pub fn bytes_for(backend: Backend, bytes: &[u8]) -> Result<Cow<'_, [u8]>> {
    match backend {
        Backend::Native => Ok(Cow::Borrowed(bytes)),
        Backend::Tract | Backend::Ort => onnx_bytes(bytes, None),
    }
}

/// An ONNX file for the tract and ONNX Runtime backends: an edgegru step
/// graph as it is; a user's own export (the networks [`crate::import`]
/// accepts) with the metadata that lets a session run its original graph
/// on the whole sequence at every step: the network and the tokenizer (read
/// by importing it, with `vocab` for a token model) and the layout.
pub fn user_onnx<'a>(bytes: &'a [u8], vocab: Option<&[u8]>) -> Result<Cow<'a, [u8]>> {
    let proto = edgegru_onnx::decode(bytes)?;
    let ours =
        proto.metadata_props.iter().any(|p| p.key == edgegru_onnx::contract::NETWORK_KEY || p.key == edgegru_onnx::contract::DIMS_KEY);
    if ours {
        return Ok(bytes.into());
    }
    let tokenizer = vocab.map(|v| crate::import::vocab::read(v, &Default::default())).transpose()?;
    let model = crate::import::onnx::import(bytes, tokenizer, &Default::default(), "model").map_err(|e| {
        if vocab.is_none() {
            e.context("this ONNX file is not an edgegru step graph; a token model needs --vocab (its tokenizer)")
        } else {
            e
        }
    })?;
    Ok(annotate_import(proto, &model)?.into())
}

/// A user's ONNX graph with the metadata of its import `model` (network,
/// tokenizer) and its sequence layout, for the tract and ONNX Runtime sessions.
pub fn annotate_import(proto: edgegru_onnx::pb::ModelProto, model: &FloatModel) -> Result<Vec<u8>> {
    let info = edgegru_onnx::StepInfo { network: edgegru_onnx::NetworkInfo::of(model), tokenizer: model.tokenizer().cloned() };
    let layout = crate::import::onnx::sequence_layout(&proto)?;
    edgegru_onnx::annotate_sequence(proto, &info, &layout)
}

/// Opens an ONNX session of `backend` (tract or ort).
pub fn onnx_session(backend: Backend, onnx: &[u8]) -> Result<OnnxSession> {
    Ok(match backend {
        Backend::Tract => OnnxSession::tract(onnx)?,
        Backend::Ort => OnnxSession::ort(onnx, &OrtLibrary::find()?)?,
        Backend::Native => bail!("the native runtime reads .egru files, not ONNX"),
    })
}

/// Runs `f` on a session of `backend` over the model `bytes`: an `.egru`
/// file for the native runtime (with kernel set `isa`, or the best); an ONNX
/// step graph for tract and ONNX Runtime, or an `.egru` file, which they run
/// as its float step graph (its weights dequantized).
///
/// ```
/// use edgegru_trainer::backend::{with_session, Backend};
///
/// // The shipped sensor classifier, natively and on tract (its float step graph).
/// let model = edgegru_trainer::builtin::resolve("basicmotions")?;
/// let x = [0.1f32, -0.2, 9.8, 0.0, 0.01, 0.02];
/// let native = with_session(Backend::Native, &model, None, |s| Ok(s.step_features(&x)?.to_vec()))?;
/// let tract = with_session(Backend::Tract, &model, None, |s| Ok(s.step_features(&x)?.to_vec()))?;
/// assert_eq!(native.len(), 4);
/// assert!(native.iter().zip(&tract).all(|(a, b)| (a - b).abs() < 0.05), "integer-only against float");
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn with_session<T>(backend: Backend, bytes: &[u8], isa: Option<Isa>, f: impl FnOnce(&mut DynSession<'_>) -> Result<T>) -> Result<T> {
    match backend {
        Backend::Native => {
            refuse_non_egru(bytes)?;
            let mut model = Model::from_bytes(bytes)?;
            if let Some(isa) = isa {
                model.set_isa(isa)?;
            }
            let mut arena = vec![0u8; model.arena_size()];
            let mut session = Session::new(&model, &mut arena)?;
            f(&mut session)
        }
        Backend::Tract | Backend::Ort => {
            // An .egru file runs as its float step graph.
            let onnx = bytes_for(backend, bytes)?;
            let mut session = onnx_session(backend, &onnx).with_context(|| format!("cannot open the model with {}", backend.name()))?;
            f(&mut session)
        }
    }
}

/// A session that owns what it runs: the model file's bytes and, for the
/// native runtime, the parsed model and its arena. For faces that keep a
/// session between calls (the Python package's `Session`), where
/// [`with_session`]'s borrow of the bytes cannot outlive one call.
pub struct OwnedSession {
    engine: OwnedEngine,
}

enum OwnedEngine {
    Native(Box<OwnedNative>),
    Onnx(Box<OnnxSession>),
}

/// A native session with the model and arena it borrows, freed after it.
struct OwnedNative {
    session: std::mem::ManuallyDrop<Session<'static, 'static>>,
    model: *mut Model<'static>,
    arena: *mut [u8],
    /// The file the model reads in place; never mutated while the session lives.
    _bytes: std::sync::Arc<[u8]>,
}

// SAFETY: the raw pointers are owned (made by `Box::into_raw` and freed
// only in `drop`), and the session only borrows them and the bytes; nothing
// in them is tied to the creating thread, so the whole moves between
// threads as one value, as a `Session` over owned buffers would.
unsafe impl Send for OwnedNative {}

impl OwnedNative {
    fn open(bytes: std::sync::Arc<[u8]>, isa: Option<Isa>) -> Result<Self> {
        // SAFETY: `bytes` lives in an `Arc` kept in the returned value, its
        // data never moves and is never written, and it outlives the model
        // and session (dropped last); extending the borrow to 'static is
        // therefore sound for as long as this value exists.
        let data: &'static [u8] = unsafe { &*(&*bytes as *const [u8]) };
        let mut model = Model::from_bytes(data)?;
        if let Some(isa) = isa {
            model.set_isa(isa)?;
        }
        let arena_len = model.arena_size();
        let model = Box::into_raw(Box::new(model));
        let arena = Box::into_raw(vec![0u8; arena_len].into_boxed_slice());
        // SAFETY: both pointers come from `Box::into_raw` just above, are
        // valid and unaliased; they are freed only in `drop`, after the
        // session that borrows them.
        let made = unsafe { Session::new(&*model, &mut *arena) };
        match made {
            Ok(session) => Ok(OwnedNative { session: std::mem::ManuallyDrop::new(session), model, arena, _bytes: bytes }),
            Err(e) => {
                // SAFETY: the failed `Session::new` holds no borrow; the
                // pointers are freed once, here.
                unsafe {
                    drop(Box::from_raw(model));
                    drop(Box::from_raw(arena));
                }
                Err(e.into())
            }
        }
    }
}

impl Drop for OwnedNative {
    fn drop(&mut self) {
        // SAFETY: the session is dropped first and never used again; then the
        // model and arena it borrowed are freed, each once (they came from
        // `Box::into_raw` in `open`).
        unsafe {
            std::mem::ManuallyDrop::drop(&mut self.session);
            drop(Box::from_raw(self.model));
            drop(Box::from_raw(self.arena));
        }
    }
}

impl OwnedSession {
    /// Opens a session of `backend` over `bytes`, as [`with_session`] does
    /// (an `.egru` file for the native runtime with kernel set `isa`, or the
    /// best; tract and ONNX Runtime run ONNX step graphs, or an `.egru`
    /// file's float step graph).
    pub fn open(backend: Backend, bytes: std::sync::Arc<[u8]>, isa: Option<Isa>) -> Result<Self> {
        let engine = match backend {
            Backend::Native => {
                refuse_non_egru(&bytes)?;
                OwnedEngine::Native(Box::new(OwnedNative::open(bytes, isa)?))
            }
            Backend::Tract | Backend::Ort => {
                let onnx = bytes_for(backend, &bytes)?;
                let session = onnx_session(backend, &onnx).with_context(|| format!("cannot open the model with {}", backend.name()))?;
                OwnedEngine::Onnx(Box::new(session))
            }
        };
        Ok(OwnedSession { engine })
    }

    /// The session, to step.
    pub fn get(&mut self) -> &mut DynSession<'_> {
        match &mut self.engine {
            OwnedEngine::Native(n) => &mut *n.session,
            OwnedEngine::Onnx(s) => &mut **s,
        }
    }

    /// The session, to read.
    pub fn get_ref(&self) -> &DynSession<'_> {
        match &self.engine {
            OwnedEngine::Native(n) => &*n.session,
            OwnedEngine::Onnx(s) => &**s,
        }
    }
}

/// Refuses bytes that are not an `.egru` file, naming an ONNX file as such.
fn refuse_non_egru(bytes: &[u8]) -> Result<()> {
    if !is_egru(bytes) {
        if edgegru_onnx::decode(bytes).is_ok() {
            bail!("the native backend runs .egru files; this is an ONNX file: use --backend tract or ort, or `edgegru import` it");
        }
        bail!("not an .egru model file (it does not start with \"EGRU\")");
    }
    Ok(())
}

/// The tokenizer of a session, or an error saying the model reads features.
pub fn tokenizer_of<'s>(session: &'s DynSession<'_>) -> Result<edgegru_runtime::Tokenizer<'s>> {
    session.tokenizer().context("this model reads features, not text")
}

/// How closely two engines agree when decoding greedily in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Agreement {
    /// Tokens generated after the prompt.
    pub tokens: usize,
    /// Of those, how many both engines ranked first.
    pub equal_tokens: usize,
    /// Whether every generated token was the same.
    pub identical: bool,
    /// Largest absolute logit difference over the prompt and the generation.
    pub max_logit_diff: f32,
    /// Largest absolute difference of log-probabilities (the logits after a
    /// log-softmax): what to compare when one engine gives probabilities.
    pub max_log_prob_diff: f32,
}

/// `v` minus its log-sum-exp: log-probabilities.
fn log_softmax(v: &[f32]) -> Vec<f32> {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = max + v.iter().map(|x| (x - max).exp()).sum::<f32>().ln();
    v.iter().map(|x| x - lse).collect()
}

/// The largest absolute difference of two vectors (infinite where one is NaN).
fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, |m, d| if d.is_nan() { f32::INFINITY } else { m.max(d) })
}

/// Feeds `prompt` to both engines, then generates `n` tokens greedily from
/// `reference`'s logits, feeding the same token to both; compares their
/// logits at every step and their first choices after the prompt.
pub fn compare_greedy(reference: &mut DynSession<'_>, other: &mut DynSession<'_>, prompt: &[u32], n: usize) -> Result<Agreement> {
    let Some((&first, rest)) = prompt.split_first() else { bail!("the comparison needs a prompt of at least one token") };
    let mut agreement = Agreement { tokens: n, equal_tokens: 0, identical: true, max_logit_diff: 0.0, max_log_prob_diff: 0.0 };
    let mut token = first;
    for i in 0..rest.len() + n {
        let a = reference.step(token)?;
        let b = other.step(token)?;
        if a.len() != b.len() {
            bail!("the engines give {} and {} logits", a.len(), b.len());
        }
        agreement.max_logit_diff = agreement.max_logit_diff.max(max_diff(a, b));
        agreement.max_log_prob_diff = agreement.max_log_prob_diff.max(max_diff(&log_softmax(a), &log_softmax(b)));
        let best = sampling::argmax(a);
        if i < rest.len() {
            token = rest[i];
        } else {
            if best == sampling::argmax(b) {
                agreement.equal_tokens += 1;
            } else {
                agreement.identical = false;
            }
            token = best;
        }
    }
    Ok(agreement)
}
