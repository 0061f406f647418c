//! CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as used by zlib and PNG.
//!
//! Four bits at a time from a 16-entry table: 64 bytes of flash instead of
//! the usual 1 KB, for a checksum computed once per model load.

const POLY: u32 = 0xEDB8_8320;

static TABLE: [u32; 16] = make_table();

const fn make_table() -> [u32; 16] {
    let mut table = [0u32; 16];
    let mut i = 0;
    while i < 16 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 4 {
            c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// CRC-32 of `bytes` (check value of `b"123456789"` is `0xCBF43926`).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in bytes {
        c ^= b as u32;
        c = TABLE[(c & 0xF) as usize] ^ (c >> 4);
        c = TABLE[(c & 0xF) as usize] ^ (c >> 4);
    }
    !c
}

#[cfg(test)]
mod tests {
    /// The definition, one bit at a time.
    fn bitwise(bytes: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { super::POLY ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }

    #[test]
    fn matches_the_standard_check_value() {
        assert_eq!(super::crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(super::crc32(b""), 0);
    }

    #[test]
    fn matches_the_bitwise_definition() {
        let bytes: [u8; 300] = core::array::from_fn(|i| (i * 37 % 251) as u8 ^ (i >> 3) as u8);
        for n in [1, 2, 7, 64, 255, 300] {
            assert_eq!(super::crc32(&bytes[..n]), bitwise(&bytes[..n]), "length {n}");
        }
    }
}
