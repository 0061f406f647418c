//! `edgegru export`: a checkpoint to the `.egru` file that ships, or to an ONNX step graph.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::ValueEnum;
use edgegru_onnx::OnnxWeights;
use edgegru_runtime::writer::{self, ExportOptions, FloatModel, Layout, ProvenanceSpec, WeightKind};

use super::Status;
use crate::checkpoint::Checkpoint;

/// Weight encodings for `--weights`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Weights {
    /// 32-bit float.
    F32,
    /// 16-bit float.
    F16,
    /// int8, one scale per row.
    Int8,
}

impl From<Weights> for WeightKind {
    fn from(w: Weights) -> Self {
        match w {
            Weights::F32 => WeightKind::F32,
            Weights::F16 => WeightKind::F16,
            Weights::Int8 => WeightKind::Int8,
        }
    }
}

/// How an int8 model computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NumericsArg {
    /// int8 products, f32 gates and biases (the default).
    Hybrid,
    /// Integer only, for cores without an FPU (Cortex-M0): int16 state, fixed-point gates.
    Int,
}

/// Layouts for `--layout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LayoutArg {
    /// One byte per int8 weight: every core, the smallest file.
    Portable,
    /// int8 weights stored as 16-bit values in the order the Cortex-M DSP
    /// extension multiplies them (M4, M7, M33, M55): faster products for
    /// twice the flash of the int8 matrices (format version 3).
    ArmDsp,
}

impl From<LayoutArg> for Layout {
    fn from(l: LayoutArg) -> Self {
        match l {
            LayoutArg::Portable => Layout::Portable,
            LayoutArg::ArmDsp => Layout::ArmDsp,
        }
    }
}

/// File format of `export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The edgegru model file.
    Egru,
    /// ONNX: one step's input and states in, outputs and the new states out.
    Onnx,
}

/// The weight flags shared by `export` and `import`.
#[derive(clap::Args, Debug, Clone)]
pub struct EncodingArgs {
    /// Weight encoding (default: int8 for export, f32 for import).
    #[arg(long, value_enum)]
    pub weights: Option<Weights>,
    /// Store int8 matrices as 8x4 block-sparse (blocks that are all zero are dropped).
    #[arg(long)]
    pub sparse: bool,
    /// Arithmetic of an int8 model.
    #[arg(long, value_enum, default_value = "hybrid")]
    pub numerics: NumericsArg,
    /// Layout of the int8 matrices: portable, or arm-dsp for Cortex-M cores
    /// with the DSP extension (twice the flash of the int8 matrices, faster
    /// products, the same results).
    #[arg(long, value_enum, default_value = "portable")]
    pub layout: LayoutArg,
}

impl EncodingArgs {
    /// The name of `--layout`'s value.
    pub fn layout_name(&self) -> &'static str {
        Layout::from(self.layout).name()
    }

    /// The writer's options (`default` weights when none are given);
    /// refuses `--sparse`, `--numerics int` and `--layout arm-dsp` without int8 weights.
    pub fn options(&self, default: Weights) -> Result<ExportOptions> {
        let integer = self.numerics == NumericsArg::Int;
        let weights = self.weights.unwrap_or(default);
        if (self.sparse || integer || self.layout != LayoutArg::Portable) && weights != Weights::Int8 {
            bail!("--sparse, --numerics int and --layout arm-dsp need --weights int8");
        }
        Ok(ExportOptions { layout: self.layout.into(), ..options(weights.into(), self.sparse, integer) })
    }
}

/// Write a checkpoint as an .egru model file (or an ONNX step graph), or
/// rewrite an .egru file's int8 matrices in another layout.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  edgegru export --checkpoint runs/a --weights int8 --out a.egru
  edgegru export --checkpoint runs/a --weights f32 --format egru --out a-f32.egru
  edgegru export --checkpoint runs/t --weights int8 --numerics int --out t.egru
  edgegru export --checkpoint runs/a --weights int8 --format onnx --out a-qdq.onnx
  edgegru export --model t.egru --layout arm-dsp --out t-m4.egru")]
#[command(group(clap::ArgGroup::new("source").required(true).args(["checkpoint", "model"])))]
pub struct Args {
    /// Training run folder or checkpoint file.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// An .egru file to rewrite with its int8 matrices in --layout (every
    /// value kept: the same results, bit for bit).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// How the weights are stored.
    #[command(flatten)]
    pub encoding: EncodingArgs,
    /// Output format: an .egru file, or the ONNX step graph (float, or int8 weights as QDQ).
    #[arg(long, value_enum, default_value = "egru")]
    pub format: Format,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace --out if it exists.
    #[arg(long)]
    pub force: bool,
}

