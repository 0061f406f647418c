//! The tokenizer stored in the model: character or word level, Keras
//! `Tokenizer` semantics, encode and decode into caller buffers.

use crate::error::{Error, Result};
use crate::format::{TokenizerDesc, TokenizerKind};
use crate::le::u32_at;

/// Longest word, in bytes after lower-casing, that word-level encoding looks
/// up; longer words map to the OOV token.
pub const MAX_WORD_BYTES: usize = 128;

/// A validated tokenizer borrowing its tables from the model bytes.
#[derive(Debug, Clone, Copy)]
pub struct Tokenizer<'a> {
    kind: TokenizerKind,
    lowercase: bool,
    filters: &'a str,
    split: char,
    pad: Option<u32>,
    oov: Option<u32>,
    text: &'a str,
    ends: &'a [u8],
    sorted: &'a [u8],
    vocab: u32,
}

fn bad(reason: &'static str, index: usize) -> Error {
    Error::Tokenizer { reason, index }
}

impl<'a> Tokenizer<'a> {
    /// Checks the tables of a tokenizer with `vocab` tokens (a model does this
    /// when it loads; other readers of the same tables, such as the ONNX
    /// sessions, use it too).
    pub fn from_desc(desc: &TokenizerDesc<'a>, vocab: u32) -> Result<Self> {
        let n = vocab as usize;
        let text = core::str::from_utf8(desc.text).map_err(|e| bad("token text is not UTF-8", e.valid_up_to()))?;
        if desc.ends.len() != n.checked_mul(4).ok_or(bad("vocabulary too large", n))? {
            return Err(bad("`ends` must hold one u32 per token", desc.ends.len() / 4));
        }
        for (name, id) in [("pad id is out of range", desc.pad), ("oov id is out of range", desc.oov)] {
            if let Some(id) = id.filter(|&id| id >= vocab) {
                return Err(bad(name, id as usize));
            }
        }
        if desc.pad.is_some() && desc.pad == desc.oov {
            return Err(bad("pad and oov are the same token", desc.pad.unwrap_or(0) as usize));
        }
        if is_one_of(desc.split, desc.filters) {
            return Err(bad("the split character is also a filter", 0));
        }
        let tok = Tokenizer {
            kind: desc.kind,
            lowercase: desc.lowercase,
            filters: desc.filters,
            split: desc.split,
            pad: desc.pad,
            oov: desc.oov,
            text,
            ends: desc.ends,
            sorted: desc.sorted,
            vocab,
        };
        let mut start = 0usize;
        for id in 0..n {
            let end = u32_at(desc.ends, id) as usize;
            if end < start || end > text.len() || !text.is_char_boundary(end) {
                return Err(bad("token end offset is decreasing, past the text, or inside a character", id));
            }
            let special = tok.is_special(id as u32);
            let t = text.get(start..end).unwrap_or("");
            if !special && t.is_empty() {
                return Err(bad("token text is empty", id));
            }
            let mut chars = t.chars();
            let one_char = chars.next().is_some() && chars.next().is_none();
            if !special && tok.kind == TokenizerKind::Char && !one_char {
                return Err(bad("character token is not exactly one character", id));
            }
            start = end;
        }
        if start != text.len() {
            return Err(bad("token text has bytes after the last token", n));
        }
        let specials = desc.pad.is_some() as usize + desc.oov.is_some() as usize;
        if desc.sorted.len() != (n - specials.min(n)) * 4 {
            return Err(bad("`sorted` must list every non-special token once", desc.sorted.len() / 4));
        }
        let mut previous: Option<&str> = None;
        for i in 0..desc.sorted.len() / 4 {
            let id = u32_at(desc.sorted, i);
            if id >= vocab || tok.is_special(id) {
                return Err(bad("`sorted` holds an out-of-range or special id", i));
            }
            let t = tok.raw_text(id);
            if previous.is_some_and(|p| p.as_bytes() >= t.as_bytes()) {
                return Err(bad("`sorted` is not strictly increasing (duplicate or misordered token)", i));
            }
            previous = Some(t);
        }
        Ok(tok)
    }

