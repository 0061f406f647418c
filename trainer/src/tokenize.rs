//! Fitting a vocabulary on a corpus: characters, or words with Keras
//! `Tokenizer` semantics. Encoding is the runtime's: a [`Vocabulary`] builds
//! the same tables that go into the model file and encodes with them, so a
//! text becomes the same ids in training and on the device.

use std::collections::HashMap;

use anyhow::{bail, Result};
use edgegru_runtime::tokenizer::{Chars, WordRules, Words};
use edgegru_runtime::writer::{TokenizerSpec, TokenizerTables, KERAS_FILTERS};
use edgegru_runtime::{Error, Tokenizer, TokenizerKind};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A fitted tokenizer: the runtime's tokenizer tables (what export writes
/// into the model, and what encodes).
#[derive(Debug, Clone, PartialEq)]
pub struct Vocabulary {
    tables: TokenizerTables,
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

/// Where an unknown token is, for people: its character and position.
pub fn describe_unknown(text: &str, e: &Error) -> Option<String> {
    match *e {
        Error::UnknownToken { offset, character } => {
            let index = text.get(..offset).map_or(0, |t| t.chars().count());
            Some(format!("{character:?} (U+{:04X}) at character {index} is not in the vocabulary", character as u32))
        }
        _ => None,
    }
}

impl Vocabulary {
    /// A character vocabulary: every distinct character of `text`, ordered by
    /// code point. No OOV token: unknown characters are an error.
    pub fn fit_chars(text: &str) -> Result<Self> {
        let chars: std::collections::BTreeSet<char> = Chars::new(text, false).map(|(c, _)| c).collect();
        let mut spec = TokenizerSpec::chars("");
        spec.tokens = chars.into_iter().map(String::from).collect();
        Vocabulary::from_spec(spec)
    }

    /// A word vocabulary with Keras semantics: index 0 is padding, the OOV
    /// token (if any) is index 1, then words by descending count, ties in
    /// order of first appearance; only ids below `num_words` are kept. Words
    /// are the runtime's (so a word too long for the device is not kept).
    pub fn fit_words(text: &str, opts: &WordOptions) -> Result<Self> {
        if opts.filters.contains(opts.split) {
            bail!("the split character {:?} is also a filter", opts.split);
        }
        let rules = WordRules { lowercase: opts.lowercase, filters: &opts.filters, split: opts.split };
        let mut counts: Vec<(String, usize)> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for w in Words::new(text, rules).filter_map(|w| w.text) {
            match seen.get(w.as_str()) {
                Some(&i) => counts[i].1 += 1,
                None => {
                    seen.insert(w.as_str().to_string(), counts.len());
                    counts.push((w.as_str().to_string(), 1));
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
        Vocabulary::from_spec(TokenizerSpec {
            kind: TokenizerKind::Word,
            lowercase: opts.lowercase,
            filters: opts.filters.clone(),
            split: opts.split,
            pad: Some(0),
            oov,
            tokens,
        })
    }

    /// A vocabulary over an existing tokenizer description (checked as a model load checks it).
    pub fn from_spec(spec: TokenizerSpec) -> Result<Self> {
        Ok(Vocabulary { tables: TokenizerTables::new(spec).map_err(|e| anyhow::anyhow!("invalid vocabulary: {e}"))? })
    }

    /// The description that goes into a model file.
    pub fn spec(&self) -> &TokenizerSpec {
        self.tables.spec()
    }

    /// The runtime's tokenizer over these tables.
    pub fn tokenizer(&self) -> Tokenizer<'_> {
        // The tables were checked when the vocabulary was made.
        self.tables.tokenizer().expect("checked tables")
    }

    /// Number of tokens, padding and OOV included.
    pub fn len(&self) -> usize {
        self.spec().tokens.len()
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.spec().tokens.is_empty()
    }

    /// Token ids of `text`, by the runtime's tokenizer. Unknown tokens map to
    /// OOV, or are an error naming the character when there is no OOV token.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.tokenizer().encode_iter(text).collect::<Result<Vec<u32>, Error>>().map_err(|e| match describe_unknown(text, &e) {
            Some(what) => anyhow::anyhow!("{what}"),
            None => anyhow::anyhow!("{e}"),
        })
    }

    /// The runtime's tokenizer description, for export.
    pub fn to_spec(&self) -> TokenizerSpec {
        self.spec().clone()
    }
}

/// Checkpoints store the description (`{"spec": ...}`); the tables are rebuilt on load.
#[derive(Serialize, Deserialize)]
struct Stored {
    spec: TokenizerSpec,
}

impl Serialize for Vocabulary {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Stored { spec: self.spec().clone() }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Vocabulary {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let stored = Stored::deserialize(d)?;
        Vocabulary::from_spec(stored.spec).map_err(serde::de::Error::custom)
    }
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
        assert_eq!(v.spec().tokens, vec!["", "<OOV>", "the", "cat", "dog"]);
        // texts_to_sequences(["The end of the cat"]) -> [[2, 1, 1, 2, 3]]
        assert_eq!(v.encode("The end of the cat").unwrap(), vec![2, 1, 1, 2, 3]);
    }

    #[test]
    fn keras_word_splitting() {
        let rules = WordRules { lowercase: true, filters: KERAS_FILTERS, split: ' ' };
        let words: Vec<String> = Words::new("Hello, World!  It's\\tme.", rules).map(|w| w.text.unwrap().as_str().to_string()).collect();
        assert_eq!(words, vec!["hello", "world", "it's", "tme"], "a backslash is one of the Keras filters");
        let words: Vec<String> = Words::new("Hello, World!  It's\tme.", rules).map(|w| w.text.unwrap().as_str().to_string()).collect();
        assert_eq!(words, vec!["hello", "world", "it's", "me"]);
    }

    #[test]
    fn char_vocabulary_refuses_unknown_characters_naming_them() {
        let v = Vocabulary::fit_chars("banana").unwrap();
        assert_eq!(v.spec().tokens, vec!["a", "b", "n"]);
        assert_eq!(v.encode("nab").unwrap(), vec![2, 0, 1]);
        let err = v.encode("nabé").unwrap_err().to_string();
        assert!(err.contains("'é' (U+00E9) at character 3"), "{err}");
    }

    #[test]
    fn words_longer_than_the_device_looks_up_are_not_fitted() {
        let long = "x".repeat(edgegru_runtime::tokenizer::MAX_WORD_BYTES + 1);
        let text = format!("{long} a {long} b a");
        let v = Vocabulary::fit_words(&text, &WordOptions::default()).unwrap();
        assert_eq!(v.spec().tokens, vec!["", "<OOV>", "a", "b"]);
        assert_eq!(v.encode(&text).unwrap(), vec![1, 2, 1, 3, 2], "the long word is OOV in training as on the device");
    }

    #[test]
    fn checkpoints_round_trip_the_vocabulary() {
        let v = Vocabulary::fit_words("one two two three", &WordOptions::default()).unwrap();
        let json = serde_json::to_string(&v).unwrap();
        assert!(json.starts_with("{\"spec\":"), "{json}");
        let back: Vocabulary = serde_json::from_str(&json).unwrap();
        assert_eq!(back, v);
    }
}
