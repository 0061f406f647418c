//! `edgegru export`: a checkpoint to the `.egru` file that ships, or to an
//! ONNX step graph; or an `.egru` file rewritten in another layout.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use edgegru_runtime::writer::{Layout, WeightKind};

use super::args::{which, EncodingArgs};
use super::{say, Status};
use crate::builtin::resolve;
use crate::checkpoint::{locate, Checkpoint};
use crate::export::{self, name_of};
use crate::files::{same_file, write_new_file};

/// File format of `export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The edgegru model file.
    Egru,
    /// ONNX: one step's input and states in, outputs and the new states out.
    Onnx,
}

/// Write a checkpoint as an .egru model file (or an ONNX step graph), or
/// rewrite an .egru file's int8 matrices in another layout.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  edgegru export --checkpoint runs/a --weights int8 --out a.egru
  edgegru export --checkpoint runs/a --weights f32 --format egru --out a-f32.egru
  edgegru export --checkpoint runs/t --weights int8 --numerics int --out t.egru
  edgegru export --checkpoint runs/a --weights int8 --format onnx --out a-qdq.onnx
  edgegru export --model t.egru --layout arm-dsp --out t-m4.egru
  edgegru export --model t.egru --format onnx --weights f32 --out t.onnx")]
#[command(group(clap::ArgGroup::new("source").required(true).args(["checkpoint", "model"])))]
pub struct Args {
    /// Training run folder (its best checkpoint, in best/, unless --last) or checkpoint file.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// With --checkpoint DIR: the run's last checkpoint instead of its best.
    #[arg(long, requires = "checkpoint")]
    pub last: bool,
    /// An .egru file (or a built-in model's name) to rewrite with its int8 matrices in --layout (every
    /// value kept: the same results, bit for bit), or to write as an ONNX step graph (--format onnx).
    #[arg(long)]
    pub model: Option<String>,
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

/// Runs `edgegru export`.
pub fn run(a: Args) -> Result<Status> {
    if let Some(model) = &a.model {
        return relayout(&a, model);
    }
    let Some(checkpoint) = &a.checkpoint else { bail!("give --checkpoint or --model") };
    let encoding = a.encoding.encoding();
    let opts = encoding.options(WeightKind::Int8)?;
    let from = locate(checkpoint, which(a.last));
    let ck = Checkpoint::load(&from)?;
    let name = name_of(&a.out);
    let bytes = match a.format {
        Format::Egru => export::to_egru(&ck, &opts, name)?,
        Format::Onnx => export::to_onnx(&ck, &encoding, name)?,
    };
    write_new_file(&a.out, &bytes, a.force)?;
    say(&format!("wrote {} ({} bytes) from {} (step {})", a.out.display(), bytes.len(), from.display(), ck.optimizer.step));
    Ok(Status::Done)
}

/// `export --model`: the file's int8 matrices in `--layout`, nothing else
/// changed; or, with `--format onnx`, its step graph.
fn relayout(a: &Args, name: &str) -> Result<Status> {
    let e = &a.encoding;
    let model = Path::new(name);
    if a.format == Format::Onnx {
        let onnx = export::model_to_onnx(&resolve(name)?, &e.encoding())?;
        write_new_file(&a.out, &onnx, a.force)?;
        say(&format!("wrote {} ({} bytes, the ONNX step graph of {name})", a.out.display(), onnx.len()));
        return Ok(Status::Done);
    }
    if e.weights.is_some() || e.sparse || e.integer {
        bail!("--model rewrites the layout of an .egru file (--layout) or writes its ONNX step graph (--format onnx); re-encode the weights from the checkpoint with --checkpoint");
    }
    if same_file(model, &a.out) {
        bail!("--out is the --model file itself; write the new layout to a file of its own");
    }
    let bytes = resolve(name)?;
    let out = export::relayout(&bytes, model, e.layout)?;
    write_new_file(&a.out, &out, a.force)?;
    let layout: Layout = e.layout;
    say(&format!(
        "wrote {} ({} bytes, {} layout; {} had {} bytes)",
        a.out.display(),
        out.len(),
        layout.name(),
        model.display(),
        bytes.len()
    ));
    Ok(Status::Done)
}