    fn is_special(&self, id: u32) -> bool {
        Some(id) == self.pad || Some(id) == self.oov
    }

    fn raw_text(&self, id: u32) -> &'a str {
        let i = id as usize;
        let start = if i == 0 { 0 } else { u32_at(self.ends, i - 1) as usize };
        let end = u32_at(self.ends, i) as usize;
        self.text.get(start..end).unwrap_or("")
    }

    /// Number of tokens.
    pub fn vocab_size(&self) -> u32 {
        self.vocab
    }

    /// Character or word level.
    pub fn kind(&self) -> TokenizerKind {
        self.kind
    }

    /// The padding token, if any.
    pub fn pad(&self) -> Option<u32> {
        self.pad
    }

    /// The out-of-vocabulary token, if any.
    pub fn oov(&self) -> Option<u32> {
        self.oov
    }

    /// Whether text is lower-cased before lookup.
    pub fn lowercase(&self) -> bool {
        self.lowercase
    }

    /// Word level: characters treated as separators (Keras `filters`).
    pub fn filters(&self) -> &'a str {
        self.filters
    }

    /// Word level: the separator (Keras `split`).
    pub fn split(&self) -> char {
        self.split
    }

    /// Separator written between decoded tokens (word level only).
    pub fn separator(&self) -> Option<char> {
        match self.kind {
            TokenizerKind::Char => None,
            TokenizerKind::Word => Some(self.split),
        }
    }

    /// The text of token `id`.
    pub fn token_text(&self, id: u32) -> Result<&'a str> {
        if id >= self.vocab {
            return Err(Error::TokenOutOfRange { token: id, vocab: self.vocab });
        }
        Ok(self.raw_text(id))
    }

    /// The id of a token with exactly this text (special tokens excluded).
    pub fn lookup(&self, token: &str) -> Option<u32> {
        let (mut lo, mut hi) = (0usize, self.sorted.len() / 4);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let id = u32_at(self.sorted, mid);
            match self.raw_text(id).as_bytes().cmp(token.as_bytes()) {
                core::cmp::Ordering::Less => lo = mid + 1,
                core::cmp::Ordering::Greater => hi = mid,
                core::cmp::Ordering::Equal => return Some(id),
            }
        }
        None
    }

    /// The word rules of a word-level tokenizer (`None` for characters).
    pub fn word_rules(&self) -> Option<WordRules<'a>> {
        match self.kind {
            TokenizerKind::Char => None,
            TokenizerKind::Word => Some(WordRules { lowercase: self.lowercase, filters: self.filters, split: self.split }),
        }
    }

    /// The token ids of `text`, one at a time (no buffer needed).
    pub fn encode_iter<'t>(&self, text: &'t str) -> Encoder<'a, 't> {
        Encoder { tok: *self, chars: Chars::new(text, self.lowercase), words: self.word_rules().map(|r| Words::new(text, r)) }
    }

    /// Encodes `text` into `ids`; returns how many were written. When they do
    /// not fit, `BufferTooSmall` says how many are needed and `ids` is left
    /// unchanged.
    pub fn encode(&self, text: &str, ids: &mut [u32]) -> Result<usize> {
        let needed = self.count_tokens(text)?;
        if needed > ids.len() {
            return Err(Error::BufferTooSmall { needed, available: ids.len() });
        }
        for (slot, id) in ids.iter_mut().zip(self.encode_iter(text)) {
            *slot = id?;
        }
        Ok(needed)
    }

    /// Encodes `text` into a fixed-capacity vector (for firmware written in
    /// Rust); `BufferTooSmall` when more than `N` tokens.
    pub fn encode_vec<const N: usize>(&self, text: &str) -> Result<heapless::Vec<u32, N>> {
        let mut ids = heapless::Vec::new();
        let n = self.count_tokens(text)?;
        if n > N {
            return Err(Error::BufferTooSmall { needed: n, available: N });
        }
        for id in self.encode_iter(text) {
            // Cannot fail: there are `n <= N` ids.
            let _ = ids.push(id?);
        }
        Ok(ids)
    }

    /// Number of tokens `text` encodes to.
    pub fn count_tokens(&self, text: &str) -> Result<usize> {
        self.encode_iter(text).try_fold(0, |n, id| id.map(|_| n + 1))
    }

    /// Bytes [`Tokenizer::decode`] writes for `ids`.
    pub fn decoded_len(&self, ids: &[u32]) -> Result<usize> {
        let sep = self.separator().map_or(0, char::len_utf8);
        let mut len = 0usize;
        let mut first = true;
        for &id in ids {
            let t = self.token_text(id)?;
            if Some(id) == self.pad {
                continue;
            }
            len += t.len() + if first { 0 } else { sep };
            first = false;
        }
        Ok(len)
    }

    /// Writes the text of `ids` into `out` (padding skipped, word tokens
    /// joined by the split character); returns the bytes written. When it
    /// does not fit, `BufferTooSmall` says how many bytes are needed and
    /// `out` is left unchanged.
    pub fn decode(&self, ids: &[u32], out: &mut [u8]) -> Result<usize> {
        let needed = self.decoded_len(ids)?;
        if needed > out.len() {
            return Err(Error::BufferTooSmall { needed, available: out.len() });
        }
        let mut w = TextWriter { out, len: 0 };
        self.decode_with(ids, |piece| w.push(piece))?;
        Ok(w.len)
    }

    /// [`Tokenizer::decode`] into a fixed-capacity string (for firmware
    /// written in Rust); `BufferTooSmall` when longer than `N` bytes.
    pub fn decode_string<const N: usize>(&self, ids: &[u32]) -> Result<heapless::String<N>> {
        let needed = self.decoded_len(ids)?;
        if needed > N {
            return Err(Error::BufferTooSmall { needed, available: N });
        }
        let mut s = heapless::String::new();
        self.decode_with(ids, |piece| s.push_str(piece).map_err(|_| Error::BufferTooSmall { needed, available: N }))?;
        Ok(s)
    }

    /// Calls `put` with each piece of the decoded text in order.
    fn decode_with(&self, ids: &[u32], mut put: impl FnMut(&str) -> Result<()>) -> Result<()> {
        let mut first = true;
        for &id in ids {
            let t = self.token_text(id)?;
            if Some(id) == self.pad {
                continue;
            }
            if let (Some(sep), false) = (self.separator(), first) {
                put(sep.encode_utf8(&mut [0; 4]))?;
            }
            put(t)?;
            first = false;
        }
        Ok(())
    }
}

