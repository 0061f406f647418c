//! `edgegru inspect FILE`: what is inside a model file.

use std::fmt::Write as _;

use anyhow::Result;
use edgegru_runtime::{Fill, Head, InputKind, Layer, Model, Numerics, TokenizerKind};

use super::Status;

/// Show what is inside a model file: input, layers, head, tokenizer, numerics, tensors, sizes.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  edgegru inspect models/fortunes-char.egru\n  edgegru inspect basicmotions")]
pub struct Args {
    /// The .egru file (or a built-in model's name).
    pub file: String,
}

/// A human-readable report of a model.
pub fn report(bytes: &[u8]) -> Result<String> {
    let model = Model::from_bytes(bytes)?;
    let p = model.provenance();
    let mut s = String::new();
    writeln!(
        s,
        "model       {} ({} bytes, format version {}, crc32 {:#010x})",
        p.name,
        model.file_len(),
        model.format_version(),
        model.checksum()
    )?;
    writeln!(s, "producer    {}", p.producer)?;
    if !p.corpus.is_empty() {
        writeln!(s, "data        {}", p.corpus)?;
    }
    if !p.training.is_empty() {
        writeln!(s, "training    {}", p.training)?;
    }
    let input = match model.input() {
        InputKind::Tokens { vocab, emb } => format!("tokens: vocabulary {vocab}, embedding {emb}"),
        InputKind::Features { count } => format!("{count} features per step, normalized (x - mean) * scale"),
    };
    writeln!(s, "input       {input}")?;
    if let InputKind::Features { count } = model.input() {
        let names: Vec<&str> = (0..count).map_while(|i| model.feature_name(i)).collect();
        let names = if names.is_empty() { "unnamed (CSV columns read by position)".to_string() } else { names.join(", ") };
        writeln!(s, "features    {names}; a missing value (NaN) is {}", fill_words(model.fill()))?;
    }
    let layers: Vec<String> = model
        .layers()
        .map(|l| match l {
            Layer::Gru { hidden } => format!("GRU {hidden}"),
            Layer::Dense { width, activation } => format!("dense {width} {}", activation.name()),
        })
        .collect();
    writeln!(s, "layers      {} ({} parameters)", layers.join(" -> "), model.parameter_count())?;
    let head = head_line(&model);
    writeln!(s, "head        {head}")?;
    tokenizer_lines(&mut s, &model)?;
    let numerics = numerics_line(model.numerics());
    writeln!(s, "numerics    {numerics}")?;
    writeln!(
        s,
        "kernels     {}{}",
        model.isa().name(),
        if model.matrices().any(|(_, m)| m.is_arm_dsp()) {
            " (matrices in the arm-dsp layout: DSP kernels on Cortex-M4, M7, M33, M55; portable ones elsewhere)"
        } else {
            ""
        }
    )?;
    writeln!(s, "arena       {} bytes (state {} bytes)", model.arena_size(), model.state_size())?;
    writeln!(s, "{:<20}{:>8}{:>8}  {:<19}{:>9}{:>10}", "tensor", "rows", "cols", "kind", "density", "bytes")?;
    for (name, m) in model.matrices() {
        writeln!(
            s,
            "{:<20}{:>8}{:>8}  {:<19}{:>8.1}%{:>10}",
            name.to_string(),
            m.rows(),
            m.cols(),
            m.kind_name(),
            m.density() * 100.0,
            m.stored_bytes()
        )?;
    }
    Ok(s)
}

/// What the outputs are, with their names.
fn head_line(model: &Model<'_>) -> String {
    let names = |n: usize| -> String {
        let all: Vec<&str> = (0..n).map(|i| model.output_name(i).unwrap_or("")).collect();
        if all.iter().all(|x| x.is_empty()) {
            String::new()
        } else {
            format!(": {}", all.join(", "))
        }
    };
    match model.head() {
        Head::NextToken => format!("next token ({} logits)", model.outputs()),
        Head::Classes(_) => format!("{} classes, softmax{}", model.outputs(), names(model.outputs())),
        Head::Regression(_) => format!("{} linear outputs{}", model.outputs(), names(model.outputs())),
    }
}

/// The tokenizer and its rules, for token models.
fn tokenizer_lines(s: &mut String, model: &Model<'_>) -> Result<()> {
    if let Some(tok) = model.tokenizer() {
        let kind = match tok.kind() {
            TokenizerKind::Char => "char",
            TokenizerKind::Word => "word",
        };
        let special = |id: Option<u32>| id.map_or("none".to_string(), |i| format!("{i} {:?}", tok.token_text(i).unwrap_or("")));
        writeln!(s, "tokenizer   {kind}, {} tokens, pad {}, oov {}", tok.vocab_size(), special(tok.pad()), special(tok.oov()))?;
        let rules = match tok.word_rules() {
            Some(r) => format!("lower {}, split {:?}, filters {:?}", r.lowercase, r.split, r.filters),
            None => format!("lower {}", tok.lowercase()),
        };
        writeln!(s, "  rules     {rules}")?;
    }
    Ok(())
}

/// How the products are computed.
fn numerics_line(numerics: Numerics) -> String {
    match numerics {
        Numerics::Float => "float (f32 arithmetic)".to_string(),
        Numerics::HybridInt8 { weight_scale } => {
            format!("hybrid int8 (int8 weights, per-row scales by {weight_scale:?}; int8 inputs, int32 sums, f32 gates)")
        }
        Numerics::Integer { weight_scale } => format!(
            "integer only (int8 weights, per-row scales by {weight_scale:?}; int16 state, fixed-point requantization, table sigmoid/tanh)"
        ),
    }
}

/// Runs `edgegru inspect`.
pub fn run(a: Args) -> Result<Status> {
    let text = report(&crate::builtin::resolve(&a.file)?)?;
    print!("{text}");
    Ok(Status::Done)
}

/// What a fill policy does, in words.
fn fill_words(fill: Fill) -> &'static str {
    match fill {
        Fill::Refuse => "refused",
        Fill::Zero => "filled with 0",
        Fill::Mean => "filled with the training mean",
        Fill::Previous => "filled with the feature's previous value",
    }
}
