//! Training from Python: sequences given as numpy arrays (written to the
//! run folder as `.ts` files, so that the command line can resume or
//! re-run the same training) or a text corpus, trained by the library's
//! `run::train`; progress goes to a Python callable, and Ctrl-C stops the
//! run at a step boundary, keeping what was trained.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use edgegru_runtime::writer::WeightKind;
use edgegru_trainer::checkpoint::{locate, Checkpoint, Which};
use edgegru_trainer::config::{Task, TokenizerChoice, TrainConfig};
use edgegru_trainer::data::Sequences;
use edgegru_trainer::engine::Device;
use edgegru_trainer::history::History;
use edgegru_trainer::prune::{PruneConfig, PruneShape};
use edgegru_trainer::run::{self, Ending, Event, OutMode, Outcome, ProgressFn};
use edgegru_trainer::{export, files};
use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::arrays;
use crate::convert::{fill, EncodingIn};
use crate::errors::{Kind, OrPy};
use crate::model::{index_labels, Model};

/// A run's settings, from the Python package's keyword arguments.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct Settings {
    hidden: u32,
    layers: usize,
    dense: u32,
    epochs: Option<u64>,
    steps: Option<u64>,
    batch: usize,
    lr: f32,
    seed: u64,
    device: String,
    threads: usize,
    patience: Option<u32>,
    val_split: f64,
    fill: String,
    emb: u32,
    seq_len: usize,
    tokenizer: String,
}

impl Settings {
    /// The run's configuration for `task` on `data`.
    fn config(&self, task: Task, data: PathBuf) -> PyResult<TrainConfig> {
        if self.layers == 0 || self.layers > 4 || self.hidden == 0 {
            return Err(PyValueError::new_err(format!(
                "layers must be 1 to 4 and hidden at least 1 (got layers={}, hidden={})",
                self.layers, self.hidden
            )));
        }
        if self.epochs.is_none() && self.steps.is_none() {
            return Err(PyValueError::new_err("give epochs= or steps= (how long to train)"));
        }
        let mut c = TrainConfig::new(task, data);
        c.hidden = vec![self.hidden; self.layers];
        c.regularization.dropout = vec![0.0; self.layers];
        c.regularization.recurrent_dropout = vec![0.0; self.layers];
        (c.dense, c.epochs, c.steps, c.batch, c.seed, c.threads) =
            (self.dense, self.epochs, self.steps, self.batch, self.seed, self.threads);
        (c.patience, c.val_split, c.emb, c.seq_len) = (self.patience, self.val_split, self.emb, self.seq_len);
        c.optimizer.lr = self.lr;
        c.fill = fill(&self.fill)?;
        c.device = match self.device.as_str() {
            "cpu" => Device::Cpu,
            "cuda" => Device::Cuda,
            other => return Err(PyValueError::new_err(format!("device {other:?}: use \"cpu\" or \"cuda\""))),
        };
        c.tokenizer = match self.tokenizer.as_str() {
            "char" => TokenizerChoice::Char,
            "word" => TokenizerChoice::Word,
            other => return Err(PyValueError::new_err(format!("tokenizer {other:?}: use \"char\" or \"word\""))),
        };
        c.validate().or_py(Kind::Training)?;
        Ok(c)
    }
}

/// Where a run goes: its folder, whether it is temporary (removed with the
/// result), and whether a run already there may be replaced.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct RunPlace {
    out: PathBuf,
    temporary: bool,
    overwrite: bool,
}

impl RunPlace {
    /// The folder, absolute, made ready for a new run (or a replaced one).
    fn prepare(&self) -> PyResult<PathBuf> {
        let out = files::absolute(&self.out).or_py(Kind::Training)?;
        run::prepare_out(&out, if self.overwrite { OutMode::Replace } else { OutMode::New }).or_py(Kind::Training)?;
        Ok(out)
    }
}

/// Sequences from arrays: `y` class labels (`classify`) or targets (`regress`).
fn sequences(task: Task, x: &Bound<'_, PyAny>, y: &Bound<'_, PyAny>, features: usize, classes: &[String]) -> PyResult<Sequences> {
    let input = arrays::series(x, features)?;
    let n = input.series.len();
    let mut s = Sequences { channels: input.features, series: input.series, ..Sequences::default() };
    if task == Task::Regress {
        s.targets = arrays::targets(y, n)?;
        return Ok(s);
    }
    let names = arrays::labels(y, n)?;
    if classes.is_empty() {
        let (_, mut distinct) = index_labels(names.clone());
        // Integers in numeric order, names in text order: the model's class order.
        distinct.sort_by(|a, b| match (a.parse::<i64>(), b.parse::<i64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => a.cmp(b),
        });
        s.classes = distinct;
    } else {
        s.classes = classes.to_vec();
    }
    s.labels = names
        .iter()
        .map(|n| s.classes.iter().position(|c| c == n).map(|i| i as u32))
        .collect::<Option<_>>()
        .ok_or_else(|| PyValueError::new_err(format!("y_val holds a class the training labels do not ({})", s.classes.join(", "))))?;
    Ok(s)
}

