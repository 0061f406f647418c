//! `Model`: a model file in memory, what it holds, and the jobs done on it
//! whole (predict, evaluate, save, ONNX), each by the library's own calls.

use std::path::PathBuf;
use std::sync::Arc;

use edgegru_runtime::writer::WeightKind;
use edgegru_runtime::{Fill, HeadKind};
use edgegru_trainer::backend::{bytes_for, with_session, Backend};
use edgegru_trainer::data::Sequences;
use edgegru_trainer::evaluate::{self, features_of, head_of, stream};
use edgegru_trainer::export::{self, Encoding};
use edgegru_trainer::{builtin, files, info};
use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::{PyFileExistsError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString};

use crate::arrays;
use crate::errors::{DataError, Kind, OrPy};
use crate::pyjson;
use crate::session::Session;

/// A model file (`.egru`) in memory: what it holds (`info`), its outputs on
/// your data computed as the device computes them (`predict`, `evaluate`,
/// `session`), and the files it can be written as (`save`, `to_onnx`).
#[pyclass(module = "edgegru", frozen)]
pub struct Model {
    pub(crate) bytes: Arc<[u8]>,
    verification: Option<Py<PyAny>>,
}

impl Model {
    /// A model from checked `.egru` bytes, with the import's check if any.
    pub fn new(bytes: Vec<u8>, verification: Option<Py<PyAny>>) -> PyResult<Self> {
        edgegru_runtime::Model::from_bytes(&bytes).or_py(Kind::Model)?;
        Ok(Model { bytes: bytes.into(), verification })
    }
}

/// `bytes` or `bytearray` contents.
pub fn byte_contents(data: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(b) = data.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = data.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    let kind = data.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    Err(PyTypeError::new_err(format!("{what} must be bytes or bytearray, not {kind}")))
}

/// An engine by name: `native`, `tract` or `ort`.
pub fn backend(name: &str) -> PyResult<Backend> {
    match name {
        "native" => Ok(Backend::Native),
        "tract" => Ok(Backend::Tract),
        "ort" => Ok(Backend::Ort),
        _ => Err(PyValueError::new_err(format!("backend {name:?}: use \"native\", \"tract\" or \"ort\""))),
    }
}

/// Refuses to replace an existing file unless `overwrite`.
fn writable(path: &std::path::Path, overwrite: bool) -> PyResult<()> {
    if path.exists() && !overwrite && !path.is_dir() {
        return Err(PyFileExistsError::new_err(format!("{} exists; pass overwrite=True to replace it", path.display())));
    }
    Ok(())
}

/// Loads a model: an `.egru` file's path, or a built-in model's name
/// (`edgegru.builtin_models()`).
#[pyfunction]
pub fn load(path_or_name: PathBuf) -> PyResult<Model> {
    let name = path_or_name.to_string_lossy();
    match builtin::resolve(&name) {
        Ok(bytes) => Model::new(bytes, None),
        // A path (a folder or an extension in it) that is not there: Python's own error.
        Err(e) if !path_or_name.exists() && (path_or_name.components().count() > 1 || path_or_name.extension().is_some()) => {
            Err(pyo3::exceptions::PyFileNotFoundError::new_err(format!("{e:#}")))
        }
        Err(e) => Err(crate::errors::to_py(e, Kind::Model)),
    }
}

/// The names of the models built into the package.
#[pyfunction]
pub fn builtin_models() -> Vec<&'static str> {
    builtin::BUILT_IN.iter().map(|b| b.name).collect()
}

#[pymethods]
impl Model {
    /// A model from the bytes of an `.egru` file (checked as the device checks them).
    #[staticmethod]
    fn from_bytes(data: &Bound<'_, PyAny>) -> PyResult<Model> {
        Model::new(byte_contents(data, "data")?, None)
    }