/// The checkpoint's weights in f32, with its tables and provenance.
pub fn float_model(ck: &Checkpoint, name: &str) -> Result<FloatModel> {
    let c = &ck.config;
    let provenance = ProvenanceSpec {
        name: name.to_string(),
        producer: concat!("edgegru-trainer ", env!("CARGO_PKG_VERSION")).to_string(),
        corpus: c.corpus.file_name().map_or_else(|| c.corpus.display().to_string(), |f| f.to_string_lossy().into_owned()),
        training: format!(
            "{}; {:?} lr {}, {} steps, batch {}, seed {}",
            ck.params.net.describe(),
            c.optimizer.kind,
            c.optimizer.lr,
            ck.optimizer.step,
            c.batch,
            c.seed
        ),
    };
    ck.params.to_float_model(&ck.model_data(), provenance)
}

/// The `.egru` bytes of a checkpoint, written by the runtime's writer and
/// checked by loading them back.
pub fn to_egru(ck: &Checkpoint, opts: &ExportOptions, name: &str) -> Result<Vec<u8>> {
    Ok(float_model(ck, name)?.to_checked_bytes(opts)?)
}

/// Export options for `--weights`, `--sparse` and `--numerics int` (the embedding follows the weights).
pub fn options(weights: WeightKind, sparse: bool, integer: bool) -> ExportOptions {
    ExportOptions { weights, embedding: weights, sparse, integer, layout: Layout::Portable }
}

/// The model's name from its output file.
pub fn name_of(out: &Path) -> &str {
    out.file_stem().and_then(|s| s.to_str()).unwrap_or("model")
}

/// Runs `edgegru export`.
pub fn run(a: Args) -> Result<Status> {
    if let Some(model) = &a.model {
        return relayout(&a, model);
    }
    let opts = a.encoding.options(Weights::Int8)?;
    let Some(checkpoint) = &a.checkpoint else { bail!("give --checkpoint or --model") };
    let ck = Checkpoint::load(checkpoint)?;
    let name = name_of(&a.out);
    let bytes = match a.format {
        Format::Egru => to_egru(&ck, &opts, name)?,
        Format::Onnx => {
            let weights = match (a.encoding.weights.unwrap_or(Weights::Int8), a.encoding.sparse, opts.integer) {
                (_, true, _) | (_, _, true) => {
                    bail!("ONNX has no block-sparse or integer-only encoding: export --format onnx with --weights f32 or int8 (QDQ)")
                }
                (Weights::F32, ..) => OnnxWeights::Float,
                (Weights::Int8, ..) => OnnxWeights::Int8Qdq,
                (Weights::F16, ..) => bail!("--format onnx takes --weights f32 or int8"),
            };
            edgegru_onnx::to_bytes(&float_model(&ck, name)?, weights)?
        }
    };
    super::write_new_file(&a.out, &bytes, a.force)?;
    super::say(&format!("wrote {} ({} bytes)", a.out.display(), bytes.len()));
    Ok(Status::Done)
}

/// `export --model`: the file's int8 matrices in `--layout`, nothing else changed.
fn relayout(a: &Args, model: &Path) -> Result<Status> {
    let e = &a.encoding;
    if e.weights.is_some() || e.sparse || e.numerics != NumericsArg::Hybrid || a.format != Format::Egru {
        bail!("--model rewrites the layout of an .egru file and takes only --layout; re-encode from the checkpoint with --checkpoint");
    }
    let same = matches!((std::fs::canonicalize(model), std::fs::canonicalize(&a.out)), (Ok(x), Ok(y)) if x == y);
    if same {
        bail!("--out is the --model file itself; write the new layout to a file of its own");
    }
    let bytes = super::read_file(model)?;
    let out = writer::relayout(&bytes, e.layout.into()).map_err(|err| anyhow::anyhow!("{}: {err}", model.display()))?;
    super::write_new_file(&a.out, &out, a.force)?;
    super::say(&format!(
        "wrote {} ({} bytes, {} layout; {} had {} bytes)",
        a.out.display(),
        out.len(),
        e.layout_name(),
        model.display(),
        bytes.len()
    ));
    Ok(Status::Done)
}
