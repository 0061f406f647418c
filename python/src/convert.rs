//! Models trained with PyTorch or Keras in: the bytes of an ONNX export or
//! a Keras file, imported and checked by the library's `import` (what
//! `edgegru import` runs). Live framework objects are saved to files by the
//! Python package first (edgegru/_convert.py).

use edgegru_runtime::writer::Layout;
use edgegru_runtime::{Fill, HeadKind};
use edgegru_trainer::export::Encoding;
use edgegru_trainer::import::vocab::{self, ListRules};
use edgegru_trainer::import::{import, ImportOptions, SourceKind};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::{Kind, OrPy};
use crate::model::{byte_contents, weight_kind, Model};
use crate::pyjson;

/// How the converted model is stored.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct EncodingIn {
    /// `f32`, `f16` or `int8`.
    pub weights: String,
    /// int8 matrices block-sparse.
    pub sparse: bool,
    /// `hybrid` or `int`.
    pub numerics: String,
    /// `portable` or `arm-dsp`.
    pub layout: String,
}

impl EncodingIn {
    /// The library's encoding; unknown names are refused.
    pub fn encoding(&self) -> PyResult<Encoding> {
        let integer = match self.numerics.as_str() {
            "hybrid" => false,
            "int" | "integer" => true,
            other => return Err(PyValueError::new_err(format!("numerics {other:?}: use \"hybrid\" or \"int\""))),
        };
        let layout = layout(&self.layout)?;
        Ok(Encoding { weights: Some(weight_kind(&self.weights)?), sparse: self.sparse, integer, layout })
    }
}

/// A layout by name: `portable` or `arm-dsp`.
pub fn layout(name: &str) -> PyResult<Layout> {
    match name {
        "portable" => Ok(Layout::Portable),
        "arm-dsp" => Ok(Layout::ArmDsp),
        other => Err(PyValueError::new_err(format!("layout {other:?}: use \"portable\" or \"arm-dsp\""))),
    }
}

/// A fill policy by name.
pub fn fill(name: &str) -> PyResult<Fill> {
    Fill::from_name(name).ok_or_else(|| PyValueError::new_err(format!("fill {name:?}: use \"refuse\", \"zero\", \"mean\" or \"previous\"")))
}

/// Converts the bytes of an ONNX export (`kind="onnx"`) or a Keras file
/// (`kind="keras"`, `.keras` or `.h5`) into a `Model` whose `verification`
/// holds the import's check; the same bytes as `edgegru import` writes.
#[pyfunction]
#[pyo3(signature = (source, kind, encoding, *, vocab = None, oov = None, lower = false, filters = None, classes = None, head = None,
                    feature_names = None, fill = "refuse", input_range = 4.0, check_prompt = None, name = "model"))]
#[allow(clippy::too_many_arguments)]
pub fn convert_bytes(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    kind: &str,
    encoding: EncodingIn,
    vocab: Option<&Bound<'_, PyAny>>,
    oov: Option<String>,
    lower: bool,
    filters: Option<String>,
    classes: Option<Vec<String>>,
    head: Option<&str>,
    feature_names: Option<Vec<String>>,
    fill: &str,
    input_range: f32,
    check_prompt: Option<String>,
    name: &str,
) -> PyResult<Model> {
    let source = byte_contents(source, "source")?;
    let kind = match kind {
        "onnx" => SourceKind::Onnx,
        "keras" => SourceKind::Keras,
        other => return Err(PyValueError::new_err(format!("kind {other:?}: use \"onnx\" or \"keras\""))),
    };
    let opts = encoding.encoding()?.options(edgegru_runtime::writer::WeightKind::Int8).or_py(Kind::Convert)?;
    let fill = crate::convert::fill(fill)?;
    let feature_names = feature_names.unwrap_or_default();
    let tokenizer = match vocab {
        Some(v) => {
            if !feature_names.is_empty() || fill != Fill::Refuse {
                return Err(PyValueError::new_err("feature_names and fill are for feature models; a model with a vocab reads tokens"));
            }
            let rules = ListRules { oov, lowercase: lower, filters };
            Some(vocab::read(&byte_contents(v, "vocab")?, &rules).or_py(Kind::Convert)?)
        }
        None => None,
    };
    let head = match head {
        None => None,
        Some(h) => Some(
            HeadKind::from_name(h)
                .ok_or_else(|| PyValueError::new_err(format!("head {h:?}: use \"next-token\", \"classes\" or \"regression\"")))?,
        ),
    };
    let options = ImportOptions { head, classes, input_range, feature_names, fill };
    let imported = py.detach(|| import(&source, kind, tokenizer, &options, &opts, name, check_prompt.as_deref())).or_py(Kind::Convert)?;
    let verification = pyjson::to_py(py, &imported.verification)?.unbind();
    Model::new(imported.bytes, Some(verification))
}
