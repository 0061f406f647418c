//! Vocabulary files for `import --vocab`: Keras' `tokenizer.to_json()`, or a
//! JSON list of tokens in id order with the rules they were made under.

use anyhow::{bail, ensure, Context, Result};
use edgegru_runtime::writer::{TokenizerSpec, KERAS_FILTERS};
use edgegru_runtime::TokenizerKind;
use serde_json::Value;

/// How to read a plain token list (a Keras tokenizer JSON says all of this itself).
#[derive(Debug, Clone, Default)]
pub struct ListRules {
    /// The out-of-vocabulary token's text.
    pub oov: Option<String>,
    /// Lower-case text before lookup.
    pub lowercase: bool,
    /// Word level: characters that separate words besides the split character.
    pub filters: Option<String>,
}

/// Reads a vocabulary file: Keras' `tokenizer.to_json()`, or a JSON list of
/// token strings in id order (character level when every token is one
/// character, else words split on spaces, no filters, case kept; an empty
/// first entry is padding, and `oov` names the out-of-vocabulary token).
pub fn read(json: &[u8], rules: &ListRules) -> Result<TokenizerSpec> {
    let v: Value = serde_json::from_slice(json).context("the vocabulary is not JSON")?;
    match &v {
        Value::Array(items) => token_list(items, rules),
        Value::Object(o) if o.get("class_name").and_then(Value::as_str) == Some("Tokenizer") => keras_tokenizer(&v),
        _ => bail!("the vocabulary must be a JSON list of tokens or Keras' tokenizer.to_json()"),
    }
}

fn token_list(items: &[Value], rules: &ListRules) -> Result<TokenizerSpec> {
    let oov = rules.oov.as_deref();
    let tokens: Vec<String> =
        items.iter().map(|t| t.as_str().map(String::from).context("every vocabulary entry must be a string")).collect::<Result<_>>()?;
    ensure!(!tokens.is_empty(), "the vocabulary is empty");
    let pad = tokens[0].is_empty().then_some(0);
    let oov = match oov {
        Some(o) => {
            Some(tokens.iter().position(|t| t == o).with_context(|| format!("the OOV token {o:?} is not in the vocabulary"))? as u32)
        }
        None => None,
    };
    let special = |i: usize| Some(i as u32) == pad || Some(i as u32) == oov;
    let chars = tokens.iter().enumerate().all(|(i, t)| special(i) || t.chars().count() == 1);
    Ok(TokenizerSpec {
        kind: if chars { TokenizerKind::Char } else { TokenizerKind::Word },
        lowercase: rules.lowercase,
        filters: rules.filters.clone().unwrap_or_default(),
        split: ' ',
        pad,
        oov,
        tokens,
    })
}

fn keras_tokenizer(v: &Value) -> Result<TokenizerSpec> {
    let config = v.get("config").context("Keras tokenizer JSON without \"config\"")?;
    // Keras stores word_index as a JSON string inside the config.
    let word_index: Value = match config.get("word_index") {
        Some(Value::String(s)) => serde_json::from_str(s).context("Keras word_index is not JSON")?,
        Some(other) => other.clone(),
        None => bail!("Keras tokenizer JSON without word_index"),
    };
    let index = word_index.as_object().context("Keras word_index is not an object")?;
    let num_words = config.get("num_words").and_then(Value::as_u64).map(|n| n as usize);
    let size = num_words.unwrap_or(index.len() + 1);
    let mut tokens = vec![String::new(); size];
    for (word, id) in index {
        let id = id.as_u64().context("a word_index id is not a number")? as usize;
        ensure!(id > 0, "word_index gives {word:?} id 0, which Keras reserves for padding");
        if id < size {
            tokens[id] = word.clone();
        }
    }
    if let Some(i) = tokens.iter().skip(1).position(String::is_empty) {
        bail!("word_index has no word for id {}", i + 1);
    }
    let oov = match config.get("oov_token") {
        Some(Value::String(t)) => Some(index.get(t).and_then(Value::as_u64).context("the OOV token is not in word_index")? as u32),
        _ => None,
    };
    let char_level = config.get("char_level").and_then(Value::as_bool).unwrap_or(false);
    let split = config.get("split").and_then(Value::as_str).unwrap_or(" ");
    let mut chars = split.chars();
    let (Some(split), None) = (chars.next(), chars.next()) else { bail!("Keras split {split:?} is not one character") };
    Ok(TokenizerSpec {
        kind: if char_level { TokenizerKind::Char } else { TokenizerKind::Word },
        lowercase: config.get("lower").and_then(Value::as_bool).unwrap_or(true),
        filters: config.get("filters").and_then(Value::as_str).unwrap_or(KERAS_FILTERS).into(),
        split,
        pad: Some(0),
        oov,
        tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_tokenizer_json_gives_keras_ids() {
        // The shape of Keras' Tokenizer.to_json(): word_index as a string inside config.
        let json = r#"{"class_name": "Tokenizer", "config": {"num_words": 4, "filters": "!?", "lower": true, "split": " ",
            "char_level": false, "oov_token": "<OOV>", "document_count": 2,
            "word_index": "{\"<OOV>\": 1, \"the\": 2, \"cat\": 3, \"sat\": 4}"}}"#;
        let spec = read(json.as_bytes(), &ListRules::default()).unwrap();
        assert_eq!(spec.tokens, ["", "<OOV>", "the", "cat"], "num_words keeps ids below 4");
        assert_eq!(
            (spec.kind, spec.pad, spec.oov, spec.lowercase, spec.filters.as_str()),
            (TokenizerKind::Word, Some(0), Some(1), true, "!?")
        );
    }

    #[test]
    fn token_lists_are_char_or_word_level() {
        let spec = read(br#"["a", "b", " "]"#, &ListRules::default()).unwrap();
        assert_eq!((spec.kind, spec.pad), (TokenizerKind::Char, None));
        let spec = read(br#"["", "<unk>", "hello", "world"]"#, &ListRules { oov: Some("<unk>".into()), ..ListRules::default() }).unwrap();
        assert_eq!((spec.kind, spec.pad, spec.oov), (TokenizerKind::Word, Some(0), Some(1)));
        assert!(read(br#"{"a": 1}"#, &ListRules::default()).is_err());
        assert!(read(br#"["a", 3]"#, &ListRules::default()).is_err());
        assert!(read(b"\xff", &ListRules::default()).is_err());
    }
}
