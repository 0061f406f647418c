//! Sessions over the ONNX step graph that `edgegru export --format onnx`
//! writes, run by tract (feature `tract`) or ONNX Runtime (feature `ort`),
//! with the native session's text API (step, feed, sample, top-k, generate).
//!
//! The graph takes one token and the GRU state and returns the logits and the
//! new state; the tokenizer and the dimensions travel in its metadata
//! ([`TOKENIZER_KEY`], [`DIMS_KEY`]). The state is carried across steps here.

use std::string::{String, ToString};
use std::vec::Vec;
use std::{boxed::Box, fmt};

use crate::error::Error;
use crate::format::{Dims, TokenizerDesc};
use crate::sampling::{Rng, SamplingParams, TokenProb};
use crate::text::{self, Stepper};
use crate::tokenizer::Tokenizer;
use crate::writer::TokenizerSpec;

#[cfg(feature = "ort")]
mod ort;
#[cfg(feature = "tract")]
mod tract;

#[cfg(feature = "ort")]
pub use self::ort::OrtLibrary;

/// Metadata key of the tokenizer (a JSON [`TokenizerSpec`]).
pub const TOKENIZER_KEY: &str = "edgegru.tokenizer";
/// Metadata key of the layer sizes (a JSON [`Dims`]).
pub const DIMS_KEY: &str = "edgegru.dims";
/// Graph input: the token id, int64 `[1]`.
pub const INPUT_TOKEN: &str = "token";
/// Graph input: the GRU state, float `[1, 1, hidden]`.
pub const INPUT_STATE: &str = "h";
/// Graph output: the next token's logits, float `[1, vocab]`.
pub const OUTPUT_LOGITS: &str = "logits";
/// Graph output: the new GRU state, float `[1, 1, hidden]`.
pub const OUTPUT_STATE: &str = "h_out";

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
    /// ONNX Runtime's shared library could not be loaded.
    LibraryMissing {
        /// Where it was looked for.
        path: String,
        /// Why loading failed.
        reason: String,
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
            OnnxError::LibraryMissing { path, reason } => write!(
                f,
                "cannot load ONNX Runtime from {path}: {reason} (it ships in the onnxruntime wheel: \
                 python3 -m venv .venv && .venv/bin/pip install onnxruntime, then point ORT_DYLIB_PATH at \
                 .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.1.*)"
            ),
        }
    }
}

impl std::error::Error for OnnxError {}

/// Results of ONNX sessions.
pub type OnnxResult<T> = core::result::Result<T, OnnxError>;

/// One step of the graph in some backend: `(token, h) -> (logits, h_out)`.
trait StepGraph {
    /// Runs the graph; writes the logits and the new state.
    fn run(&mut self, token: u32, h: &[f32], logits: &mut [f32], h_out: &mut [f32]) -> OnnxResult<()>;
}

/// The metadata every step graph carries.
struct StepInfo {
    dims: Dims,
    tokenizer: TokenizerSpec,
}

impl StepInfo {
    /// Reads the metadata values (`get(key)` looks a key up in the file).
    fn read(get: impl Fn(&str) -> Option<String>) -> OnnxResult<Self> {
        let field = |key: &str| get(key).ok_or_else(|| OnnxError::NotAStepGraph(std::format!("no {key} metadata")));
        let dims: Dims =
            serde_json::from_str(&field(DIMS_KEY)?).map_err(|e| OnnxError::NotAStepGraph(std::format!("bad {DIMS_KEY}: {e}")))?;
        let tokenizer: TokenizerSpec =
            serde_json::from_str(&field(TOKENIZER_KEY)?).map_err(|e| OnnxError::NotAStepGraph(std::format!("bad {TOKENIZER_KEY}: {e}")))?;
        if tokenizer.tokens.len() != dims.vocab as usize || dims.hidden == 0 || dims.vocab == 0 {
            return Err(OnnxError::NotAStepGraph(std::format!(
                "{} tokens for a vocabulary of {}, hidden {}",
                tokenizer.tokens.len(),
                dims.vocab,
                dims.hidden
            )));
        }
        Ok(StepInfo { dims, tokenizer })
    }
}

/// A tokenizer built from an owned [`TokenizerSpec`], checked once.
struct OwnedTokenizer {
    spec: TokenizerSpec,
    text: Vec<u8>,
    ends: Vec<u8>,
    sorted: Vec<u8>,
}

impl OwnedTokenizer {
    fn new(spec: TokenizerSpec) -> OnnxResult<Self> {
        let (text, ends, sorted) = spec.tables();
        let t = OwnedTokenizer { spec, text, ends, sorted };
        t.get()?;
        Ok(t)
    }

    fn get(&self) -> Result<Tokenizer<'_>, Error> {
        let s = &self.spec;
        let desc = TokenizerDesc {
            kind: s.kind,
            lowercase: s.lowercase,
            filters: &s.filters,
            split: s.split,
            pad: s.pad,
            oov: s.oov,
            text: &self.text,
            ends: &self.ends,
            sorted: &self.sorted,
        };
        Tokenizer::from_desc(&desc, s.tokens.len() as u32)
    }
}

