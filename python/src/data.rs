//! Sequence files in: `.ts` (UCR/UEA) and CSV, read by the library's
//! reader (what `edgegru train --data` reads), as numpy arrays.

use std::path::PathBuf;

use edgegru_trainer::data::{self, Columns, LabelKind, ReadOptions};
use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::errors::{Kind, OrPy};

/// Reads a `.ts` or CSV file of sequences: returns `(X, y)`, `X` float32
/// `[n, steps, features]` when every sequence has the same length (else a
/// list of `[steps_i, features]`), `y` the class names (a list of str), the
/// target values (float32), or None for an unlabelled file. CSV: the
/// columns as `edgegru train --help` describes (`label_column`,
/// `id_column`, `time_column` name them when the defaults do not).
#[pyfunction]
#[pyo3(signature = (path, *, label_column = None, id_column = None, time_column = None))]
pub fn read_sequences<'py>(
    py: Python<'py>,
    path: PathBuf,
    label_column: Option<String>,
    id_column: Option<String>,
    time_column: Option<String>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let columns = Columns { id: id_column, label: label_column, time: time_column, group_ids: false };
    let options = ReadOptions { labels: LabelKind::Any, columns: &columns, features: None };
    let s = py.detach(|| data::read_sequences(&path, &options)).or_py(Kind::Data)?;
    let c = s.channels.max(1);
    let same = s.series.iter().all(|x| x.len() == s.series[0].len());
    let x = if same {
        let (n, t) = (s.len(), s.series[0].len() / c);
        PyArray1::from_vec(py, s.series.concat()).reshape([n, t, c])?.into_any()
    } else {
        let list = PyList::empty(py);
        for series in &s.series {
            list.append(PyArray1::from_slice(py, series).reshape([series.len() / c, c])?)?;
        }
        list.into_any()
    };
    let y = if !s.targets.is_empty() {
        PyArray1::from_slice(py, &s.targets).into_any()
    } else if !s.labels.is_empty() {
        let names: Vec<&str> = s.labels.iter().map(|&l| s.classes[l as usize].as_str()).collect();
        PyList::new(py, names)?.into_any()
    } else {
        py.None().into_bound(py)
    };
    Ok((x, y))
}
