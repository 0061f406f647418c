//! Lower-casing exactly as `char::to_lowercase` does it, from a table of
//! runs: about 1.5 KB of flash where core's own tables take about 11.7 KB
//! (what a device pays for any tokenizer that lower-cases). Hosts and
//! devices use this one table, so both lower-case alike; a test holds it to
//! `char::to_lowercase` for every char, and regenerates it with
//! `EDGEGRU_BLESS=1 cargo test -p edgegru-runtime --features std lowercase`
//! after a Unicode update.

/// Consecutive chars that lower-case by adding the same `delta`: `len` of
/// them, `stride` (1 or 2) apart, from `start`.
#[derive(Clone, Copy)]
struct Run {
    /// `start << 11 | (stride - 1) << 10 | (len - 1)`.
    packed: u32,
    delta: i32,
}

impl Run {
    const fn new(start: u32, len: u32, stride: u32, delta: i32) -> Run {
        Run { packed: start << 11 | (stride - 1) << 10 | (len - 1), delta }
    }

    const fn start(self) -> u32 {
        self.packed >> 11
    }

    /// `c`'s lower-case, if `c` is one of this run's chars.
    fn lower(self, c: u32) -> Option<u32> {
        let (offset, stride, len) = (c - self.start(), (self.packed >> 10 & 1) + 1, (self.packed & 0x3FF) + 1);
        (offset % stride == 0 && offset / stride < len).then(|| c.wrapping_add_signed(self.delta))
    }
}

/// The one char that lower-cases to two: U+0130 (İ) to `i` and U+0307.
const DOTTED_I: (char, [char; 2]) = ('\u{130}', ['i', '\u{307}']);

/// The lower-case of `c`: one char, and a second for U+0130.
pub(crate) fn lowercase(c: char) -> (char, Option<char>) {
    if c == DOTTED_I.0 {
        return (DOTTED_I.1[0], Some(DOTTED_I.1[1]));
    }
    let code = c as u32;
    let after = RUNS.partition_point(|r| r.start() <= code);
    let lower = match after.checked_sub(1) {
        Some(i) => RUNS[i].lower(code).and_then(char::from_u32).unwrap_or(c),
        None => c,
    };
    (lower, None)
}

