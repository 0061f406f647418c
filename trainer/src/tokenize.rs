//! Fitting tokenizers on a corpus: characters, or words with Keras
//! `Tokenizer` semantics; and Keras' `pad_sequences`.

use std::collections::HashMap;

use anyhow::{bail, Result};
use edgegru_runtime::writer::{TokenizerSpec, KERAS_FILTERS};
use edgegru_runtime::TokenizerKind;
use serde::{Deserialize, Serialize};

/// A fitted tokenizer: the runtime's tokenizer description (what export
/// writes into the model) plus a lookup table for encoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vocabulary {
    /// Kind, case, filters, split, special ids and token texts by id.
    pub spec: TokenizerSpec,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

/// Keras `Tokenizer` options for word level.
#[derive(Debug, Clone)]
pub struct WordOptions {
    /// Keep the `num_words - 1` most frequent words (Keras' `num_words`: ids below it), plus padding.
    pub num_words: usize,
    /// Lower-case (Keras `lower`).
    pub lowercase: bool,
    /// Separator characters (Keras `filters`).
    pub filters: String,
    /// The split character (Keras `split`).
    pub split: char,
    /// The OOV token text (Keras `oov_token`), or none.
    pub oov_token: Option<String>,
}

impl Default for WordOptions {
    fn default() -> Self {
        WordOptions { num_words: 5000, lowercase: true, filters: KERAS_FILTERS.to_string(), split: ' ', oov_token: Some("<OOV>".into()) }
    }
}

/// Keras `text_to_word_sequence`: lower-case, turn filters into the split
/// character, split, drop empty words.
pub fn text_to_word_sequence(text: &str, lowercase: bool, filters: &str, split: char) -> Vec<String> {
    let text = if lowercase { text.to_lowercase() } else { text.to_string() };
    let mapped: String = text.chars().map(|c| if filters.contains(c) { split } else { c }).collect();
    mapped.split(split).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

impl Vocabulary {
    /// A character vocabulary: every distinct character of `text`, ordered by
    /// code point. No OOV token: unknown characters are an error.
    pub fn fit_chars(text: &str) -> Self {
        let mut chars: Vec<char> = text.chars().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        chars.sort_unstable();
        let mut spec = TokenizerSpec::chars("");
        spec.tokens = chars.into_iter().map(String::from).collect();
        Vocabulary::from_spec(spec)
    }

    /// A word vocabulary with Keras semantics: index 0 is padding, the OOV
    /// token (if any) is index 1, then words by descending count, ties in
    /// order of first appearance; only ids below `num_words` are kept.
    pub fn fit_words(text: &str, opts: &WordOptions) -> Result<Self> {
        if opts.filters.contains(opts.split) {
            bail!("the split character {:?} is also a filter", opts.split);
        }
        let mut counts: Vec<(String, usize)> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for w in text_to_word_sequence(text, opts.lowercase, &opts.filters, opts.split) {
            match seen.get(&w) {
                Some(&i) => counts[i].1 += 1,
                None => {
                    seen.insert(w.clone(), counts.len());
                    counts.push((w, 1));
                }
            }
        }
        // Stable sort: equal counts keep first-appearance order, as Keras' OrderedDict does.
        counts.sort_by_key(|c| std::cmp::Reverse(c.1));
        let mut tokens = vec![String::new()];
        let oov = opts.oov_token.as_ref().map(|t| {
            tokens.push(t.clone());
            1u32
        });
        for (w, _) in counts {
            if tokens.len() >= opts.num_words.max(tokens.len()) {
                break;
            }
            if Some(&w) != opts.oov_token.as_ref() {
                tokens.push(w);
            }
        }
        Ok(Vocabulary::from_spec(TokenizerSpec {
            kind: TokenizerKind::Word,
            lowercase: opts.lowercase,
            filters: opts.filters.clone(),
            split: opts.split,
            pad: Some(0),
            oov,
            tokens,
        }))
    }

    /// A vocabulary over an existing tokenizer description.
    pub fn from_spec(spec: TokenizerSpec) -> Self {
        let mut v = Vocabulary { spec, index: HashMap::new() };
        v.rebuild_index();
        v
    }

    /// Rebuilds the lookup table (after deserializing).
    pub fn rebuild_index(&mut self) {
        let s = &self.spec;
        self.index = s
            .tokens
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i as u32) != s.pad && Some(*i as u32) != s.oov)
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
    }

    /// Number of tokens, padding and OOV included.
    pub fn len(&self) -> usize {
        self.spec.tokens.len()
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.spec.tokens.is_empty()
    }

    /// Token ids of `text`. Unknown tokens map to OOV, or are an error naming
    /// the token when there is no OOV token.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let s = &self.spec;
        let lookup = |t: &str| -> Result<u32> {
            match (self.index.get(t), s.oov) {
                (Some(&id), _) => Ok(id),
                (None, Some(oov)) => Ok(oov),
                (None, None) => bail!("{t:?} is not in the vocabulary"),
            }
        };
        if s.kind == TokenizerKind::Word {
            text_to_word_sequence(text, s.lowercase, &s.filters, s.split).iter().map(|w| lookup(w)).collect()
        } else {
            let text = if s.lowercase { text.to_lowercase() } else { text.to_string() };
            let mut buf = [0u8; 4];
            text.chars().map(|c| lookup(c.encode_utf8(&mut buf))).collect()
        }
    }

    /// The runtime's tokenizer description, for export.
    pub fn to_spec(&self) -> TokenizerSpec {
        self.spec.clone()
    }
}

