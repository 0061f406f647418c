//! One interface over the engines that run a model: the native runtime on an
//! `.egru` file, tract or ONNX Runtime on an ONNX step graph.

use anyhow::{bail, Context, Result};
use edgegru_runtime::onnx::{OnnxSession, OrtLibrary};
use edgegru_runtime::writer::FloatModel;
use edgegru_runtime::{format, sampling, Isa, Model, Rng, SamplingParams, Session, Tokenizer};

use crate::onnx::{self, OnnxWeights};

/// The engine that runs a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// edgegru's runtime (`.egru` files).
    Native,
    /// tract, pure Rust (ONNX files).
    Tract,
    /// ONNX Runtime, loaded from its shared library (ONNX files).
    Ort,
}

impl Backend {
    /// `native`, `tract` or `ort`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Native => "native",
            Backend::Tract => "tract",
            Backend::Ort => "ort",
        }
    }

    /// The backend with this name.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "native" => Ok(Backend::Native),
            "tract" => Ok(Backend::Tract),
            "ort" => Ok(Backend::Ort),
            other => bail!("unknown backend {other:?} (native, tract, ort)"),
        }
    }
}

/// What the commands need from a running model.
pub trait Runner {
    /// The model's tokenizer.
    fn tokenizer(&self) -> Result<Tokenizer<'_>>;
    /// Feeds one token; returns the next token's logits.
    fn step(&mut self, token: u32) -> Result<&[f32]>;
    /// Feeds the prompt, then generates (see `Session::generate`).
    fn generate(
        &mut self,
        prompt: &str,
        max: usize,
        params: &SamplingParams,
        rng: &mut Rng,
        on: &mut dyn FnMut(u32, &str) -> bool,
    ) -> Result<usize>;
}

impl Runner for Session<'_, '_> {
    fn tokenizer(&self) -> Result<Tokenizer<'_>> {
        Ok(*self.model().tokenizer())
    }
    fn step(&mut self, token: u32) -> Result<&[f32]> {
        Ok(Session::step(self, token)?)
    }
    fn generate(
        &mut self,
        prompt: &str,
        max: usize,
        params: &SamplingParams,
        rng: &mut Rng,
        on: &mut dyn FnMut(u32, &str) -> bool,
    ) -> Result<usize> {
        Ok(Session::generate(self, prompt, max, params, rng, on)?)
    }
}

impl Runner for OnnxSession {
    fn tokenizer(&self) -> Result<Tokenizer<'_>> {
        Ok(OnnxSession::tokenizer(self)?)
    }
    fn step(&mut self, token: u32) -> Result<&[f32]> {
        Ok(OnnxSession::step(self, token)?)
    }
    fn generate(
        &mut self,
        prompt: &str,
        max: usize,
        params: &SamplingParams,
        rng: &mut Rng,
        on: &mut dyn FnMut(u32, &str) -> bool,
    ) -> Result<usize> {
        Ok(OnnxSession::generate(self, prompt, max, params, rng, on)?)
    }
}

/// Whether the bytes are an `.egru` file (else they are taken for ONNX).
pub fn is_egru(bytes: &[u8]) -> bool {
    bytes.starts_with(&format::MAGIC)
}

/// The ONNX step graph of a model file: ONNX bytes as they are; an `.egru`
/// file's weights dequantized to f32 and exported (the float ONNX model).
pub fn onnx_bytes(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>> {
    if !is_egru(bytes) {
        return Ok(bytes.into());
    }
    let model = Model::from_bytes(bytes)?;
    Ok(onnx::to_bytes(&FloatModel::from_model(&model)?, OnnxWeights::Float)?.into())
}

/// Opens an ONNX session of `backend` (tract or ort).
pub fn onnx_session(backend: Backend, onnx: &[u8]) -> Result<OnnxSession> {
    Ok(match backend {
        Backend::Tract => OnnxSession::tract(onnx)?,
        Backend::Ort => OnnxSession::ort(onnx, &OrtLibrary::find()?)?,
        Backend::Native => bail!("the native runtime reads .egru files, not ONNX"),
    })
}

/// Runs `f` on a session of `backend` over the model `bytes`: an `.egru` file
/// for the native runtime, an ONNX step graph for tract and ONNX Runtime.
pub fn with_runner<T>(backend: Backend, bytes: &[u8], isa: Option<Isa>, f: impl FnOnce(&mut dyn Runner) -> Result<T>) -> Result<T> {
    match backend {
        Backend::Native => {
            if !is_egru(bytes) {
                bail!("the native backend runs .egru files; for an ONNX file use --backend tract or ort");
            }
            let mut model = Model::from_bytes(bytes)?;
            if let Some(isa) = isa {
                model.set_isa(isa)?;
            }
            let mut arena = vec![0u8; model.arena_size()];
            let mut session = Session::new(&model, &mut arena)?;
            f(&mut session)
        }
        Backend::Tract | Backend::Ort => {
            if is_egru(bytes) {
                bail!("--backend {} runs ONNX step graphs: export one with `edgegru export --format onnx`", backend.name());
            }
            let mut session = onnx_session(backend, bytes).with_context(|| format!("cannot open the model with {}", backend.name()))?;
            f(&mut session)
        }
    }
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
}

/// Feeds `prompt` to both engines, then generates `n` tokens greedily from
/// `reference`'s logits, feeding the same token to both; compares their
/// logits at every step and their first choices after the prompt.
pub fn compare_greedy(reference: &mut dyn Runner, other: &mut dyn Runner, prompt: &[u32], n: usize) -> Result<Agreement> {
    let Some((&first, rest)) = prompt.split_first() else { bail!("the comparison needs a prompt of at least one token") };
    let mut agreement = Agreement { tokens: n, equal_tokens: 0, identical: true, max_logit_diff: 0.0 };
    let mut token = first;
    for i in 0..rest.len() + n {
        let a = reference.step(token)?;
        let b = other.step(token)?;
        if a.len() != b.len() {
            bail!("the engines give {} and {} logits", a.len(), b.len());
        }
        let diff = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, |m, d| if d.is_nan() { f32::INFINITY } else { m.max(d) });
        agreement.max_logit_diff = agreement.max_logit_diff.max(diff);
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
