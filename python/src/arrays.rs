//! numpy arrays in: feature sequences (`[n, T, F]` float32, or a list of
//! `[T_i, F]`), labels and target values, each checked with an error that
//! says what was expected.

use numpy::{PyArrayDescrMethods, PyReadonlyArray2, PyReadonlyArray3, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

/// Feature sequences taken from Python: each `[steps * features]`, row-major.
pub struct SeriesIn {
    /// The sequences.
    pub series: Vec<Vec<f32>>,
    /// Features per step.
    pub features: usize,
    /// Whether they came as one `[n, T, F]` array (outputs then stack the same way).
    pub stacked: bool,
}

/// The dtype's name of a numpy array, for messages.
fn dtype_name(a: &Bound<'_, PyUntypedArray>) -> String {
    a.dtype().str().map(|s| s.to_string()).unwrap_or_else(|_| "?".into())
}

/// Refuses an array that is not float32 or has another rank.
fn check_array<'py>(x: &Bound<'py, PyAny>, what: &str, ndim: usize, shape: &str) -> PyResult<Bound<'py, PyUntypedArray>> {
    let Ok(a) = x.cast::<PyUntypedArray>() else {
        let kind = x.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        return Err(PyTypeError::new_err(format!("{what} must be a numpy float32 array {shape}, not {kind}")));
    };
    let dtype = dtype_name(a);
    if !a.dtype().is_equiv_to(&numpy::dtype::<f32>(x.py())) {
        return Err(PyTypeError::new_err(format!(
            "{what} must be float32 (the device computes in f32), not {dtype}: pass {what}.astype(numpy.float32)"
        )));
    }
    if a.ndim() != ndim {
        return Err(PyValueError::new_err(format!("{what} must have {ndim} dimensions {shape}, not {} (shape {:?})", a.ndim(), a.shape())));
    }
    Ok(a.clone())
}

/// `x` as sequences of `features` values per step (0: any, the first
/// sequence's); infinite values are refused, NaN is kept (a missing value).
pub fn series(x: &Bound<'_, PyAny>, features: usize) -> PyResult<SeriesIn> {
    let (series, stacked) = if x.cast::<PyList>().is_ok() || x.cast::<PyTuple>().is_ok() {
        let mut all = Vec::new();
        for (i, item) in x.try_iter()?.enumerate() {
            let item = item?;
            check_array(&item, &format!("X[{i}]"), 2, "[steps, features]")?;
            let a: PyReadonlyArray2<'_, f32> = item.extract()?;
            let v = a.as_array();
            all.push((v.shape()[1], v.iter().copied().collect::<Vec<f32>>(), v.shape()[0]));
        }
        (all, false)
    } else {
        check_array(x, "X", 3, "[sequences, steps, features]")?;
        let a: PyReadonlyArray3<'_, f32> = x.extract()?;
        let v = a.as_array();
        let (n, t, f) = v.dim();
        let items = (0..n).map(|i| (f, v.index_axis(numpy::ndarray::Axis(0), i).iter().copied().collect(), t)).collect();
        (items, true)
    };
    if series.is_empty() {
        return Err(PyValueError::new_err("X holds no sequences"));
    }
    let want = if features > 0 { features } else { series[0].0 };
    let mut out = Vec::with_capacity(series.len());
    for (i, (f, values, steps)) in series.into_iter().enumerate() {
        if f != want {
            let whose = if features > 0 { "the model reads" } else { "the first sequence has" };
            return Err(PyValueError::new_err(format!("sequence {i} has {f} features per step; {whose} {want}")));
        }
        if steps == 0 || f == 0 {
            return Err(PyValueError::new_err(format!("sequence {i} is empty ({steps} steps of {f} features)")));
        }
        if let Some(k) = values.iter().position(|v| v.is_infinite()) {
            return Err(PyValueError::new_err(format!("sequence {i}, step {}, feature {}: the value is infinite", k / f, k % f)));
        }
        out.push(values);
    }
    Ok(SeriesIn { series: out, features: want, stacked })
}

/// Class labels: strings, or integers (their decimal text is the class
/// name), as a list or a 1-D array, one per sequence.
pub fn labels(y: &Bound<'_, PyAny>, n: usize) -> PyResult<Vec<String>> {
    let items = listed(y, "y")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let name = if let Ok(s) = item.cast::<PyString>() {
            s.extract::<String>()?
        } else if item.is_instance_of::<pyo3::types::PyBool>() {
            return Err(PyTypeError::new_err(format!("y[{i}] is a bool; give class names (str) or integers")));
        } else if let Ok(k) = item.extract::<i64>() {
            k.to_string()
        } else {
            let kind = item.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            return Err(PyTypeError::new_err(format!("y[{i}] is a {kind}; class labels are str or int")));
        };
        out.push(name);
    }
    same_count(out.len(), n, "labels")?;
    Ok(out)
}

/// Regression targets: finite numbers, one per sequence.
pub fn targets(y: &Bound<'_, PyAny>, n: usize) -> PyResult<Vec<f32>> {
    let items = listed(y, "y")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let v: f64 = item.extract().map_err(|_| PyTypeError::new_err(format!("y[{i}] is not a number")))?;
        if !v.is_finite() {
            return Err(PyValueError::new_err(format!("y[{i}] is {v}; regression targets must be finite")));
        }
        out.push(v as f32);
    }
    same_count(out.len(), n, "target values")?;
    Ok(out)
}

/// `y` as a list of Python objects (numpy arrays through `tolist()`).
fn listed<'py>(y: &Bound<'py, PyAny>, what: &str) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let y = if y.hasattr("tolist")? { y.call_method0("tolist")? } else { y.clone() };
    if y.cast::<PyString>().is_ok() {
        return Err(PyTypeError::new_err(format!("{what} must be a sequence of labels, not a str")));
    }
    let items: Vec<_> =
        y.try_iter().map_err(|_| PyTypeError::new_err(format!("{what} must be a list or a 1-D array")))?.collect::<PyResult<_>>()?;
    if items.iter().any(|i| i.cast::<PyList>().is_ok()) {
        return Err(PyValueError::new_err(format!("{what} must be one-dimensional: one label per sequence")));
    }
    Ok(items)
}

fn same_count(got: usize, n: usize, what: &str) -> PyResult<()> {
    if got != n {
        return Err(PyValueError::new_err(format!("{got} {what} for {n} sequences")));
    }
    Ok(())
}