    /// What the file holds: input, layers, head, tokenizer, numerics, sizes (a dict).
    #[getter]
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        pyjson::to_py(py, &info::describe(&self.bytes).or_py(Kind::Model)?)
    }

    /// For a converted model: the check of the conversion (a dict), else None.
    #[getter]
    fn verification(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.verification.as_ref().map(|v| v.clone_ref(py))
    }

    /// The `.egru` file's bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.bytes)
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.to_bytes(py)
    }

    fn __repr__(&self) -> String {
        match info::describe(&self.bytes) {
            Ok(i) => format!(
                "<edgegru.Model {:?}: {} -> GRU {:?} -> {} {}, {} numerics, {} bytes>",
                i.name,
                if i.input == "tokens" { format!("{} tokens", i.vocab) } else { format!("{} features", i.features) },
                i.gru,
                i.outputs,
                i.head,
                i.numerics,
                i.file_bytes
            ),
            Err(_) => "<edgegru.Model (unreadable)>".into(),
        }
    }

    /// Writes the `.egru` file to `path` (an existing file only with `overwrite=True`).
    #[pyo3(signature = (path, *, overwrite = false))]
    fn save(&self, path: PathBuf, overwrite: bool) -> PyResult<()> {
        writable(&path, overwrite)?;
        files::write_new_file(&path, &self.bytes, overwrite).or_py(Kind::Model)
    }

    /// Writes the model's ONNX step graph to `path`: `weights="f32"` (the
    /// weights dequantized) or `"int8"` (QDQ).
    #[pyo3(signature = (path, *, weights = "f32", overwrite = false))]
    fn to_onnx(&self, path: PathBuf, weights: &str, overwrite: bool) -> PyResult<()> {
        let encoding = Encoding { weights: Some(weight_kind(weights)?), ..Encoding::default() };
        let onnx = export::model_to_onnx(&self.bytes, &encoding).or_py(Kind::Model)?;
        writable(&path, overwrite)?;
        files::write_new_file(&path, &onnx, overwrite).or_py(Kind::Model)
    }

    /// Writes the model as C source for firmware: `path` (e.g. `gesture.c`)
    /// and the header beside it (`gesture.h`), the array `name` (a C
    /// identifier) aligned to 16 bytes with its sizes as macros
    /// (`NAME_SIZE`, `NAME_ARENA_SIZE`, ...), as `edgegru export --format c` writes them.
    #[pyo3(signature = (path, name, *, overwrite = false))]
    fn to_c(&self, path: PathBuf, name: &str, overwrite: bool) -> PyResult<()> {
        let header = path.with_extension("h");
        let header_name = header.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let (h, c) =
            edgegru_trainer::embed::c_source(&self.bytes, name, &header_name).map_err(|e| PyValueError::new_err(format!("{e:#}")))?;
        writable(&path, overwrite)?;
        writable(&header, overwrite)?;
        files::write_new_file(&header, h.as_bytes(), overwrite).or_py(Kind::Model)?;
        files::write_new_file(&path, c.as_bytes(), overwrite).or_py(Kind::Model)
    }

    /// The same model with its int8 matrices in another layout
    /// (`"portable"` or `"arm-dsp"`); every output bit stays the same.
    fn with_layout(&self, layout: &str) -> PyResult<Model> {
        let out = export::relayout(&self.bytes, std::path::Path::new("the model"), crate::convert::layout(layout)?).or_py(Kind::Model)?;
        Model::new(out, None)
    }

    /// A session to step through: tokens or feature vectors, text, states.
    /// `backend`: `"native"` (the device's runtime), `"tract"` or `"ort"`
    /// (the model's float ONNX step graph).
    #[pyo3(signature = (*, backend = "native"))]
    fn session(&self, backend: &str) -> PyResult<Session> {
        Session::open(self.bytes.clone(), crate::model::backend(backend)?)
    }

    /// Runs each sequence of `X` through the model step by step, as a device
    /// streams it, from a fresh state: `X` float32 `[n, steps, features]`, or
    /// a list of `[steps_i, features]` arrays. Returns the last step's
    /// outputs `[n, outputs]` (class probabilities, or regression values);
    /// with `per_step=True` every step's: `[n, steps, outputs]` (a list of
    /// `[steps_i, outputs]` for a list). The native backend gives the C
    /// library's bits.
    #[pyo3(signature = (x, *, per_step = false, backend = "native"))]
    fn predict<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>, per_step: bool, backend: &str) -> PyResult<Bound<'py, PyAny>> {
        let engine = crate::model::backend(backend)?;
        let input = self.feature_input(x)?;
        let bytes = self.bytes.clone();
        let channels = input.features;
        let results: Vec<(Vec<f32>, usize)> = py
            .detach(|| {
                let model = bytes_for(engine, &bytes)?;
                with_session(engine, &model, None, |session| {
                    let mut out = Vec::with_capacity(input.series.len());
                    for series in &input.series {
                        let mut steps = Vec::new();
                        let last = stream(session, series, channels, |p| {
                            if per_step {
                                steps.extend_from_slice(p)
                            }
                        })?;
                        let width = last.len();
                        out.push((if per_step { steps } else { last }, width));
                    }
                    Ok(out)
                })
            })
            .or_py(Kind::Data)?;
        outputs_array(py, results, &input, per_step)
    }

    /// Scores the model as a device runs it. A classifier: `evaluate(X, y)`
    /// with `y` the class names (or integers, read as names) → accuracy,
    /// macro precision/recall/F1, loss, confusion matrix. A regressor:
    /// `evaluate(X, y)` with target values → RMSE, MAE, R². A text model:
    /// `evaluate(text)` → loss, perplexity, accuracy, macro P/R/F1 over the
    /// last `val_split` of the text (all of it by default).
    #[pyo3(signature = (data, y = None, *, val_split = 1.0, skip_unknown = false))]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        y: Option<&Bound<'py, PyAny>>,
        val_split: f64,
        skip_unknown: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (head, _) = head_of(&self.bytes).or_py(Kind::Model)?;
        if let Ok(text) = data.cast::<PyString>() {
            if head != HeadKind::NextToken {
                return Err(DataError::new_err("this model reads features, not text: evaluate(X, y) with X float32 [n, steps, features]"));
            }
            if !(0.0..=1.0).contains(&val_split) || val_split == 0.0 {
                return Err(PyValueError::new_err(format!("val_split must be in (0, 1], not {val_split}")));
            }
            let (bytes, text) = (self.bytes.clone(), text.extract::<String>()?);
            let report =
                py.detach(|| evaluate::evaluate_text(Backend::Native, &bytes, &text, val_split, skip_unknown)).or_py(Kind::Data)?;
            return pyjson::to_py(py, &report);
        }
        if head == HeadKind::NextToken {
            return Err(DataError::new_err("this model reads text: evaluate(text) with a str"));
        }
        let Some(y) = y else { return Err(PyValueError::new_err("evaluate(X, y) needs y: the class labels or target values")) };
        let input = self.feature_input(data)?;
        let n = input.series.len();
        let mut seqs = Sequences { channels: input.features, series: input.series, ..Sequences::default() };
        let bytes = self.bytes.clone();
        if head == HeadKind::Regression {
            seqs.targets = arrays::targets(y, n)?;
            let report = py.detach(|| evaluate::evaluate_regression(Backend::Native, &bytes, &seqs)).or_py(Kind::Data)?;
            return pyjson::to_py(py, &report);
        }
        (seqs.labels, seqs.classes) = index_labels(arrays::labels(y, n)?);
        let report = py.detach(|| evaluate::evaluate_sequences(Backend::Native, &bytes, &seqs)).or_py(Kind::Data)?;
        pyjson::to_py(py, &report)
    }
}

