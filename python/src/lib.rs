//! `edgegru._edgegru`: the Python face of edgegru, a thin layer over the
//! trainer library (the same calls the command line makes). The Python
//! package `edgegru` (../edgegru) re-exports it and adds what needs Python
//! itself: live Keras and PyTorch models, progress bars.
//!
//! - [`model`]: `Model` (a model file: info, predict, evaluate, save, ONNX).
//! - [`session`]: `Session` (step by step: tokens, features, text, states).
//! - [`convert`]: `convert_bytes` (PyTorch/Keras files in).
//! - [`fit`]: `fit_sequences`, `fit_text` and `Trained` (training from arrays or text).
//! - [`data`]: `.ts` and CSV files in as arrays; [`arrays`]: numpy arrays in, checked; [`errors`]: the exceptions.

mod arrays;
mod convert;
mod data;
mod errors;
mod fit;
mod model;
mod pyjson;
mod session;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _edgegru(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    m.add_class::<model::Model>()?;
    m.add_class::<session::Session>()?;
    m.add_class::<fit::Trained>()?;
    m.add_function(wrap_pyfunction!(model::load, m)?)?;
    m.add_function(wrap_pyfunction!(model::builtin_models, m)?)?;
    m.add_function(wrap_pyfunction!(convert::convert_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(data::read_sequences, m)?)?;
    m.add_function(wrap_pyfunction!(fit::fit_sequences, m)?)?;
    m.add_function(wrap_pyfunction!(fit::fit_text, m)?)?;
    Ok(())
}
