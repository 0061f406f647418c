//! `edgegru import`: a GRU network trained with PyTorch or Keras, from ONNX, as an .egru file.

use std::path::PathBuf;

use anyhow::{Context, Result};

use edgegru_runtime::writer::{TokenizerSpec, WeightKind};
use edgegru_runtime::{Model, TokenizerKind};

use super::backend::{compare_greedy, with_runner, Backend};
use super::export::{EncodingArgs, Weights};
use super::Status;
use crate::import::vocab::{self, ListRules};
use crate::import::{onnx, Head, ImportOptions};

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
    /// Token models stored with int8 weights: the prompt of the check against
    /// the f32 import (default: the vocabulary's first word or character).
    #[arg(long)]
    pub check_prompt: Option<String>,
}

/// Greedy tokens compared between the written file and the f32 import.
const CHECK_TOKENS: usize = 64;

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
    let (path, keras) = match (&a.onnx, &a.keras) {
        (Some(p), _) => (p, false),
        (None, Some(p)) => (p, true),
        (None, None) => anyhow::bail!("give --onnx FILE or --keras FILE"),
    };
    let source = super::read_file(path)?;
    let model = if keras {
        crate::import::keras_file::import(&source, tokenizer, &import, name)
    } else {
        onnx::import(&source, tokenizer, &import, name)
    }
    .with_context(|| format!("{}", path.display()))?;
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
    if let Some(t) = model.tokenizer() {
        super::say(&tokenizer_rules(t));
    }
    let f32_bytes = model.to_checked_bytes(&super::export::options(WeightKind::F32, false, false))?;
    let source = if keras { None } else { Some(super::backend::annotate_import(edgegru_onnx::decode(&source)?, &model)?) };
    verify(source.as_deref(), &f32_bytes, &bytes, a.check_prompt.as_deref())?;
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

/// The verification table of a language model: the f32 import against the
/// source file (its original graph on ONNX Runtime, else tract), and the
/// written file against the f32 import when it is int8; greedy decoding in
/// lockstep for [`CHECK_TOKENS`] tokens from a prompt. Warns when int8
/// changes the greedy output.
fn verify(source: Option<&[u8]>, f32_bytes: &[u8], written: &[u8], prompt: Option<&str>) -> Result<()> {
    let model = Model::from_bytes(written)?;
    let Some(tok) = model.tokenizer().filter(|_| model.is_language_model()) else {
        super::say("verification: a feature model has no sample to decode here; check it with `edgegru eval --data` on its test file");
        return Ok(());
    };
    let ids: Vec<u32> = match prompt {
        Some(p) => tok.encode_iter(p).collect::<Result<_, _>>().with_context(|| format!("--check-prompt {p:?}"))?,
        None => (0..tok.vocab_size()).find(|&i| Some(i) != tok.pad() && Some(i) != tok.oov()).into_iter().collect(),
    };
    anyhow::ensure!(!ids.is_empty(), "--check-prompt has no tokens");
    let sep = if tok.kind() == TokenizerKind::Word { " " } else { "" };
    let shown = ids.iter().map(|&i| tok.token_text(i).unwrap_or("?")).collect::<Vec<_>>().join(sep);
    let mut rows = vec![];
    // The source file's own graph: ONNX Runtime when its library is there, else tract.
    let engines = if source.is_some() { &[Backend::Ort, Backend::Tract][..] } else { &[] };
    let mut reasons = vec![];
    if source.is_none() {
        reasons.push(
            "the source is a Keras file, which no engine here runs; the import tests compare Keras files with Keras' own model.predict"
                .to_string(),
        );
    }
    let source = source.unwrap_or_default();
    for &backend in engines {
        let against_source = with_runner(Backend::Native, f32_bytes, None, |reference| {
            with_runner(backend, source, None, |other| compare_greedy(reference, other, &ids, CHECK_TOKENS))
        });
        match against_source {
            Ok(a) => {
                rows.push(format!(
                    "| f32 import vs the source file ({}): greedy tokens equal | {}/{} |\n\
                     | f32 import vs the source file: largest log-probability difference | {:.3e} |",
                    backend.name(),
                    a.equal_tokens,
                    a.tokens,
                    a.max_log_prob_diff
                ));
                break;
            }
            Err(e) => reasons.push(format!("{}: {e:#}", backend.name())),
        }
    }
    if rows.is_empty() {
        rows.push(format!("| f32 import vs the source file | not measured ({}) |", reasons.join("; ")));
    }
    let mut changed = None;
    if written != f32_bytes {
        let a = with_runner(Backend::Native, f32_bytes, None, |reference| {
            with_runner(Backend::Native, written, None, |other| compare_greedy(reference, other, &ids, CHECK_TOKENS))
        })?;
        rows.push(format!(
            "| written file vs f32 import: greedy tokens equal | {}/{} |\n| written file vs f32 import: largest logit difference | {:.3e} |",
            a.equal_tokens, a.tokens, a.max_logit_diff
        ));
        changed = (!a.identical).then_some(a);
    }
    super::say(&format!("verification, {CHECK_TOKENS} greedy tokens after {shown:?}:\n| check | value |\n|---|---|\n{}", rows.join("\n")));
    if let Some(a) = changed {
        eprintln!("warning: int8 changes the greedy output ({} of {} tokens equal to the f32 import's)", a.equal_tokens, a.tokens);
    }
    Ok(())
}
