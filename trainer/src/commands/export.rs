//! `edgegru export`: a checkpoint to the `.egru` file that ships, or to an
//! ONNX step graph; or an `.egru` file rewritten in another layout.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use edgegru_runtime::writer::{Layout, WeightKind};

use super::args::{which, EncodingArgs};
use super::{say, Status};
use crate::builtin::resolve;
use crate::checkpoint::{locate, Checkpoint};
use crate::embed;
use crate::export::{self, name_of};
use crate::files::{same_file, write_new_file};

/// File format of `export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The edgegru model file.
    Egru,
    /// ONNX: one step's input and states in, outputs and the new states out.
    Onnx,
    /// C source: --out NAME.c and NAME.h, the .egru file as an aligned const array with its sizes as macros.
    C,
    /// Rust source: --out NAME.rs, the .egru file as an aligned static with its sizes as constants.
    Rust,
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
  edgegru export --model t.egru --format onnx --weights f32 --out t.onnx
  edgegru export --model basicmotions --format c --name gesture_model --out firmware/gesture_model.c
  edgegru export --checkpoint runs/t --weights int8 --numerics int --format rust --out src/model.rs

--format c writes NAME.c and NAME.h beside it (NAME: --name, else the file's stem): the array NAME,
aligned to 16 bytes (define NAME_SECTION to place it in a linker section of your own), and the macros
NAME_SIZE, NAME_ARENA_SIZE, NAME_STATE_SIZE, NAME_FORMAT_VERSION, NAME_CRC32, NAME_OUTPUTS and
NAME_INPUT_TOKENS + NAME_VOCAB or NAME_INPUT_FEATURES + NAME_FEATURES (upper case), for C and C++.")]
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
    /// --format c or rust: the array's name, a C identifier (default: --out's file stem).
    #[arg(long)]
    pub name: Option<String>,
    /// Replace --out if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Runs `edgegru export`.
pub fn run(a: Args) -> Result<Status> {
    if matches!(a.format, Format::C | Format::Rust) {
        return source(&a);
    }
    if a.name.is_some() {
        bail!("--name names the array of --format c or rust");
    }
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
        Format::Onnx => export::to_onnx(&ck, &encoding, name)?,
        Format::Egru | Format::C | Format::Rust => export::to_egru(&ck, &opts, name)?,
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

/// `--format c` or `rust`: the model file (re-encoded from --checkpoint, or
/// --model in --layout) as source code.
fn source(a: &Args) -> Result<Status> {
    let bytes = match (&a.model, &a.checkpoint) {
        (Some(model), _) => {
            let e = &a.encoding;
            if e.weights.is_some() || e.sparse || e.integer {
                bail!("--model writes the file as it is (in --layout); re-encode the weights from the checkpoint with --checkpoint");
            }
            let bytes = resolve(model)?;
            match e.layout {
                Layout::Portable => bytes,
                layout => export::relayout(&bytes, Path::new(model), layout)?,
            }
        }
        (None, Some(checkpoint)) => {
            let ck = Checkpoint::load(&locate(checkpoint, which(a.last)))?;
            export::to_egru(&ck, &a.encoding.encoding().options(WeightKind::Int8)?, name_of(&a.out))?
        }
        (None, None) => bail!("give --checkpoint or --model"),
    };
    let name = match &a.name {
        Some(n) => n.clone(),
        None => embed::identifier(name_of(&a.out)),
    };
    let written = match a.format {
        Format::Rust => {
            write_new_file(&a.out, embed::rust_source(&bytes, &name)?.as_bytes(), a.force)?;
            a.out.display().to_string()
        }
        _ => {
            let header = a.out.with_extension("h");
            let header_name = header.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let (h, c) = embed::c_source(&bytes, &name, &header_name)?;
            if !a.force && (header.exists() || a.out.exists()) {
                bail!("{} or {} exists; pass --force to replace them", a.out.display(), header.display());
            }
            write_new_file(&header, h.as_bytes(), a.force)?;
            write_new_file(&a.out, c.as_bytes(), a.force)?;
            format!("{} and {}", a.out.display(), header.display())
        }
    };
    say(&format!("wrote {written}: the array {name}, {} bytes of model", bytes.len()));
    Ok(Status::Done)
}