// BEGIN RUNS (generated: EDGEGRU_BLESS=1, see the module's documentation)
static RUNS: [Run; 185] = [
    Run::new(0x00041, 26, 1, 32),
    Run::new(0x000C0, 23, 1, 32),
    Run::new(0x000D8, 7, 1, 32),
    Run::new(0x00100, 24, 2, 1),
    Run::new(0x00132, 3, 2, 1),
    Run::new(0x00139, 8, 2, 1),
    Run::new(0x0014A, 23, 2, 1),
    Run::new(0x00178, 1, 1, -121),
    Run::new(0x00179, 3, 2, 1),
    Run::new(0x00181, 1, 1, 210),
    Run::new(0x00182, 2, 2, 1),
    Run::new(0x00186, 1, 1, 206),
    Run::new(0x00187, 1, 1, 1),
    Run::new(0x00189, 2, 1, 205),
    Run::new(0x0018B, 1, 1, 1),
    Run::new(0x0018E, 1, 1, 79),
    Run::new(0x0018F, 1, 1, 202),
    Run::new(0x00190, 1, 1, 203),
    Run::new(0x00191, 1, 1, 1),
    Run::new(0x00193, 1, 1, 205),
    Run::new(0x00194, 1, 1, 207),
    Run::new(0x00196, 1, 1, 211),
    Run::new(0x00197, 1, 1, 209),
    Run::new(0x00198, 1, 1, 1),
    Run::new(0x0019C, 1, 1, 211),
    Run::new(0x0019D, 1, 1, 213),
    Run::new(0x0019F, 1, 1, 214),
    Run::new(0x001A0, 3, 2, 1),
    Run::new(0x001A6, 1, 1, 218),
    Run::new(0x001A7, 1, 1, 1),
    Run::new(0x001A9, 1, 1, 218),
    Run::new(0x001AC, 1, 1, 1),
    Run::new(0x001AE, 1, 1, 218),
    Run::new(0x001AF, 1, 1, 1),
    Run::new(0x001B1, 2, 1, 217),
    Run::new(0x001B3, 2, 2, 1),
    Run::new(0x001B7, 1, 1, 219),
    Run::new(0x001B8, 1, 1, 1),
    Run::new(0x001BC, 1, 1, 1),
    Run::new(0x001C4, 1, 1, 2),
    Run::new(0x001C5, 1, 1, 1),
    Run::new(0x001C7, 1, 1, 2),
    Run::new(0x001C8, 1, 1, 1),
    Run::new(0x001CA, 1, 1, 2),
    Run::new(0x001CB, 9, 2, 1),
    Run::new(0x001DE, 9, 2, 1),
    Run::new(0x001F1, 1, 1, 2),
    Run::new(0x001F2, 2, 2, 1),
    Run::new(0x001F6, 1, 1, -97),
    Run::new(0x001F7, 1, 1, -56),
    Run::new(0x001F8, 20, 2, 1),
    Run::new(0x00220, 1, 1, -130),
    Run::new(0x00222, 9, 2, 1),
    Run::new(0x0023A, 1, 1, 10795),
    Run::new(0x0023B, 1, 1, 1),
    Run::new(0x0023D, 1, 1, -163),
    Run::new(0x0023E, 1, 1, 10792),
    Run::new(0x00241, 1, 1, 1),
    Run::new(0x00243, 1, 1, -195),
    Run::new(0x00244, 1, 1, 69),
    Run::new(0x00245, 1, 1, 71),
    Run::new(0x00246, 5, 2, 1),
    Run::new(0x00370, 2, 2, 1),
    Run::new(0x00376, 1, 1, 1),
    Run::new(0x0037F, 1, 1, 116),
    Run::new(0x00386, 1, 1, 38),
    Run::new(0x00388, 3, 1, 37),
    Run::new(0x0038C, 1, 1, 64),
    Run::new(0x0038E, 2, 1, 63),
    Run::new(0x00391, 17, 1, 32),
    Run::new(0x003A3, 9, 1, 32),
    Run::new(0x003CF, 1, 1, 8),
    Run::new(0x003D8, 12, 2, 1),
    Run::new(0x003F4, 1, 1, -60),
    Run::new(0x003F7, 1, 1, 1),
    Run::new(0x003F9, 1, 1, -7),
    Run::new(0x003FA, 1, 1, 1),
    Run::new(0x003FD, 3, 1, -130),
    Run::new(0x00400, 16, 1, 80),
    Run::new(0x00410, 32, 1, 32),
    Run::new(0x00460, 17, 2, 1),
    Run::new(0x0048A, 27, 2, 1),
    Run::new(0x004C0, 1, 1, 15),
    Run::new(0x004C1, 7, 2, 1),
    Run::new(0x004D0, 48, 2, 1),
    Run::new(0x00531, 38, 1, 48),
    Run::new(0x010A0, 38, 1, 7264),
    Run::new(0x010C7, 1, 1, 7264),
    Run::new(0x010CD, 1, 1, 7264),
    Run::new(0x013A0, 80, 1, 38864),
    Run::new(0x013F0, 6, 1, 8),
    Run::new(0x01C89, 1, 1, 1),
    Run::new(0x01C90, 43, 1, -3008),
    Run::new(0x01CBD, 3, 1, -3008),
    Run::new(0x01E00, 75, 2, 1),
    Run::new(0x01E9E, 1, 1, -7615),
    Run::new(0x01EA0, 48, 2, 1),
    Run::new(0x01F08, 8, 1, -8),
    Run::new(0x01F18, 6, 1, -8),
    Run::new(0x01F28, 8, 1, -8),
    Run::new(0x01F38, 8, 1, -8),
    Run::new(0x01F48, 6, 1, -8),
    Run::new(0x01F59, 4, 2, -8),
    Run::new(0x01F68, 8, 1, -8),
    Run::new(0x01F88, 8, 1, -8),
    Run::new(0x01F98, 8, 1, -8),
    Run::new(0x01FA8, 8, 1, -8),
    Run::new(0x01FB8, 2, 1, -8),
    Run::new(0x01FBA, 2, 1, -74),
    Run::new(0x01FBC, 1, 1, -9),
    Run::new(0x01FC8, 4, 1, -86),
    Run::new(0x01FCC, 1, 1, -9),
    Run::new(0x01FD8, 2, 1, -8),
    Run::new(0x01FDA, 2, 1, -100),
    Run::new(0x01FE8, 2, 1, -8),
    Run::new(0x01FEA, 2, 1, -112),
    Run::new(0x01FEC, 1, 1, -7),
    Run::new(0x01FF8, 2, 1, -128),
    Run::new(0x01FFA, 2, 1, -126),
    Run::new(0x01FFC, 1, 1, -9),
    Run::new(0x02126, 1, 1, -7517),
    Run::new(0x0212A, 1, 1, -8383),
    Run::new(0x0212B, 1, 1, -8262),
    Run::new(0x02132, 1, 1, 28),
    Run::new(0x02160, 16, 1, 16),
    Run::new(0x02183, 1, 1, 1),
    Run::new(0x024B6, 26, 1, 26),
    Run::new(0x02C00, 48, 1, 48),
    Run::new(0x02C60, 1, 1, 1),
    Run::new(0x02C62, 1, 1, -10743),
    Run::new(0x02C63, 1, 1, -3814),
    Run::new(0x02C64, 1, 1, -10727),
    Run::new(0x02C67, 3, 2, 1),
    Run::new(0x02C6D, 1, 1, -10780),
    Run::new(0x02C6E, 1, 1, -10749),
    Run::new(0x02C6F, 1, 1, -10783),
    Run::new(0x02C70, 1, 1, -10782),
    Run::new(0x02C72, 1, 1, 1),
    Run::new(0x02C75, 1, 1, 1),
    Run::new(0x02C7E, 2, 1, -10815),
    Run::new(0x02C80, 50, 2, 1),
    Run::new(0x02CEB, 2, 2, 1),
    Run::new(0x02CF2, 1, 1, 1),
    Run::new(0x0A640, 23, 2, 1),
    Run::new(0x0A680, 14, 2, 1),
    Run::new(0x0A722, 7, 2, 1),
    Run::new(0x0A732, 31, 2, 1),
    Run::new(0x0A779, 2, 2, 1),
    Run::new(0x0A77D, 1, 1, -35332),
    Run::new(0x0A77E, 5, 2, 1),
    Run::new(0x0A78B, 1, 1, 1),
    Run::new(0x0A78D, 1, 1, -42280),
    Run::new(0x0A790, 2, 2, 1),
    Run::new(0x0A796, 10, 2, 1),
    Run::new(0x0A7AA, 1, 1, -42308),
    Run::new(0x0A7AB, 1, 1, -42319),
    Run::new(0x0A7AC, 1, 1, -42315),
    Run::new(0x0A7AD, 1, 1, -42305),
    Run::new(0x0A7AE, 1, 1, -42308),
    Run::new(0x0A7B0, 1, 1, -42258),
    Run::new(0x0A7B1, 1, 1, -42282),
    Run::new(0x0A7B2, 1, 1, -42261),
    Run::new(0x0A7B3, 1, 1, 928),
    Run::new(0x0A7B4, 8, 2, 1),
    Run::new(0x0A7C4, 1, 1, -48),
    Run::new(0x0A7C5, 1, 1, -42307),
    Run::new(0x0A7C6, 1, 1, -35384),
    Run::new(0x0A7C7, 2, 2, 1),
    Run::new(0x0A7CB, 1, 1, -42343),
    Run::new(0x0A7CC, 8, 2, 1),
    Run::new(0x0A7DC, 1, 1, -42561),
    Run::new(0x0A7F5, 1, 1, 1),
    Run::new(0x0FF21, 26, 1, 32),
    Run::new(0x10400, 40, 1, 40),
    Run::new(0x104B0, 36, 1, 40),
    Run::new(0x10570, 11, 1, 39),
    Run::new(0x1057C, 15, 1, 39),
    Run::new(0x1058C, 7, 1, 39),
    Run::new(0x10594, 2, 1, 39),
    Run::new(0x10C80, 51, 1, 64),
    Run::new(0x10D50, 22, 1, 32),
    Run::new(0x118A0, 32, 1, 32),
    Run::new(0x16E40, 32, 1, 32),
    Run::new(0x16EA0, 25, 1, 27),
    Run::new(0x1E900, 34, 1, 34),
];
// END RUNS

