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
    /// Checks the tables of a tokenizer with `vocab` tokens.
    pub(crate) fn from_desc(desc: &TokenizerDesc<'a>, vocab: u32) -> Result<Self> {
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
            let t = &text[start..end];
            if !special && t.is_empty() {
                return Err(bad("token text is empty", id));
            }
            if !special && tok.kind == TokenizerKind::Char && t.chars().count() != 1 {
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

    /// The token ids of `text`, one at a time (no buffer needed).
    pub fn encode_iter<'t>(&self, text: &'t str) -> Encoder<'a, 't> {
        Encoder { tok: *self, text, pos: 0, pending: Pending::new() }
    }

    /// Encodes `text` into `ids`; returns how many were written.
    pub fn encode(&self, text: &str, ids: &mut [u32]) -> Result<usize> {
        let mut n = 0;
        for id in self.encode_iter(text) {
            let id = id?;
            if n == ids.len() {
                let needed = n + 1 + self.encode_iter(text).skip(n + 1).count();
                return Err(Error::BufferTooSmall { needed, available: ids.len() });
            }
            ids[n] = id;
            n += 1;
        }
        Ok(n)
    }

    /// Number of tokens `text` encodes to.
    pub fn count_tokens(&self, text: &str) -> Result<usize> {
        self.encode_iter(text).try_fold(0, |n, id| id.map(|_| n + 1))
    }

    /// Writes the text of `ids` into `out` (padding skipped, word tokens
    /// joined by the split character); returns the bytes written.
    pub fn decode(&self, ids: &[u32], out: &mut [u8]) -> Result<usize> {
        let mut w = TextWriter { out, len: 0 };
        let mut first = true;
        for &id in ids {
            let t = self.token_text(id)?;
            if Some(id) == self.pad {
                continue;
            }
            if let (Some(sep), false) = (self.separator(), first) {
                w.push(sep.encode_utf8(&mut [0; 4]))?;
            }
            w.push(t)?;
            first = false;
        }
        Ok(w.len)
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

/// Lower-cased characters not yet consumed (a character can lower-case to several).
#[derive(Clone)]
struct Pending {
    chars: [char; 3],
    len: u8,
    next: u8,
}

impl Pending {
    fn new() -> Self {
        Pending { chars: ['\0'; 3], len: 0, next: 0 }
    }
    fn pop(&mut self) -> Option<char> {
        if self.next < self.len {
            self.next += 1;
            Some(self.chars[self.next as usize - 1])
        } else {
            None
        }
    }
}

/// Iterator over the token ids of a text; see [`Tokenizer::encode_iter`].
#[derive(Clone)]
pub struct Encoder<'a, 't> {
    tok: Tokenizer<'a>,
    text: &'t str,
    pos: usize,
    pending: Pending,
}

impl Encoder<'_, '_> {
    /// Next character after lower-casing, with the byte offset of its source.
    fn next_char(&mut self) -> Option<(char, usize)> {
        if let Some(c) = self.pending.pop() {
            return Some((c, self.pos));
        }
        let c = self.text.get(self.pos..)?.chars().next()?;
        let at = self.pos;
        self.pos += c.len_utf8();
        if !self.tok.lowercase {
            return Some((c, at));
        }
        let mut lower = c.to_lowercase();
        let first = lower.next().unwrap_or(c);
        self.pending = Pending::new();
        for l in lower.take(3) {
            self.pending.chars[self.pending.len as usize] = l;
            self.pending.len += 1;
        }
        Some((first, at))
    }

    fn resolve(&self, found: Option<u32>, offset: usize) -> Result<u32> {
        found.or(self.tok.oov).ok_or(Error::UnknownToken { offset })
    }
}

impl Iterator for Encoder<'_, '_> {
    type Item = Result<u32>;

    fn next(&mut self) -> Option<Result<u32>> {
        match self.tok.kind {
            TokenizerKind::Char => {
                let (c, at) = self.next_char()?;
                Some(self.resolve(self.tok.lookup(c.encode_utf8(&mut [0; 4])), at))
            }
            TokenizerKind::Word => {
                let mut word = [0u8; MAX_WORD_BYTES];
                let (mut len, mut too_long, mut start) = (0usize, false, None);
                while let Some((c, at)) = self.next_char() {
                    if c == self.tok.split || is_one_of(c, self.tok.filters) {
                        if start.is_some() {
                            break;
                        }
                        continue;
                    }
                    start.get_or_insert(at);
                    let n = c.len_utf8();
                    if len + n <= MAX_WORD_BYTES {
                        c.encode_utf8(&mut word[len..len + n]);
                        len += n;
                    } else {
                        too_long = true;
                    }
                }
                let at = start?;
                let found = if too_long { None } else { core::str::from_utf8(&word[..len]).ok().and_then(|w| self.tok.lookup(w)) };
                Some(self.resolve(found, at))
            }
        }
    }
}

/// Whether `c` is one of the characters of `set` (a plain scan: far less code
/// on microcontrollers than `str::contains`, and filter sets are short).
fn is_one_of(c: char, set: &str) -> bool {
    set.chars().any(|f| f == c)
}