/// Writes `s` as `dir/name` (a `.ts` file the run reads).
fn write_ts(dir: &Path, name: &str, s: &Sequences) -> PyResult<PathBuf> {
    let path = dir.join("data").join(name);
    let text = s.to_ts().or_py(Kind::Data)?;
    std::fs::create_dir_all(path.parent().unwrap_or(dir)).or_py(Kind::Training)?;
    files::write_file(&path, text.as_bytes()).or_py(Kind::Training)?;
    Ok(path)
}

/// Trains a classifier (`task="classify"`) or regressor (`"regress"`) on
/// arrays, in the run folder `place` says.
#[pyfunction]
#[pyo3(signature = (task, x, y, x_val, y_val, settings, place, progress = None))]
#[allow(clippy::too_many_arguments)]
pub fn fit_sequences(
    py: Python<'_>,
    task: &str,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    x_val: Option<&Bound<'_, PyAny>>,
    y_val: Option<&Bound<'_, PyAny>>,
    settings: Settings,
    place: RunPlace,
    progress: Option<Py<PyAny>>,
) -> PyResult<Trained> {
    let task = match task {
        "classify" => Task::Classify,
        "regress" => Task::Regress,
        other => return Err(PyValueError::new_err(format!("task {other:?}: use \"classify\" or \"regress\""))),
    };
    let train = sequences(task, x, y, 0, &[])?;
    let val = match (x_val, y_val) {
        (Some(xv), Some(yv)) => Some(sequences(task, xv, yv, train.channels, &train.classes)?),
        (None, None) => None,
        _ => return Err(PyValueError::new_err("give both x_val and y_val, or neither")),
    };
    let out = place.prepare()?;
    let mut config = settings.config(task, write_ts(&out, "train.ts", &train)?)?;
    if let Some(v) = &val {
        config.val_data = Some(write_ts(&out, "val.ts", v)?);
    }
    train_in(py, config, out, place.temporary, progress)
}

/// Trains a text model on `corpus` (a file or folder) or on `text`.
#[pyfunction]
#[pyo3(signature = (corpus, text, settings, place, progress = None))]
pub fn fit_text(
    py: Python<'_>,
    corpus: Option<PathBuf>,
    text: Option<String>,
    settings: Settings,
    place: RunPlace,
    progress: Option<Py<PyAny>>,
) -> PyResult<Trained> {
    let corpus = match (corpus, text) {
        (Some(path), None) => {
            if !path.exists() {
                return Err(pyo3::exceptions::PyFileNotFoundError::new_err(format!("{} does not exist", path.display())));
            }
            place.prepare()?;
            files::absolute(&path).or_py(Kind::Training)?
        }
        (None, Some(text)) => {
            let out = place.prepare()?;
            let path = out.join("data").join("corpus.txt");
            std::fs::create_dir_all(out.join("data")).or_py(Kind::Training)?;
            files::write_file(&path, text.as_bytes()).or_py(Kind::Training)?;
            path
        }
        _ => return Err(PyValueError::new_err("give a corpus path or a text, one of them")),
    };
    let config = settings.config(Task::Lm, corpus)?;
    train_in(py, config, files::absolute(&place.out).or_py(Kind::Training)?, place.temporary, progress)
}

/// Runs `config` in `out` with the GIL released; events go to `progress`
/// and Ctrl-C (a pending KeyboardInterrupt) stops at the next step.
fn train_in(py: Python<'_>, config: TrainConfig, out: PathBuf, temporary: bool, progress: Option<Py<PyAny>>) -> PyResult<Trained> {
    let outcome = run_with_progress(py, &out, progress, |stop, progress| run::train(config, &out, None, stop, progress))?;
    Ok(Trained::new(out, temporary, &outcome))
}

