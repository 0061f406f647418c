//! `edgegru import`: a GRU network trained with PyTorch or Keras, from ONNX or a Keras file, as an .egru file.

use std::path::PathBuf;

use anyhow::{Context, Result};
use edgegru_runtime::writer::{TokenizerSpec, WeightKind};
use edgegru_runtime::{Fill, HeadKind, TokenizerKind};

use super::args::{fill_parser, head_parser, EncodingArgs};
use super::{say, Status};
use crate::export::name_of;
use crate::files::{read_file, write_new_file};
use crate::import::verify::CHECK_TOKENS;
use crate::import::vocab::{self, ListRules};
use crate::import::{import, ImportOptions, SourceKind, Verification};

/// Bring in a GRU network trained with PyTorch or Keras, from ONNX or a Keras file, as an .egru file.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  edgegru import --onnx lm.onnx --vocab vocab.json --out lm.egru
  edgegru import --onnx keras_lm.onnx --vocab tokenizer.json --weights int8 --out lm.egru
  edgegru import --onnx gesture.onnx --classes idle,wave,circle --weights int8 --out gesture.egru
  edgegru import --keras model.keras --vocab tokenizer.json --out lm.egru

The ONNX graph: Gather (embedding) or features -> GRU layers (forward, linear_before_reset=1, or the Loop
tf2onnx writes for a Keras GRU with recurrent_dropout) -> Linear layers (each with Relu, Tanh or Sigmoid,
or none) [-> Softmax], from torch.onnx.export or tf2onnx.
VOCAB: Keras' tokenizer.to_json() (all its settings are kept), or a JSON list of tokens in id order
(with --oov, --lower and --filters saying the rules it was made under).")]
pub struct Args {
    /// The ONNX model.
    #[arg(long, required_unless_present = "keras", conflicts_with = "keras")]
    pub onnx: Option<PathBuf>,
    /// Or a Keras model file: `.keras` (model.save("m.keras")) or legacy `.h5`.
    #[arg(long)]
    pub keras: Option<PathBuf>,
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
    #[arg(long, value_parser = head_parser())]
    pub head: Option<HeadKind>,
    /// Class (or output) names in output order, comma-separated (default 0..n-1).
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    /// Feature models, integer-only numerics: the largest magnitude of the (normalized) features.
    #[arg(long, default_value_t = 4.0)]
    pub input_range: f32,
    /// Feature models: the features' names in input order, comma-separated, so that `eval` and
    /// `predict` read CSV columns by name (default: unnamed, read by position).
    #[arg(long, value_delimiter = ',')]
    pub feature_names: Vec<String>,
    /// Feature models: what a missing value (NaN) becomes on the device.
    #[arg(long, value_parser = fill_parser(), default_value = "refuse")]
    pub fill: Fill,
    /// How the weights are stored.
    #[command(flatten)]
    pub encoding: EncodingArgs,
    /// Output .egru file.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace --out if it exists.
    #[arg(long)]
    pub force: bool,
    /// Token models stored with int8 weights: the prompt of the check against
    /// the f32 import (default: the vocabulary's first word or character).
    #[arg(long)]
    pub check_prompt: Option<String>,
}

/// Runs `edgegru import`.
pub fn run(a: Args) -> Result<Status> {
    if a.vocab.is_some() && (!a.feature_names.is_empty() || a.fill != Fill::Refuse) {
        anyhow::bail!("--feature-names and --fill are for feature models; a model with --vocab reads tokens");
    }
    let opts = a.encoding.encoding().options(WeightKind::F32)?;
    let tokenizer = match &a.vocab {
        Some(path) => {
            let rules = ListRules { oov: a.oov.clone(), lowercase: a.lower, filters: a.filters.clone() };
            Some(vocab::read(&read_file(path)?, &rules).with_context(|| format!("vocabulary {}", path.display()))?)
        }
        None => None,
    };
    let options = ImportOptions {
        head: a.head,
        classes: a.classes.clone(),
        input_range: a.input_range,
        feature_names: a.feature_names.clone(),
        fill: a.fill,
    };
    let (path, kind) = match (&a.onnx, &a.keras) {
        (Some(p), _) => (p, SourceKind::Onnx),
        (None, Some(p)) => (p, SourceKind::Keras),
        (None, None) => anyhow::bail!("give --onnx FILE or --keras FILE"),
    };
    let source = read_file(path)?;
    let imported = import(&source, kind, tokenizer, &options, &opts, name_of(&a.out), a.check_prompt.as_deref())
        .with_context(|| format!("{}", path.display()))?;
    write_new_file(&a.out, &imported.bytes, a.force)?;
    let model = &imported.model;
    let layers: Vec<String> = model
        .grus
        .iter()
        .map(|g| format!("GRU {}", g.hidden))
        .chain(model.dense.iter().map(|d| format!("dense {} {}", d.bias.len(), d.activation.name())))
        .collect();
    say(&format!(
        "wrote {} ({} bytes): {} inputs -> {} -> {} outputs",
        a.out.display(),
        imported.bytes.len(),
        model.input_width(),
        layers.join(" -> "),
        model.outputs()
    ));
    if let Some(t) = model.tokenizer() {
        say(&tokenizer_rules(t));
    }
    print_verification(&imported.verification);
    Ok(Status::Done)
}

/// The rules the imported tokenizer applies, as one line.
fn tokenizer_rules(t: &TokenizerSpec) -> String {
    let id = |i: Option<u32>| i.map_or("none".to_string(), |i| format!("{i} ({:?})", t.tokens.get(i as usize).map_or("", String::as_str)));
    match t.kind {
        TokenizerKind::Char => {
            format!(
                "tokenizer: characters, {} tokens, lower-case {}, padding {}, OOV {}",
                t.tokens.len(),
                t.lowercase,
                id(t.pad),
                id(t.oov)
            )
        }
        TokenizerKind::Word => format!(
            "tokenizer: words split on {:?}, {} tokens, lower-case {}, filters {:?}, padding {}, OOV {}",
            t.split,
            t.tokens.len(),
            t.lowercase,
            t.filters,
            id(t.pad),
            id(t.oov)
        ),
    }
}

/// The verification table (and a warning when int8 changes the greedy output).
fn print_verification(v: &Verification) {
    if let Some(why) = &v.skipped {
        say(&format!("verification: {why}"));
        return;
    }
    let mut rows = vec![];
    match &v.against_source {
        Some((engine, a)) => rows.push(format!(
            "| f32 import vs the source file ({engine}): greedy tokens equal | {}/{} |\n\
             | f32 import vs the source file: largest log-probability difference | {:.3e} |",
            a.equal_tokens, a.tokens, a.max_log_prob_diff
        )),
        None => rows.push(format!("| f32 import vs the source file | not measured ({}) |", v.not_measured.join("; "))),
    }
    if let Some(a) = &v.written {
        rows.push(format!(
            "| written file vs f32 import: greedy tokens equal | {}/{} |\n| written file vs f32 import: largest logit difference | {:.3e} |",
            a.equal_tokens, a.tokens, a.max_logit_diff
        ));
    }
    say(&format!("verification, {CHECK_TOKENS} greedy tokens after {:?}:\n| check | value |\n|---|---|\n{}", v.prompt, rows.join("\n")));
    if let Some(w) = v.warning() {
        eprintln!("warning: {w}");
    }
}