/// The graph, the state and the last logits.
struct Core {
    graph: Box<dyn StepGraph>,
    h: Vec<f32>,
    h_next: Vec<f32>,
    logits: Vec<f32>,
    has_logits: bool,
}

impl Stepper for Core {
    type Error = OnnxError;

    fn step_token(&mut self, token: u32) -> OnnxResult<()> {
        let vocab = self.logits.len() as u32;
        if token >= vocab {
            return Err(Error::TokenOutOfRange { token, vocab }.into());
        }
        self.graph.run(token, &self.h, &mut self.logits, &mut self.h_next)?;
        core::mem::swap(&mut self.h, &mut self.h_next);
        self.has_logits = true;
        Ok(())
    }

    fn last_logits(&self) -> Option<&[f32]> {
        self.has_logits.then_some(&self.logits[..])
    }
}

/// A token stream through an ONNX step graph.
pub struct OnnxSession {
    backend: &'static str,
    dims: Dims,
    core: Core,
    tokenizer: OwnedTokenizer,
    probs: Vec<f32>,
    order: Vec<u32>,
}

impl OnnxSession {
    fn new(backend: &'static str, info: StepInfo, graph: Box<dyn StepGraph>) -> OnnxResult<Self> {
        let (v, h) = (info.dims.vocab as usize, info.dims.hidden as usize);
        Ok(OnnxSession {
            backend,
            dims: info.dims,
            core: Core { graph, h: std::vec![0.0; h], h_next: std::vec![0.0; h], logits: std::vec![0.0; v], has_logits: false },
            tokenizer: OwnedTokenizer::new(info.tokenizer)?,
            probs: std::vec![0.0; v],
            order: std::vec![0; v],
        })
    }

    /// A session run by tract, from the bytes of an ONNX step graph.
    #[cfg(feature = "tract")]
    pub fn tract(onnx: &[u8]) -> OnnxResult<Self> {
        let (info, graph) = tract::load(onnx)?;
        OnnxSession::new("tract", info, graph)
    }

    /// A session run by ONNX Runtime (one thread), from the bytes of an ONNX step graph.
    #[cfg(feature = "ort")]
    pub fn ort(onnx: &[u8], library: &OrtLibrary) -> OnnxResult<Self> {
        let (info, graph) = ort::load(onnx, library)?;
        OnnxSession::new("ort", info, graph)
    }

    /// `tract` or `ort`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Layer sizes, from the graph's metadata.
    pub fn dims(&self) -> Dims {
        self.dims
    }

    /// The tokenizer from the graph's metadata.
    pub fn tokenizer(&self) -> OnnxResult<Tokenizer<'_>> {
        Ok(self.tokenizer.get()?)
    }

    /// Back to the initial state (h = 0, no logits).
    pub fn reset(&mut self) {
        self.core.h.iter_mut().for_each(|v| *v = 0.0);
        self.core.has_logits = false;
    }

    /// The GRU state.
    pub fn hidden(&self) -> &[f32] {
        &self.core.h
    }

    /// Logits of the last step, if there was one.
    pub fn logits(&self) -> Option<&[f32]> {
        self.core.last_logits()
    }

    /// Feeds one token; returns the logits for the next token.
    pub fn step(&mut self, token: u32) -> OnnxResult<&[f32]> {
        self.core.step_token(token)?;
        Ok(&self.core.logits)
    }

    /// Feeds every token of `text`; returns how many were fed.
    pub fn feed(&mut self, text: &str) -> OnnxResult<usize> {
        let tok = self.tokenizer.get()?;
        text::feed(&mut self.core, &tok, text)
    }

    /// Picks the next token from the current logits.
    pub fn sample(&mut self, params: &SamplingParams, rng: &mut Rng) -> OnnxResult<u32> {
        text::sample(&self.core, params, rng, &mut self.probs, &mut self.order)
    }

    /// The `out.len()` most likely next tokens, most likely first.
    pub fn top_k_next(&mut self, out: &mut [TokenProb]) -> OnnxResult<usize> {
        text::top_k(&self.core, &mut self.probs, &mut self.order, out)
    }

    /// Feeds `prompt`, then samples up to `max_tokens` tokens (see [`crate::Session::generate`]).
    pub fn generate<F>(&mut self, prompt: &str, max_tokens: usize, params: &SamplingParams, rng: &mut Rng, on_token: F) -> OnnxResult<usize>
    where
        F: FnMut(u32, &str) -> bool,
    {
        let tok = self.tokenizer.get()?;
        text::generate(&mut self.core, &tok, &mut self.probs, &mut self.order, prompt, max_tokens, params, rng, on_token)
    }
}

/// A backend's error as an [`OnnxError`].
fn backend_error<E: fmt::Display>(backend: &'static str, e: E) -> OnnxError {
    OnnxError::Backend { backend, message: e.to_string() }
}

/// Copies a backend output into `dst`, which must have the same length.
fn copy_output(backend: &'static str, name: &str, src: &[f32], dst: &mut [f32]) -> OnnxResult<()> {
    if src.len() != dst.len() {
        return Err(OnnxError::NotAStepGraph(std::format!("{backend}: output {name} has {} values, expected {}", src.len(), dst.len())));
    }
    dst.copy_from_slice(src);
    Ok(())
}
