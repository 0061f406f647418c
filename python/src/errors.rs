//! The exceptions: `edgegru.Error` (a `ValueError`) and its kinds; a missing
//! file is Python's own `FileNotFoundError`. Each carries the library's
//! message, with its causes.

use pyo3::create_exception;
use pyo3::exceptions::{PyFileNotFoundError, PyValueError};
use pyo3::prelude::*;

create_exception!(edgegru, Error, PyValueError, "Base of edgegru's errors (a ValueError); the message is the library's, with its causes.");
create_exception!(
    edgegru,
    ModelError,
    Error,
    "A model file that cannot be used: corrupt, truncated, of another format, or not the kind of model asked for."
);
create_exception!(
    edgegru,
    DataError,
    Error,
    "Data a model or a training run cannot take: wrong sizes, refused missing values, unknown labels or tokens."
);
create_exception!(
    edgegru,
    ConvertError,
    Error,
    "A PyTorch or Keras model that cannot be converted (an unsupported graph, a vocabulary that does not fit)."
);
create_exception!(edgegru, TrainingError, Error, "A training run that cannot start or go on (bad settings, a folder holding another run).");

/// Which exception an error of the library becomes.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `ModelError`.
    Model,
    /// `DataError`.
    Data,
    /// `ConvertError`.
    Convert,
    /// `TrainingError`.
    Training,
}

/// The library's error as a Python exception of `kind` (a missing file:
/// `FileNotFoundError`), its message the whole chain of causes.
pub fn to_py(e: anyhow::Error, kind: Kind) -> PyErr {
    let message = format!("{e:#}");
    let not_found = e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound));
    if not_found {
        return PyFileNotFoundError::new_err(message);
    }
    match kind {
        Kind::Model => ModelError::new_err(message),
        Kind::Data => DataError::new_err(message),
        Kind::Convert => ConvertError::new_err(message),
        Kind::Training => TrainingError::new_err(message),
    }
}

/// `Result` of the library → `PyResult`, as `kind`.
pub trait OrPy<T> {
    /// Converts the error with [`to_py`].
    fn or_py(self, kind: Kind) -> PyResult<T>;
}

impl<T, E: Into<anyhow::Error>> OrPy<T> for Result<T, E> {
    fn or_py(self, kind: Kind) -> PyResult<T> {
        self.map_err(|e| to_py(e.into(), kind))
    }
}

/// Adds the exceptions to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("ConvertError", py.get_type::<ConvertError>())?;
    m.add("TrainingError", py.get_type::<TrainingError>())?;
    Ok(())
}