/// Appends text to a caller buffer, refusing what does not fit.
pub(crate) struct TextWriter<'o> {
    pub out: &'o mut [u8],
    pub len: usize,
}

impl TextWriter<'_> {
    /// Appends `s` whole, or nothing with `BufferTooSmall`.
    pub fn push(&mut self, s: &str) -> Result<()> {
        let end = self.len + s.len();
        match self.out.get_mut(self.len..end) {
            Some(dst) => {
                dst.copy_from_slice(s.as_bytes());
                self.len = end;
                Ok(())
            }
            None => Err(Error::BufferTooSmall { needed: end, available: self.out.len() }),
        }
    }
}

/// The rules that cut text into words (Keras `Tokenizer` semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WordRules<'a> {
    /// Lower-case before splitting.
    pub lowercase: bool,
    /// Characters that separate words, besides `split`.
    pub filters: &'a str,
    /// The separator.
    pub split: char,
}

/// The characters of a text as a tokenizer sees them (lower-cased when
/// asked: a character can lower-case to several), each with the byte offset
/// of the character it came from.
#[derive(Clone)]
pub struct Chars<'t> {
    text: &'t str,
    pos: usize,
    lowercase: bool,
    /// The second char of a character that lower-cases to two.
    pending: Option<char>,
    at: usize,
}

