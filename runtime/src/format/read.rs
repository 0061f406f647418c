//! The reader of the wire types: postcard's encoding (varint integers,
//! length-prefixed bytes and strings, one-byte bools and option tags, varint
//! enum tags, fields in order) written out for exactly the types of a body.
//!
//! Byte sections and strings borrow from the body. Every length is checked
//! against the bytes left before anything is taken, so a damaged body gives
//! an [`crate::Error::Decode`] and never a panic. The reasons are postcard's own.

use super::v1;
use super::{
    Activation, AlignedRowTables, Body, DenseDesc, Dims, Extension, Fill, GruDesc, HeadDesc, HeadKindDesc, Header, InputDesc, Numerics,
    Provenance, RowTables, ScaleRule, TensorDesc, TokenizerDesc, TokenizerKind, MAX_DENSE_LAYERS, MAX_GRU_LAYERS,
};
/// A decoded value, or why the body does not decode (postcard's reason,
/// which [`super::decode_all`] turns into [`crate::Error::Decode`]). A bare
/// reason keeps every `?` here a one-word move.
pub(crate) type Result<T> = core::result::Result<T, &'static str>;

/// Why a body does not decode.
const END: &str = "unexpected end of data";
const VARINT: &str = "bad varint";
const BOOL: &str = "bad bool";
const CHAR: &str = "bad char";
const UTF8: &str = "string is not UTF-8";
const OPTION: &str = "bad option tag";
const PADDING: &str = "row table padding that is not 0 to 3 zero bytes";
const RANGE: &str = "a value out of range (an unknown variant, or more layers than the format allows)";

fn fail<T>(reason: &'static str) -> Result<T> {
    Err(reason)
}

/// A cursor over a body's bytes.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    #[inline(never)]
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let Some((head, tail)) = self.rest.split_at_checked(n) else { return fail(END) };
        self.rest = tail;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    /// A varint u32: at most 5 bytes, the fifth holding at most 4 bits.
    /// Lengths use it too, so a body reads the same on 32- and 64-bit targets.
    #[inline(never)]
    fn u32(&mut self) -> Result<u32> {
        let mut out = 0u32;
        for i in 0..5 {
            let b = self.byte()?;
            out |= ((b & 0x7F) as u32) << (7 * i);
            if b & 0x80 == 0 {
                return if i == 4 && b > 0x0F { fail(VARINT) } else { Ok(out) };
            }
        }
        fail(VARINT)
    }

    fn len(&mut self) -> Result<usize> {
        Ok(self.u32()? as usize)
    }

    #[inline(never)]
    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }

    fn str(&mut self) -> Result<&'a str> {
        core::str::from_utf8(self.bytes()?).or(fail(UTF8))
    }

    fn bool(&mut self) -> Result<bool> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => fail(BOOL),
        }
    }

    fn f32(&mut self) -> Result<f32> {
        let b = self.take(4)?;
        Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A char: its UTF-8 bytes (at most 4) with their length; the first char of them.
    fn char(&mut self) -> Result<char> {
        let n = self.len()?;
        if n > 4 {
            return fail(CHAR);
        }
        let text = core::str::from_utf8(self.take(n)?).or(fail(CHAR))?;
        text.chars().next().map_or(fail(CHAR), Ok)
    }

    fn option_u32(&mut self) -> Result<Option<u32>> {
        match self.byte()? {
            0 => Ok(None),
            1 => Ok(Some(self.u32()?)),
            _ => fail(OPTION),
        }
    }

    /// An enum's variant index, below `count`.
    fn variant(&mut self, count: u32) -> Result<u32> {
        match self.u32()? {
            v if v < count => Ok(v),
            _ => fail(RANGE),
        }
    }

    /// The length of a list of at most `max` values.
    pub(crate) fn list_len(&mut self, max: usize) -> Result<usize> {
        match self.len()? {
            n if n <= max => Ok(n),
            _ => fail(RANGE),
        }
    }

    /// A list of at most `N` values.
    fn list<T, const N: usize>(&mut self, item: impl Fn(&mut Self) -> Result<T>) -> Result<heapless::Vec<T, N>> {
        let n = self.len()?;
        let mut out = heapless::Vec::new();
        for _ in 0..n {
            out.push(item(self)?).or(fail(RANGE))?;
        }
        Ok(out)
    }
}

/// A wire type the reader decodes.
pub(crate) trait Decode<'a>: Sized {
    /// Reads one value.
    fn decode(r: &mut Reader<'a>) -> Result<Self>;
}

impl<'a> Decode<'a> for Header<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        Ok(Header { numerics: Numerics::decode(r)?, provenance: Provenance::decode(r)? })
    }
}

