//! The step graph run by ONNX Runtime, loaded at run time from its shared
//! library (nothing is downloaded or linked at build time).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::environment::Environment;
use ort::session::Session;
use ort::value::TensorRef;

use crate::contract::{self, sequence_layout, StepInfo, INPUT_FEATURES, INPUT_TOKEN};
use crate::session::{
    backend_error, copy_output, GraphInput, OnnxError, OnnxResult, SequenceData, SequenceGraph, SequenceInput, SequenceRun, StepGraph,
};
use edgegru_runtime::InputKind;

const NAME: &str = "ort";

/// Where ONNX Runtime's shared library is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrtLibrary {
    path: PathBuf,
}

impl OrtLibrary {
    /// The library at `path`, e.g. the `onnxruntime` wheel's
    /// `onnxruntime/capi/libonnxruntime.so.1.NN.N`.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        OrtLibrary { path: path.into() }
    }

    /// `ORT_DYLIB_PATH` if set, else the `onnxruntime` wheel installed in
    /// `.venv` under the current directory.
    pub fn find() -> OnnxResult<Self> {
        if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
            return Ok(OrtLibrary::at(path));
        }
        let missing =
            |reason: &str| OnnxError::LibraryMissing { path: ".venv".into(), reason: reason.into(), minimum_minor: ort::MINOR_VERSION };
        let lib = Path::new(".venv/lib");
        let pythons = std::fs::read_dir(lib).map_err(|_| missing("ORT_DYLIB_PATH is not set and there is no .venv/lib"))?;
        for python in pythons.flatten() {
            let capi = python.path().join("site-packages/onnxruntime/capi");
            let Ok(files) = std::fs::read_dir(&capi) else { continue };
            let mut found: Vec<PathBuf> = files
                .flatten()
                .map(|f| f.path())
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libonnxruntime.so")))
                .collect();
            found.sort();
            if let Some(path) = found.pop() {
                return Ok(OrtLibrary::at(path));
            }
        }
        Err(missing("ORT_DYLIB_PATH is not set and .venv has no onnxruntime wheel"))
    }

    /// The library's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The process's ONNX Runtime environment (ONNX Runtime allows one), made on first use.
static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);

fn environment(library: &OrtLibrary) -> OnnxResult<Environment> {
    let missing =
        |reason: String| OnnxError::LibraryMissing { path: library.path.display().to_string(), reason, minimum_minor: ort::MINOR_VERSION };
    if !library.path.is_file() {
        return Err(missing("no such file".into()));
    }
    let mut env = ENVIRONMENT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(e) = env.as_ref() {
        return Ok(e.clone());
    }
    let builder = ort::init_from(&library.path).map_err(|e| missing(e.to_string()))?;
    let made = builder.with_name("edgegru").build().map_err(|e| backend_error(NAME, e))?;
    *env = Some(made.clone());
    Ok(made)
}

/// An ONNX Runtime session over the step graph.
struct OrtStep {
    session: Session,
    network: contract::NetworkInfo,
}

/// Loads the library (once per process) and creates a one-thread session
/// that keeps int8 QDQ weights dequantized (`session.disable_quant_qdq`),
/// instead of dequantizing them at every run.
pub(crate) fn load(bytes: &[u8], library: &OrtLibrary) -> OnnxResult<(StepInfo, Box<dyn StepGraph>)> {
    let env = environment(library)?;
    let err = |e: ort::Error| backend_error(NAME, e);
    let option = |e: ort::Error<ort::session::builder::SessionBuilder>| backend_error(NAME, e);
    let session = Session::builder(&env)
        .map_err(err)?
        .with_intra_threads(1)
        .map_err(option)?
        .with_inter_threads(1)
        .map_err(option)?
        .with_config_entry("session.disable_quant_qdq", "1")
        .map_err(option)?
        .commit_from_memory(bytes)
        .map_err(err)?;
    let (info, layout) = {
        let meta = session.metadata().map_err(err)?;
        (StepInfo::read(|key| meta.custom(key))?, sequence_layout(|key| meta.custom(key))?)
    };
    let network = info.network.clone();
    if let Some(layout) = layout {
        let head = network.head;
        let run = OrtSequence { session };
        let graph = SequenceGraph { backend: NAME, run, layout, head, ids: Vec::new(), features: Vec::new(), steps: 0 };
        return Ok((info, Box::new(graph)));
    }
    Ok((info, Box::new(OrtStep { session, network })))
}

/// A user's sequence graph in ONNX Runtime (its input shapes are dynamic).
struct OrtSequence {
    session: Session,
}

impl SequenceRun for OrtSequence {
    fn run_sequence(&mut self, input: &SequenceInput<'_>) -> OnnxResult<(Vec<f32>, Vec<usize>)> {
        let err = |e: ort::Error| backend_error(NAME, e);
        let shape = input.shape.clone();
        let value: ort::session::SessionInputValue<'_> = match &input.data {
            SequenceData::I64(v) => TensorRef::from_array_view((shape, *v)).map_err(err)?.into(),
            SequenceData::I32(v) => TensorRef::from_array_view((shape, &v[..])).map_err(err)?.into(),
            SequenceData::F32(v) => TensorRef::from_array_view((shape, &v[..])).map_err(err)?.into(),
        };
        let result = self.session.run(vec![(input.name.to_string(), value)]).map_err(err)?;
        let (shape, values) = result[0].try_extract_tensor::<f32>().map_err(err)?;
        Ok((values.to_vec(), shape.iter().map(|&d| d.max(0) as usize).collect()))
    }
}

impl StepGraph for OrtStep {
    fn run(&mut self, input: GraphInput<'_>, states: &[Vec<f32>], out: &mut [f32], next: &mut [Vec<f32>]) -> OnnxResult<()> {
        let err = |e: ort::Error| backend_error(NAME, e);
        let token;
        let mut inputs: Vec<(String, ort::session::SessionInputValue<'_>)> = Vec::with_capacity(1 + states.len());
        match input {
            GraphInput::Token(t) => {
                token = [t as i64];
                inputs.push((INPUT_TOKEN.into(), TensorRef::from_array_view(([1usize], &token[..])).map_err(err)?.into()));
            }
            GraphInput::Features(f) => {
                let count = match self.network.input {
                    InputKind::Features { count } => count,
                    InputKind::Tokens { .. } => f.len(),
                };
                inputs.push((INPUT_FEATURES.into(), TensorRef::from_array_view(([1usize, count], f)).map_err(err)?.into()));
            }
        }
        for (k, s) in states.iter().enumerate() {
            inputs.push((contract::state_input(k), TensorRef::from_array_view(([1usize, 1, s.len()], &s[..])).map_err(err)?.into()));
        }
        let result = self.session.run(inputs).map_err(err)?;
        let output = |name: &str| result.get(name).ok_or_else(|| backend_error(NAME, format!("the graph has no output {name}")));
        let head = contract::head_output(self.network.head);
        let (_, values) = output(head)?.try_extract_tensor::<f32>().map_err(err)?;
        copy_output(NAME, head, values, out)?;
        for (k, n) in next.iter_mut().enumerate() {
            let name = contract::state_output(k);
            let (_, values) = output(&name)?.try_extract_tensor::<f32>().map_err(err)?;
            copy_output(NAME, &name, values, n)?;
        }
        Ok(())
    }
}
