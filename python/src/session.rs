//! `Session`: one stream through a model, step by step, on the library's
//! session interface (the native runtime's session, or tract / ONNX
//! Runtime on the float step graph).

use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use edgegru_runtime::sampling::{SamplingParams, TokenProb};
use edgegru_trainer::backend::{tokenizer_of, Backend, OwnedSession};
use edgegru_trainer::generation::{self, GenerateOptions};
use numpy::PyArray1;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{DataError, Kind, ModelError, OrPy};

/// One stream through a model: feed tokens, text or feature vectors one
/// step at a time and read the outputs, sample text, save and restore the
/// recurrent state. Made by `Model.session()`.
#[pyclass(module = "edgegru", frozen)]
pub struct Session {
    inner: Mutex<OwnedSession>,
    backend: Backend,
}

impl Session {
    /// A session of `backend` over the model's bytes.
    pub fn open(bytes: Arc<[u8]>, backend: Backend) -> PyResult<Self> {
        Ok(Session { inner: Mutex::new(OwnedSession::open(backend, bytes, None).or_py(Kind::Model)?), backend })
    }

    /// The session, or an error while another thread is using it (waiting
    /// would deadlock: that thread needs the interpreter back to finish).
    fn lock(&self) -> PyResult<MutexGuard<'_, OwnedSession>> {
        match self.inner.try_lock() {
            Ok(g) => Ok(g),
            Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
            Err(TryLockError::WouldBlock) => {
                Err(PyRuntimeError::new_err("this session is in use by another thread; give each thread its own session"))
            }
        }
    }

    /// The session, refused for a feature model where text is needed.
    fn lock_tokens(&self) -> PyResult<MutexGuard<'_, OwnedSession>> {
        let g = self.lock()?;
        if g.get_ref().tokenizer().is_none() {
            return Err(DataError::new_err("this model reads features, not tokens: use step_features(x)"));
        }
        Ok(g)
    }
}