#[cfg(test)]
mod tests {
    use super::*;

    /// The runs of `char::to_lowercase`, as the table's source lines.
    fn generated() -> Vec<String> {
        let mut runs: Vec<(u32, u32, i64, u32)> = Vec::new();
        for code in 0..=0x10FFFFu32 {
            let Some(c) = char::from_u32(code) else { continue };
            let mut l = c.to_lowercase();
            let (Some(first), None) = (l.next(), l.next()) else { continue };
            let delta = first as i64 - code as i64;
            if delta == 0 {
                continue;
            }
            if let Some(r) = runs.last_mut() {
                if r.2 == delta && r.1 == 1 && (code - r.0 == 1 || code - r.0 == 2) {
                    (r.1, r.3) = (2, code - r.0);
                    continue;
                }
                if r.2 == delta && code == r.0 + r.1 * r.3 {
                    r.1 += 1;
                    continue;
                }
            }
            runs.push((code, 1, delta, 1));
        }
        runs.iter().map(|(s, n, d, st)| format!("    Run::new(0x{s:05X}, {n}, {st}, {d}),")).collect()
    }

    #[test]
    fn lowercase_is_char_to_lowercase_for_every_char() {
        if std::env::var_os("EDGEGRU_BLESS").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/lowercase.rs");
            let src = std::fs::read_to_string(path).unwrap();
            let (head, rest) = src.split_once("static RUNS").unwrap();
            let (_, tail) = rest.split_once("];\n// END RUNS").unwrap();
            let lines = generated();
            let table = format!("static RUNS: [Run; {}] = [\n{}\n];\n// END RUNS", lines.len(), lines.join("\n"));
            std::fs::write(path, format!("{head}{table}{tail}")).unwrap();
        }
        for code in 0..=0x10FFFFu32 {
            let Some(c) = char::from_u32(code) else { continue };
            let want: Vec<char> = c.to_lowercase().collect();
            let (first, second) = lowercase(c);
            let got: Vec<char> = core::iter::once(first).chain(second).collect();
            assert_eq!(got, want, "U+{code:04X}: regenerate the table (EDGEGRU_BLESS=1)");
        }
        assert_eq!(generated().len(), RUNS.len());
    }
}