/// Where `pad_sequences` pads or truncates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// At the start (Keras' default for both).
    Pre,
    /// At the end.
    Post,
}

/// Keras `pad_sequences`: every sequence becomes `maxlen` long (default: the
/// longest), padded with `value` and truncated on the given sides.
pub fn pad_sequences(seqs: &[Vec<u32>], maxlen: Option<usize>, padding: Side, truncating: Side, value: u32) -> Vec<Vec<u32>> {
    let len = maxlen.unwrap_or_else(|| seqs.iter().map(Vec::len).max().unwrap_or(0));
    seqs.iter()
        .map(|s| {
            let kept: &[u32] = if s.len() <= len {
                s
            } else if truncating == Side::Pre {
                &s[s.len() - len..]
            } else {
                &s[..len]
            };
            let pad = std::iter::repeat_n(value, len - kept.len());
            match padding {
                Side::Pre => pad.chain(kept.iter().copied()).collect(),
                Side::Post => kept.iter().copied().chain(pad).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_word_index_order_and_oov() {
        // Keras: Tokenizer(num_words=5, oov_token="<OOV>").fit_on_texts(["the cat. The dog, the END!"])
        // word_counts: the 3, cat 1, dog 1, end 1 -> word_index {<OOV>:1, the:2, cat:3, dog:4, end:5}
        // and num_words=5 keeps ids < 5 when encoding.
        let opts = WordOptions { num_words: 5, ..WordOptions::default() };
        let v = Vocabulary::fit_words("the cat. The dog, the END!", &opts).unwrap();
        assert_eq!(v.spec.tokens, vec!["", "<OOV>", "the", "cat", "dog"]);
        // texts_to_sequences(["The end of the cat"]) -> [[2, 1, 1, 2, 3]]
        assert_eq!(v.encode("The end of the cat").unwrap(), vec![2, 1, 1, 2, 3]);
    }

    #[test]
    fn keras_text_to_word_sequence() {
        assert_eq!(text_to_word_sequence("Hello, World!  It's\tme.", true, KERAS_FILTERS, ' '), vec!["hello", "world", "it's", "me"]);
    }

    #[test]
    fn keras_pad_sequences() {
        let seqs = vec![vec![1, 2, 3], vec![4, 5], vec![6, 7, 8, 9, 10]];
        // pad_sequences(seqs, maxlen=4): padding='pre', truncating='pre'
        assert_eq!(pad_sequences(&seqs, Some(4), Side::Pre, Side::Pre, 0), vec![vec![0, 1, 2, 3], vec![0, 0, 4, 5], vec![7, 8, 9, 10]]);
        // padding='post', truncating='post'
        assert_eq!(pad_sequences(&seqs, Some(4), Side::Post, Side::Post, 0), vec![vec![1, 2, 3, 0], vec![4, 5, 0, 0], vec![6, 7, 8, 9]]);
        // maxlen=None pads to the longest
        assert_eq!(pad_sequences(&seqs, None, Side::Pre, Side::Pre, 0)[1], vec![0, 0, 0, 4, 5]);
    }

    #[test]
    fn char_vocabulary_refuses_unknown_characters() {
        let v = Vocabulary::fit_chars("banana");
        assert_eq!(v.spec.tokens, vec!["a", "b", "n"]);
        assert_eq!(v.encode("nab").unwrap(), vec![2, 0, 1]);
        assert!(v.encode("x").unwrap_err().to_string().contains("\"x\""));
    }
}
