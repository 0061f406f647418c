//! `edgegru import`: a GRU network trained with PyTorch or Keras, from ONNX, as an .egru file.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::export::{EncodingArgs, Weights};
use super::Status;
use crate::import::vocab::{self, ListRules};
use crate::import::{onnx, Head, ImportOptions};

/// Bring in a GRU network trained with PyTorch or Keras, from ONNX, as an .egru file.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  edgegru import --onnx lm.onnx --vocab vocab.json --out lm.egru
  edgegru import --onnx keras_lm.onnx --vocab tokenizer.json --weights int8 --out lm.egru
  edgegru import --onnx gesture.onnx --classes idle,wave,circle --weights int8 --out gesture.egru

The ONNX graph: Gather (embedding) or features -> GRU layers (forward, linear_before_reset=1) -> Linear layers
(each with Relu, Tanh or Sigmoid, or none) [-> Softmax], from torch.onnx.export or tf2onnx.
VOCAB: Keras' tokenizer.to_json() (all its settings are kept), or a JSON list of tokens in id order
(with --oov, --lower and --filters saying the rules it was made under).")]
pub struct Args {
    /// The ONNX model.
    #[arg(long)]
    pub onnx: PathBuf,
    /// Token models: the vocabulary, Keras tokenizer JSON or a JSON list of tokens in id order.
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// With a token list: the out-of-vocabulary token.
    #[arg(long)]
    pub oov: Option<String>,
    /// With a token list: lower-case text before lookup (Keras lower=True).
    #[arg(long)]
    pub lower: bool,
    /// With a token list of words: characters that separate words besides the space (Keras filters).
    #[arg(long)]
    pub filters: Option<String>,
    /// What the outputs are (default: next-token for token models, classes for feature models).
    #[arg(long, value_enum)]
    pub head: Option<Head>,
    /// Class (or output) names in output order, comma-separated (default 0..n-1).
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    /// Feature models, integer-only numerics: the largest magnitude of the (normalized) features.
    #[arg(long, default_value_t = 4.0)]
    pub input_range: f32,
    /// How the weights are stored.
    #[command(flatten)]
    pub encoding: EncodingArgs,
    /// Output .egru file.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace --out if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Runs `edgegru import`.
pub fn run(a: Args) -> Result<Status> {
    let opts = a.encoding.options(Weights::F32)?;
    if !(a.input_range.is_finite() && a.input_range > 0.0) {
        anyhow::bail!("--input-range must be a positive number");
    }
    let tokenizer = match &a.vocab {
        Some(path) => {
            let rules = ListRules { oov: a.oov.clone(), lowercase: a.lower, filters: a.filters.clone() };
            Some(vocab::read(&super::read_file(path)?, &rules).with_context(|| format!("vocabulary {}", path.display()))?)
        }
        None => None,
    };
    let import = ImportOptions { head: a.head, classes: a.classes.clone(), input_range: a.input_range };
    let name = super::export::name_of(&a.out);
    let model = onnx::import(&super::read_file(&a.onnx)?, tokenizer, &import, name).with_context(|| format!("{}", a.onnx.display()))?;
    let bytes = model.to_checked_bytes(&opts)?;
    super::write_new_file(&a.out, &bytes, a.force)?;
    let layers: Vec<String> = model
        .grus
        .iter()
        .map(|g| format!("GRU {}", g.hidden))
        .chain(model.dense.iter().map(|d| format!("dense {} {}", d.bias.len(), d.activation.name())))
        .collect();
    super::say(&format!(
        "wrote {} ({} bytes): {} inputs -> {} -> {} outputs",
        a.out.display(),
        bytes.len(),
        model.input_width(),
        layers.join(" -> "),
        model.outputs()
    ));
    Ok(Status::Done)
}