impl Model {
    /// `x` as the model's feature sequences; a token model, another feature
    /// count, or a NaN the model refuses is an error.
    fn feature_input(&self, x: &Bound<'_, PyAny>) -> PyResult<arrays::SeriesIn> {
        let model = features_of(&self.bytes).map_err(|_| {
            DataError::new_err("this model reads tokens, not features: use model.session() (step, feed, generate) or evaluate(text)")
        })?;
        let input = arrays::series(x, model.count)?;
        if model.fill == Fill::Refuse {
            if let Some((i, _)) = input.series.iter().enumerate().find(|(_, s)| s.iter().any(|v| v.is_nan())) {
                return Err(DataError::new_err(format!(
                    "sequence {i} holds a missing value (NaN) and the model refuses them (train or convert it with fill=\"zero\", \"mean\" or \"previous\")"
                )));
            }
        }
        Ok(input)
    }
}

/// Names as indices into their distinct values (in order of appearance).
pub fn index_labels(names: Vec<String>) -> (Vec<u32>, Vec<String>) {
    let mut classes: Vec<String> = Vec::new();
    let labels = names
        .into_iter()
        .map(|n| match classes.iter().position(|c| *c == n) {
            Some(i) => i as u32,
            None => {
                classes.push(n);
                (classes.len() - 1) as u32
            }
        })
        .collect();
    (labels, classes)
}

/// The outputs as numpy: `[n, C]`, `[n, T, C]`, or a list of `[T_i, C]`.
fn outputs_array<'py>(
    py: Python<'py>,
    results: Vec<(Vec<f32>, usize)>,
    input: &arrays::SeriesIn,
    per_step: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let width = results.first().map_or(0, |r| r.1);
    let n = results.len();
    if !per_step {
        let flat: Vec<f32> = results.into_iter().flat_map(|r| r.0).collect();
        return Ok(PyArray1::from_vec(py, flat).reshape([n, width])?.into_any());
    }
    if input.stacked {
        let steps = input.series[0].len() / input.features;
        let flat: Vec<f32> = results.into_iter().flat_map(|r| r.0).collect();
        return Ok(PyArray1::from_vec(py, flat).reshape([n, steps, width])?.into_any());
    }
    let list = PyList::empty(py);
    for (values, w) in results {
        let t = values.len() / w.max(1);
        list.append(PyArray1::from_vec(py, values).reshape([t, w])?)?;
    }
    Ok(list.into_any())
}

/// `"f32"`, `"f16"` or `"int8"`.
pub fn weight_kind(name: &str) -> PyResult<WeightKind> {
    match name {
        "f32" => Ok(WeightKind::F32),
        "f16" => Ok(WeightKind::F16),
        "int8" => Ok(WeightKind::Int8),
        _ => Err(PyValueError::new_err(format!("weights {name:?}: use \"f32\", \"f16\" or \"int8\""))),
    }
}
