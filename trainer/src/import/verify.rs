//! The check of an import: the f32 import against the source file's own
//! graph (ONNX Runtime, else tract) and the written file against the f32
//! import, greedy decoding in lockstep from a prompt (language models).

use anyhow::{ensure, Context, Result};
use edgegru_runtime::{Model, TokenizerKind};
use serde::Serialize;

use crate::backend::{compare_greedy, with_session, Agreement, Backend};

/// Greedy tokens compared between the engines.
pub const CHECK_TOKENS: usize = 64;

/// What the check of an import found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verification {
    /// The prompt's text (empty for a feature model).
    pub prompt: String,
    /// The f32 import against the source file: the engine that ran the
    /// source and the agreement, or why it was not measured.
    pub against_source: Option<(String, Agreement)>,
    /// Why the source was not compared (every engine's reason).
    pub not_measured: Vec<String>,
    /// The written file against the f32 import, when they differ (int8).
    pub written: Option<Agreement>,
    /// Why there was nothing to decode (a feature model).
    pub skipped: Option<String>,
}

impl Verification {
    /// A warning when the written file's greedy output differs from the f32 import's.
    pub fn warning(&self) -> Option<String> {
        let a = self.written.filter(|a| !a.identical)?;
        Some(format!("int8 changes the greedy output ({} of {} tokens equal to the f32 import's)", a.equal_tokens, a.tokens))
    }
}

/// The prompt's ids: `prompt`, or the vocabulary's first token that is
/// neither padding nor OOV.
fn prompt_ids(model: &Model<'_>, prompt: Option<&str>) -> Result<(Vec<u32>, String)> {
    let tok = model.tokenizer().context("a token model")?;
    let ids: Vec<u32> = match prompt {
        Some(p) => tok.encode_iter(p).collect::<Result<_, _>>().with_context(|| format!("--check-prompt {p:?}"))?,
        None => (0..tok.vocab_size()).find(|&i| Some(i) != tok.pad() && Some(i) != tok.oov()).into_iter().collect(),
    };
    ensure!(!ids.is_empty(), "--check-prompt has no tokens");
    let sep = if tok.kind() == TokenizerKind::Word { " " } else { "" };
    let shown = ids.iter().map(|&i| tok.token_text(i).unwrap_or("?")).collect::<Vec<_>>().join(sep);
    Ok((ids, shown))
}

/// Checks an import: `source` is the user's ONNX graph annotated for the
/// sessions (`None` for a Keras file, which no engine here runs), `f32_bytes`
/// the f32 import, `written` the file written.
pub fn verify(source: Option<&[u8]>, f32_bytes: &[u8], written: &[u8], prompt: Option<&str>) -> Result<Verification> {
    let model = Model::from_bytes(written)?;
    if model.tokenizer().is_none() || !model.is_language_model() {
        let why = "a feature model has no sample to decode here; check it with `edgegru eval --data` on its test file";
        return Ok(Verification { skipped: Some(why.into()), ..Verification::default() });
    }
    let (ids, shown) = prompt_ids(&model, prompt)?;
    let mut v = Verification { prompt: shown, ..Verification::default() };
    match source {
        None => v.not_measured.push(
            "the source is a Keras file, which no engine here runs; the import tests compare Keras files with Keras' own model.predict"
                .to_string(),
        ),
        // The source file's own graph: ONNX Runtime when its library is there, else tract.
        Some(source) => {
            for backend in [Backend::Ort, Backend::Tract] {
                let compared = with_session(Backend::Native, f32_bytes, None, |reference| {
                    with_session(backend, source, None, |other| compare_greedy(reference, other, &ids, CHECK_TOKENS))
                });
                match compared {
                    Ok(a) => {
                        v.against_source = Some((backend.name().to_string(), a));
                        break;
                    }
                    Err(e) => v.not_measured.push(format!("{}: {e:#}", backend.name())),
                }
            }
        }
    }
    if written != f32_bytes {
        v.written = Some(with_session(Backend::Native, f32_bytes, None, |reference| {
            with_session(Backend::Native, written, None, |other| compare_greedy(reference, other, &ids, CHECK_TOKENS))
        })?);
    }
    Ok(v)
}