impl<'a> Decode<'a> for Body<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        Ok(Body {
            header: Header::decode(r)?,
            input: InputDesc::decode(r)?,
            grus: r.list::<_, MAX_GRU_LAYERS>(GruDesc::decode)?,
            dense: r.list::<_, MAX_DENSE_LAYERS>(DenseDesc::decode)?,
            head: HeadDesc::decode(r)?,
        })
    }
}

impl<'a> Decode<'a> for Extension<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        Ok(Extension { feature_names: r.bytes()?, feature_ends: r.bytes()?, fill: Fill::ALL[r.variant(4)? as usize] })
    }
}

impl<'a> Decode<'a> for RowTables<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        Ok(RowTables { multipliers: r.bytes()?, shifts: r.bytes()?, biases: r.bytes()? })
    }
}

impl<'a> Decode<'a> for AlignedRowTables<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        let pad = |r: &mut Reader<'a>| match r.bytes()? {
            p if p.len() <= 3 && p.iter().all(|&b| b == 0) => Ok(p),
            _ => fail(PADDING),
        };
        Ok(AlignedRowTables { lead: pad(r)?, multipliers: r.bytes()?, shifts: r.bytes()?, gap: pad(r)?, biases: r.bytes()? })
    }
}

impl<'a> Decode<'a> for v1::Body<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        let dims = Dims { vocab: r.u32()?, emb: r.u32()?, hidden: r.u32()?, dense: r.u32()? };
        let header =
            v1::Header { dims, tokenizer: TokenizerDesc::decode(r)?, numerics: Numerics::decode(r)?, provenance: Provenance::decode(r)? };
        let tensors = v1::Tensors {
            embedding: TensorDesc::decode(r)?,
            gru_input: TensorDesc::decode(r)?,
            gru_recurrent: TensorDesc::decode(r)?,
            gru_input_bias: r.bytes()?,
            gru_recurrent_bias: r.bytes()?,
            dense: TensorDesc::decode(r)?,
            dense_bias: r.bytes()?,
            output: TensorDesc::decode(r)?,
            output_bias: r.bytes()?,
        };
        Ok(v1::Body { header, tensors })
    }
}

impl Decode<'_> for Numerics {
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let kind = r.variant(3)?;
        if kind == 0 {
            return Ok(Numerics::Float);
        }
        let weight_scale = ScaleRule::decode(r)?;
        Ok(if kind == 1 { Numerics::HybridInt8 { weight_scale } } else { Numerics::Integer { weight_scale } })
    }
}

impl Decode<'_> for ScaleRule {
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        r.variant(1).map(|_| ScaleRule::MaxAbs)
    }
}

impl<'a> Decode<'a> for Provenance<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        Ok(Provenance { name: r.str()?, producer: r.str()?, corpus: r.str()?, training: r.str()? })
    }
}

impl<'a> Decode<'a> for InputDesc<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        Ok(match r.variant(2)? {
            0 => InputDesc::Tokens { tokenizer: TokenizerDesc::decode(r)?, embedding: TensorDesc::decode(r)? },
            _ => InputDesc::Features { count: r.u32()?, mean: r.bytes()?, scale: r.bytes()?, quant_scale: r.f32()? },
        })
    }
}

impl<'a> Decode<'a> for TokenizerDesc<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        Ok(TokenizerDesc {
            kind: if r.variant(2)? == 0 { TokenizerKind::Char } else { TokenizerKind::Word },
            lowercase: r.bool()?,
            filters: r.str()?,
            split: r.char()?,
            pad: r.option_u32()?,
            oov: r.option_u32()?,
            text: r.bytes()?,
            ends: r.bytes()?,
            sorted: r.bytes()?,
        })
    }
}

impl<'a> Decode<'a> for GruDesc<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        Ok(GruDesc { input: TensorDesc::decode(r)?, recurrent: TensorDesc::decode(r)?, input_bias: r.bytes()?, recurrent_bias: r.bytes()? })
    }
}

impl<'a> Decode<'a> for DenseDesc<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        Ok(DenseDesc { activation: Activation::ALL[r.variant(4)? as usize], weight: TensorDesc::decode(r)?, bias: r.bytes()? })
    }
}

impl<'a> Decode<'a> for HeadDesc<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        let kind = match r.variant(3)? {
            0 => HeadKindDesc::NextToken,
            1 => HeadKindDesc::Classes { names: r.bytes()?, ends: r.bytes()? },
            _ => HeadKindDesc::Regression { names: r.bytes()?, ends: r.bytes()? },
        };
        Ok(HeadDesc { kind, weight: TensorDesc::decode(r)?, bias: r.bytes()? })
    }
}

