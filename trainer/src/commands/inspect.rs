//! `edgegru inspect FILE`: what is inside a model file.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use edgegru_runtime::{Model, Numerics, TokenizerKind};

/// A human-readable report of a model: dims, tokenizer, numerics, tensors, memory.
pub fn report(bytes: &[u8]) -> Result<String> {
    let model = Model::from_bytes(bytes)?;
    let d = model.dims();
    let tok = model.tokenizer();
    let p = model.provenance();
    let mut s = String::new();
    writeln!(s, "model       {} ({} bytes, crc32 {:#010x})", p.name, model.file_len(), model.checksum())?;
    writeln!(s, "producer    {}", p.producer)?;
    if !p.corpus.is_empty() {
        writeln!(s, "corpus      {}", p.corpus)?;
    }
    if !p.training.is_empty() {
        writeln!(s, "training    {}", p.training)?;
    }
    writeln!(
        s,
        "dims        vocab {}  emb {}  hidden {}  dense {}  ({} parameters)",
        d.vocab,
        d.emb,
        d.hidden,
        d.dense,
        model.parameter_count()
    )?;
    let kind = match tok.kind() {
        TokenizerKind::Char => "char",
        TokenizerKind::Word => "word",
    };
    let special = |id: Option<u32>| id.map_or("none".to_string(), |i| format!("{i}"));
    writeln!(s, "tokenizer   {kind}, {} tokens, pad {}, oov {}", tok.vocab_size(), special(tok.pad()), special(tok.oov()))?;
    let numerics = match model.numerics() {
        Numerics::Float => "float (f32 arithmetic)".to_string(),
        Numerics::HybridInt8 { weight_scale } => {
            format!("hybrid int8 (int8 weights, per-row scales by {weight_scale:?}; int8 inputs, int32 sums, f32 gates)")
        }
        Numerics::Integer { weight_scale } => format!(
            "integer only (int8 weights, per-row scales by {weight_scale:?}; int16 state, fixed-point requantization, table sigmoid/tanh)"
        ),
    };
    writeln!(s, "numerics    {numerics}")?;
    writeln!(s, "kernels     {}", model.isa().name())?;
    writeln!(s, "arena       {} bytes", model.arena_size())?;
    writeln!(s, "{:<16}{:>8}{:>8}  {:<15}{:>9}{:>10}", "tensor", "rows", "cols", "kind", "density", "bytes")?;
    for (name, m) in model.matrices() {
        writeln!(
            s,
            "{:<16}{:>8}{:>8}  {:<15}{:>8.1}%{:>10}",
            name.as_str(),
            m.rows(),
            m.cols(),
            m.kind_name(),
            m.density() * 100.0,
            m.stored_bytes()
        )?;
    }
    Ok(s)
}

/// Runs `edgegru inspect`.
pub fn run(path: &Path) -> Result<()> {
    print!("{}", report(&super::read_file(path)?)?);
    Ok(())
}
