//! Little-endian values read from model bytes, in place (any alignment).

/// The `i`-th u32 LE of `bytes`; 0 past the end (callers check lengths first).
pub(crate) fn u32_at(bytes: &[u8], i: usize) -> u32 {
    match bytes.get(i * 4..i * 4 + 4) {
        Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

/// The `i`-th f32 LE of `bytes`; 0.0 past the end (callers check lengths first).
pub(crate) fn f32_at(bytes: &[u8], i: usize) -> f32 {
    f32::from_bits(u32_at(bytes, i))
}