impl<'a> Decode<'a> for TensorDesc<'a> {
    /// The kind, `rows`, `cols`, then the kind's byte sections (1, 2 or 4).
    #[inline(never)]
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        let kind = r.variant(6)?;
        let (rows, cols) = (r.u32()?, r.u32()?);
        let sections = match kind {
            0 | 1 => 1,
            2 | 4 => 2,
            _ => 4,
        };
        let mut s: [&'a [u8]; 4] = [&[]; 4];
        for b in s.iter_mut().take(sections) {
            *b = r.bytes()?;
        }
        let [a, b, c, d] = s;
        Ok(match kind {
            0 => TensorDesc::F32 { rows, cols, data: a },
            1 => TensorDesc::F16 { rows, cols, data: a },
            2 => TensorDesc::Int8 { rows, cols, scales: a, data: b },
            3 => TensorDesc::Int8Block8x4 { rows, cols, scales: a, row_blocks: b, block_cols: c, blocks: d },
            4 => TensorDesc::Int8ArmDsp { rows, cols, scales: a, data: b },
            _ => TensorDesc::Int8ArmDspBlock8x4 { rows, cols, scales: a, row_blocks: b, block_cols: c, blocks: d },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<'a, T>(bytes: &'a [u8], f: impl FnOnce(&mut Reader<'a>) -> Result<T>) -> Result<T> {
        f(&mut Reader::new(bytes))
    }

    #[test]
    fn varints_follow_postcard() {
        assert_eq!(read(&[0x05], Reader::u32), Ok(5));
        assert_eq!(read(&[0x80, 0x01], Reader::u32), Ok(128));
        // Non-canonical zero padding is accepted, as postcard does.
        assert_eq!(read(&[0x81, 0x80, 0x00], Reader::u32), Ok(1));
        assert_eq!(read(&[0xFF, 0xFF, 0xFF, 0xFF, 0x0F], Reader::u32), Ok(u32::MAX));
        // A fifth byte with more than 4 bits, or a sixth byte: bad varint.
        assert_eq!(read(&[0xFF, 0xFF, 0xFF, 0xFF, 0x10], Reader::u32), Err(VARINT));
        assert_eq!(read(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], Reader::u32), Err(VARINT));
        assert_eq!(read(&[0x80], Reader::u32), Err(END));
        assert_eq!(read(&[], Reader::u32), Err(END));
    }

    #[test]
    fn sections_strings_and_small_values() {
        assert_eq!(read(&[2, 7, 8, 9], Reader::bytes), Ok(&[7u8, 8][..]));
        assert_eq!(read(&[3, 7, 8], Reader::bytes), Err(END));
        assert_eq!(read(&[0xFF, 0xFF, 0xFF, 0xFF, 0x0F], Reader::bytes), Err(END));
        assert_eq!(read(&[2, b'o', b'k'], Reader::str), Ok("ok"));
        assert_eq!(read(&[1, 0xFF], Reader::str), Err(UTF8));
        assert_eq!(read(&[2, 0xC3, 0xA9], Reader::char), Ok('é'));
        assert_eq!(read(&[2, b'a', b'b'], Reader::char), Ok('a'));
        assert_eq!(read(&[0], Reader::char), Err(CHAR));
        assert_eq!(read(&[5, b'a', b'b', b'c', b'd', b'e'], Reader::char), Err(CHAR));
        assert_eq!(read(&[1, 0xFF], Reader::char), Err(CHAR));
        assert_eq!(read(&[1], Reader::bool), Ok(true));
        assert_eq!(read(&[2], Reader::bool), Err(BOOL));
        assert_eq!(read(&[0], Reader::option_u32), Ok(None));
        assert_eq!(read(&[1, 9], Reader::option_u32), Ok(Some(9)));
        assert_eq!(read(&[2, 9], Reader::option_u32), Err(OPTION));
        assert_eq!(read(&[0, 0, 0x80, 0x3F], Reader::f32), Ok(1.0));
        assert_eq!(read(&[0, 0, 0x80], Reader::f32), Err(END));
        assert_eq!(read(&[3], |r| r.variant(3)), Err(RANGE));
        assert_eq!(read(&[2], |r| r.variant(3)), Ok(2));
    }

    #[test]
    fn lists_longer_than_the_format_allows_are_out_of_range() {
        fn list(r: &mut Reader<'_>) -> Result<usize> {
            r.list::<_, 2>(Reader::u32).map(|v| v.len())
        }
        assert_eq!(read(&[2, 1, 2], list), Ok(2));
        assert_eq!(read(&[3, 1, 2, 3], list), Err(RANGE));
        assert_eq!(read(&[2, 1], list), Err(END));
    }
}
