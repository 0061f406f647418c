//! The step graph run by ONNX Runtime, loaded at run time from its shared
//! library (nothing is downloaded or linked at build time).

use std::boxed::Box;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::sync::Mutex;

use ort::environment::Environment;
use ort::session::Session;
use ort::value::TensorRef;

use super::{
    backend_error, copy_output, OnnxError, OnnxResult, StepGraph, StepInfo, INPUT_STATE, INPUT_TOKEN, OUTPUT_LOGITS, OUTPUT_STATE,
};

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
        let missing = |reason: &str| OnnxError::LibraryMissing { path: ".venv".into(), reason: reason.into() };
        let lib = Path::new(".venv/lib");
        let pythons = std::fs::read_dir(lib).map_err(|_| missing("ORT_DYLIB_PATH is not set and there is no .venv/lib"))?;
        for python in pythons.flatten() {
            let capi = python.path().join("site-packages/onnxruntime/capi");
            let Ok(files) = std::fs::read_dir(&capi) else { continue };
            let mut found: std::vec::Vec<PathBuf> = files
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
    let missing = |reason: String| OnnxError::LibraryMissing { path: library.path.display().to_string(), reason };
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
    hidden: usize,
}

/// Loads the library (once per process) and creates a one-thread session
/// that keeps int8 QDQ weights dequantized (`session.disable_quant_qdq`),
/// instead of dequantizing them at every run.
pub(super) fn load(bytes: &[u8], library: &OrtLibrary) -> OnnxResult<(StepInfo, Box<dyn StepGraph>)> {
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
    let info = {
        let meta = session.metadata().map_err(err)?;
        StepInfo::read(|key| meta.custom(key))?
    };
    let hidden = info.dims.hidden as usize;
    Ok((info, Box::new(OrtStep { session, hidden })))
}

impl StepGraph for OrtStep {
    fn run(&mut self, token: u32, h: &[f32], logits: &mut [f32], h_out: &mut [f32]) -> OnnxResult<()> {
        let err = |e: ort::Error| backend_error(NAME, e);
        let token = [token as i64];
        let inputs = ort::inputs![
            INPUT_TOKEN => TensorRef::from_array_view(([1usize], &token[..])).map_err(err)?,
            INPUT_STATE => TensorRef::from_array_view(([1usize, 1, self.hidden], h)).map_err(err)?,
        ];
        let out = self.session.run(inputs).map_err(err)?;
        let output = |name: &str| out.get(name).ok_or_else(|| backend_error(NAME, std::format!("the graph has no output {name}")));
        let (_, l) = output(OUTPUT_LOGITS)?.try_extract_tensor::<f32>().map_err(err)?;
        copy_output(NAME, OUTPUT_LOGITS, l, logits)?;
        let (_, hn) = output(OUTPUT_STATE)?.try_extract_tensor::<f32>().map_err(err)?;
        copy_output(NAME, OUTPUT_STATE, hn, h_out)
    }
}