impl<'t> Chars<'t> {
    /// The characters of `text`, lower-cased if `lowercase`.
    pub fn new(text: &'t str, lowercase: bool) -> Self {
        Chars { text, pos: 0, lowercase, pending: None, at: 0 }
    }
}

impl Iterator for Chars<'_> {
    type Item = (char, usize);

    fn next(&mut self) -> Option<(char, usize)> {
        if let Some(l) = self.pending.take() {
            return Some((l, self.at));
        }
        let c = self.text.get(self.pos..)?.chars().next()?;
        let at = self.pos;
        self.pos += c.len_utf8();
        if !self.lowercase {
            return Some((c, at));
        }
        let (first, second) = crate::lowercase::lowercase(c);
        self.at = at;
        self.pending = second;
        Some((first, at))
    }
}

/// One word of a text: its text after lower-casing (`None` when longer than
/// [`MAX_WORD_BYTES`], which makes it unknown), its first character and the
/// byte offset where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word, or `None` when it is too long to look up.
    pub text: Option<heapless::String<MAX_WORD_BYTES>>,
    /// Its first character.
    pub first: char,
    /// Byte offset of its first character in the text.
    pub offset: usize,
}

/// The words of a text under `rules`: what word-level encoding looks up, and
/// what fitting a vocabulary counts (one splitter for both).
#[derive(Clone)]
pub struct Words<'r, 't> {
    chars: Chars<'t>,
    rules: WordRules<'r>,
}

impl<'r, 't> Words<'r, 't> {
    /// The words of `text`.
    pub fn new(text: &'t str, rules: WordRules<'r>) -> Self {
        Words { chars: Chars::new(text, rules.lowercase), rules }
    }
}

impl Iterator for Words<'_, '_> {
    type Item = Word;

    fn next(&mut self) -> Option<Word> {
        let mut word: heapless::String<MAX_WORD_BYTES> = heapless::String::new();
        let (mut too_long, mut start) = (false, None);
        for (c, at) in self.chars.by_ref() {
            if c == self.rules.split || is_one_of(c, self.rules.filters) {
                if start.is_some() {
                    break;
                }
                continue;
            }
            start.get_or_insert((c, at));
            if word.push(c).is_err() {
                too_long = true;
            }
        }
        let (first, offset) = start?;
        Some(Word { text: (!too_long).then_some(word), first, offset })
    }
}

/// Iterator over the token ids of a text; see [`Tokenizer::encode_iter`].
#[derive(Clone)]
pub struct Encoder<'a, 't> {
    tok: Tokenizer<'a>,
    chars: Chars<'t>,
    words: Option<Words<'a, 't>>,
}

impl Encoder<'_, '_> {
    fn resolve(&self, found: Option<u32>, offset: usize, character: char) -> Result<u32> {
        found.or(self.tok.oov).ok_or(Error::UnknownToken { offset, character })
    }
}

impl Iterator for Encoder<'_, '_> {
    type Item = Result<u32>;

    fn next(&mut self) -> Option<Result<u32>> {
        match self.words.as_mut() {
            None => {
                let (c, at) = self.chars.next()?;
                Some(self.resolve(self.tok.lookup(c.encode_utf8(&mut [0; 4])), at, c))
            }
            Some(words) => {
                let w = words.next()?;
                let found = w.text.as_ref().and_then(|t| self.tok.lookup(t));
                Some(self.resolve(found, w.offset, w.first))
            }
        }
    }
}

/// Whether `c` is one of the characters of `set` (a plain scan: far less code
/// on microcontrollers than `str::contains`, and filter sets are short).
fn is_one_of(c: char, set: &str) -> bool {
    set.chars().any(|f| f == c)
}