#[pymethods]
impl Session {
    /// Feeds token `token` (an id below the vocabulary size); returns the
    /// outputs (next-token logits), float32.
    fn step<'py>(&self, py: Python<'py>, token: i64) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let mut g = self.lock_tokens()?;
        let s = g.get();
        let vocab = s.tokenizer().map_or(0, |t| t.vocab_size()) as i64;
        if !(0..vocab).contains(&token) {
            return Err(PyValueError::new_err(format!(
                "token {token} is out of range: the vocabulary has {vocab} tokens (0..{})",
                vocab - 1
            )));
        }
        let out = s.step(token as u32).or_py(Kind::Data)?;
        Ok(PyArray1::from_slice(py, out))
    }

    /// Feeds one step's features (float32, the model's feature count; NaN is
    /// a missing value, filled as the model says); returns the outputs
    /// (class probabilities or regression values), float32.
    fn step_features<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let values: Vec<f32> = match x.extract::<numpy::PyReadonlyArray1<'_, f32>>() {
            Ok(a) => a.as_array().iter().copied().collect(),
            Err(_) if x.hasattr("dtype")? => {
                return Err(PyTypeError::new_err("x must be a 1-D float32 array (pass x.astype(numpy.float32)), or a list of floats"))
            }
            Err(_) => x.extract().map_err(|_| PyTypeError::new_err("x must be a 1-D float32 array or a list of floats"))?,
        };
        let mut g = self.lock()?;
        let s = g.get();
        if s.tokenizer().is_some() {
            return Err(DataError::new_err("this model reads tokens, not features: use step(token) or feed(text)"));
        }
        if let Some(k) = values.iter().position(|v| v.is_infinite()) {
            return Err(PyValueError::new_err(format!("feature {k} is infinite")));
        }
        let out = s.step_features(&values).or_py(Kind::Data)?;
        Ok(PyArray1::from_slice(py, out))
    }

    /// Feeds `text` (tokenized by the model's tokenizer); returns the
    /// number of tokens fed. An unknown character is an error naming it.
    fn feed(&self, py: Python<'_>, text: &str) -> PyResult<usize> {
        let mut g = self.lock_tokens()?;
        let s = &mut *g;
        py.detach(|| s.get().feed(text).map_err(anyhow::Error::from)).or_py(Kind::Data)
    }

    /// The `k` most likely next tokens after what was fed, as
    /// `(text, probability)` pairs, most likely first.
    #[pyo3(signature = (k, *, allow_oov = false))]
    fn top_k(&self, k: usize, allow_oov: bool) -> PyResult<Vec<(String, f32)>> {
        let mut g = self.lock_tokens()?;
        if k == 0 || k > 1 << 20 {
            return Err(PyValueError::new_err(format!("k must be between 1 and the vocabulary size, not {k}")));
        }
        let s = g.get();
        let vocab = s.tokenizer().map_or(0, |t| t.vocab_size()) as usize;
        let mut out = vec![TokenProb::default(); k.min(vocab.max(1))];
        let n = s.top_k_next(&mut out, allow_oov).or_py(Kind::Data)?;
        let tok = tokenizer_of(s).or_py(Kind::Data)?;
        out[..n].iter().map(|t| Ok((tok.token_text(t.token).or_py(Kind::Model)?.to_string(), t.prob))).collect()
    }

    /// Feeds `prompt`, then generates up to `max_tokens` tokens and returns
    /// them as text (the prompt not included). `temperature=0` is greedy;
    /// `top_k`/`top_p` restrict sampling; `seed` makes it repeatable (the
    /// same text as `edgegru generate --seed`). Continues from the session's state.
    #[pyo3(signature = (prompt = "", max_tokens = 100, *, temperature = 0.8, top_k = 0, top_p = 1.0, seed = 1, allow_oov = false))]
    #[allow(clippy::too_many_arguments)]
    fn generate(
        &self,
        py: Python<'_>,
        prompt: &str,
        max_tokens: usize,
        temperature: f32,
        top_k: u32,
        top_p: f32,
        seed: u64,
        allow_oov: bool,
    ) -> PyResult<String> {
        let mut g = self.lock_tokens()?;
        if !(temperature.is_finite() && temperature >= 0.0) {
            return Err(PyValueError::new_err(format!("temperature must be a number >= 0, not {temperature}")));
        }
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(PyValueError::new_err(format!("top_p must be in (0, 1], not {top_p}")));
        }
        if max_tokens > 10_000_000 {
            return Err(PyValueError::new_err(format!("max_tokens {max_tokens} is more than 10,000,000")));
        }
        let opts = GenerateOptions {
            prompt: prompt.to_string(),
            max_tokens,
            params: SamplingParams { temperature, top_k, top_p, allow_oov },
            seed,
        };
        let s = &mut *g;
        py.detach(|| generation::generate(s.get(), &opts, false, &mut |_| true)).or_py(Kind::Data)
    }

    /// Back to the initial state (zeros), as a new stream.
    fn reset(&self) -> PyResult<()> {
        self.lock()?.get().reset();
        Ok(())
    }

    /// The last GRU layer's state, float32 (a copy).
    #[getter]
    fn hidden<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f32>>> {
        Ok(PyArray1::from_slice(py, self.lock()?.get_ref().hidden()))
    }

    /// Bytes of a saved state.
    #[getter]
    fn state_size(&self) -> PyResult<usize> {
        Ok(self.lock()?.get_ref().state_size())
    }

    /// The engine: `"native"`, `"tract"` or `"ort"`.
    #[getter]
    fn backend(&self) -> &'static str {
        self.backend.name()
    }

    /// The recurrent state and last outputs, as bytes (restore them into a
    /// session of the same model with `restore_state`).
    fn save_state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let g = self.lock()?;
        let s = g.get_ref();
        let mut out = vec![0u8; s.state_size()];
        let n = s.save_state(&mut out).map_err(|e| ModelError::new_err(e.to_string()))?;
        Ok(PyBytes::new(py, &out[..n]))
    }

    /// Restores a state saved by `save_state` from a session of the same
    /// model; anything else is refused and leaves the session as it was.
    fn restore_state(&self, state: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = crate::model::byte_contents(state, "state")?;
        self.lock()?.get().restore_state(&bytes).map_err(|e| DataError::new_err(e.to_string()))
    }

    fn __repr__(&self) -> String {
        format!("<edgegru.Session ({})>", self.backend.name())
    }
}