/// Runs `job` detached from the interpreter, reporting each event to
/// `progress` and watching for Ctrl-C; a callback's exception stops the run
/// and is raised; a Ctrl-C stops it and warns.
fn run_with_progress(
    py: Python<'_>,
    out: &Path,
    progress: Option<Py<PyAny>>,
    job: impl FnOnce(Arc<AtomicBool>, &mut dyn run::Progress) -> anyhow::Result<Outcome> + Send,
) -> PyResult<Outcome> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut raised: Option<PyErr> = None;
    let result = py.detach(|| {
        let mut on_event = ProgressFn(|event: Event<'_>| {
            if raised.is_some() {
                return;
            }
            Python::attach(|py| {
                let called = match &progress {
                    Some(cb) => event_dict(py, &event).and_then(|d| cb.call1(py, (d,)).map(drop)),
                    None => Ok(()),
                };
                if let Err(e) = called.and_then(|_| py.check_signals()) {
                    raised = Some(e);
                    stop.store(true, Ordering::SeqCst);
                }
            });
        });
        job(stop.clone(), &mut on_event)
    });
    let outcome = result.or_py(Kind::Training)?;
    match raised {
        Some(e) if e.is_instance_of::<PyKeyboardInterrupt>(py) => {
            let msg = format!("interrupted at step {}: what was trained is kept (checkpoint in {})", outcome.steps, out.display());
            PyErr::warn(py, &py.get_type::<pyo3::exceptions::PyUserWarning>(), &std::ffi::CString::new(msg).unwrap_or_default(), 1)?;
            Ok(outcome)
        }
        Some(e) => Err(e),
        None => Ok(outcome),
    }
}

/// A training event as a dict with an `"event"` key: `start`, `step`, `record` or `note`.
fn event_dict<'py>(py: Python<'py>, event: &Event<'_>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match event {
        Event::Start { net, plan } => {
            d.set_item("event", "start")?;
            d.set_item("network", net.describe())?;
            d.set_item("train", plan.train_tokens)?;
            d.set_item("val", plan.val_tokens)?;
            d.set_item("steps_per_epoch", plan.steps_per_epoch)?;
            d.set_item("first_step", plan.first_step)?;
            d.set_item("validation", &plan.validation)?;
        }
        Event::Step { step, total, loss, tokens_per_sec, eta_sec } => {
            d.set_item("event", "step")?;
            d.set_item("step", step)?;
            d.set_item("total", total)?;
            d.set_item("loss", loss)?;
            d.set_item("tokens_per_sec", tokens_per_sec)?;
            d.set_item("eta_sec", eta_sec)?;
        }
        Event::Record(r) => {
            let row = crate::pyjson::to_py(py, r)?;
            d.update(row.cast::<pyo3::types::PyMapping>()?)?;
            d.set_item("event", "record")?;
        }
        Event::Note(text) => {
            d.set_item("event", "note")?;
            d.set_item("text", *text)?;
        }
    }
    Ok(d)
}

/// A trained network: its run folder (checkpoints, history, data), its
/// history, and its export to a `Model`.
#[pyclass(module = "edgegru", frozen)]
pub struct Trained {
    run_dir: PathBuf,
    temporary: bool,
    steps: u64,
    ending: &'static str,
    best: Option<(u64, f64)>,
}

impl Trained {
    fn new(run_dir: PathBuf, temporary: bool, o: &Outcome) -> Self {
        let ending = match o.ending {
            Ending::Finished => "finished",
            Ending::EarlyStopped => "stopped early",
            Ending::Interrupted => "interrupted",
        };
        Trained { run_dir, temporary, steps: o.steps, ending, best: o.best.map(|b| (b.step, b.val_loss)) }
    }
}

impl Drop for Trained {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.run_dir);
        }
    }
}

/// `"best"` or `"last"`.
fn which(name: &str) -> PyResult<Which> {
    match name {
        "best" => Ok(Which::Best),
        "last" => Ok(Which::Last),
        _ => Err(PyValueError::new_err(format!("which {name:?}: use \"best\" or \"last\""))),
    }
}

#[pymethods]
impl Trained {
    /// The run folder (`edgegru export --checkpoint` and `edgegru train --resume` read it).
    #[getter]
    fn run_dir(&self) -> PathBuf {
        self.run_dir.clone()
    }

    /// Optimizer steps taken.
    #[getter]
    fn steps(&self) -> u64 {
        self.steps
    }

    /// How the run ended: `"finished"`, `"stopped early"` or `"interrupted"`.
    #[getter]
    fn ending(&self) -> &'static str {
        self.ending
    }

    /// The best validation: `(step, val_loss)`, or None.
    #[getter]
    fn best(&self) -> Option<(u64, f64)> {
        self.best
    }

    /// The history, as history.csv has it: a dict of lists (`step`, `epoch`,
    /// `loss`, `accuracy`, `val_loss`, `val_accuracy`, `perplexity`, `lr`,
    /// `tokens_per_sec`, `elapsed_sec`, `sparsity`; None where not measured).
    #[getter]
    fn history<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let records = History::read(&self.run_dir).or_py(Kind::Training)?;
        let d = PyDict::new(py);
        for r in &records {
            let row = crate::pyjson::to_py(py, r)?;
            for (k, v) in row.cast::<PyDict>()?.iter() {
                match d.get_item(&k)? {
                    Some(list) => list.cast::<PyList>()?.append(v)?,
                    None => d.set_item(k, PyList::new(py, [v])?)?,
                }
            }
        }
        Ok(d)
    }

    /// Saves the checkpoint (`which="best"`: the best validation's, as
    /// `edgegru export` takes by default; `"last"`) as a run folder at
    /// `path`, for the command line (`edgegru export --checkpoint path`).
    #[pyo3(signature = (path, *, which = "best", overwrite = false))]
    fn checkpoint(&self, py: Python<'_>, path: PathBuf, which: &str, overwrite: bool) -> PyResult<()> {
        let from = locate(&self.run_dir, crate::fit::which(which)?);
        run::prepare_out(&path, if overwrite { OutMode::Replace } else { OutMode::New }).or_py(Kind::Training)?;
        py.detach(|| Checkpoint::load(&from)?.save(&path)).or_py(Kind::Training)
    }

    /// The trained network as a model file: `weights` `"int8"` (`numerics`
    /// `"hybrid"` or `"int"` for integer-only), `"f16"` or `"f32"`;
    /// `sparse=True` stores int8 matrices block-sparse; `layout="arm-dsp"`
    /// for Cortex-M DSP kernels. With `prune_to` (a sparsity, e.g. 0.75) the
    /// network is first fine-tuned while pruning 8x4 blocks for
    /// `prune_steps` steps (default: half the run's steps, at least 50), in
    /// the run folder's `pruned/`, and exported block-sparse.
    #[pyo3(signature = (*, weights = "int8", numerics = "hybrid", sparse = false, layout = "portable", which = "best", name = "model",
                        prune_to = None, prune_steps = None, progress = None))]
    #[allow(clippy::too_many_arguments)]
    fn export(
        &self,
        py: Python<'_>,
        weights: &str,
        numerics: &str,
        sparse: bool,
        layout: &str,
        which: &str,
        name: &str,
        prune_to: Option<f32>,
        prune_steps: Option<u64>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Model> {
        let encoding =
            EncodingIn { weights: weights.into(), sparse: sparse || prune_to.is_some(), numerics: numerics.into(), layout: layout.into() };
        let opts = encoding.encoding()?.options(WeightKind::Int8).or_py(Kind::Training)?;
        let mut from = locate(&self.run_dir, crate::fit::which(which)?);
        if let Some(target) = prune_to {
            let ck = Checkpoint::load(&from).or_py(Kind::Training)?;
            let steps = prune_steps.unwrap_or((self.steps / 2).max(50));
            let pruned = self.run_dir.join("pruned");
            prune_run(py, ck, target, steps, &pruned, progress)?;
            from = locate(&pruned, Which::Last);
        }
        let bytes = py.detach(|| export::to_egru(&Checkpoint::load(&from)?, &opts, name)).or_py(Kind::Training)?;
        Model::new(bytes, None)
    }

    fn __repr__(&self) -> String {
        format!("<edgegru.Trained {} steps, {} ({})>", self.steps, self.ending, self.run_dir.display())
    }
}

/// Fine-tunes `ck` for `steps` steps while pruning to `target` sparsity, in `out` (replaced).
fn prune_run(py: Python<'_>, ck: Checkpoint, target: f32, steps: u64, out: &Path, progress: Option<Py<PyAny>>) -> PyResult<()> {
    if steps == 0 {
        return Err(PyValueError::new_err("prune_steps must be at least 1"));
    }
    let mut config = TrainConfig::fine_tune(&ck, steps, None);
    let start = ck.optimizer.step;
    let end = start + (steps * 7 / 10).max(1);
    config.prune = Some(PruneConfig::new(target, "", start, end, 50.min(steps), false, PruneShape::Block).or_py(Kind::Training)?);
    run::prepare_out(out, OutMode::Replace).or_py(Kind::Training)?;
    run_with_progress(py, out, progress, |stop, p| run::train(config, out, Some(ck), stop, p))?;
    Ok(())
}
