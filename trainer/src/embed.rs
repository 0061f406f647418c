//! A model file as source code, for firmware that compiles it in: a C
//! source and header (a `const` byte array, aligned and placed as the
//! runtime and the linker need, with the sizes a firmware allocates by as
//! macros) or a Rust module (an aligned `static`).

use std::fmt::Write as _;

use anyhow::{bail, Result};

use crate::info::{describe, ModelInfo};

/// Alignment of the array: the arm-dsp layout's word loads need 4 bytes;
/// 16 keeps every tensor's own alignment within the file meaningful and
/// matches a cache line's start on most cores.
pub const ALIGN: usize = 16;

/// Refuses a name that is not a C (and Rust) identifier.
pub fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        bail!("--name {name:?} is not a C identifier (letters, digits and _, not starting with a digit)");
    }
    if name.to_ascii_lowercase().starts_with("egru_") {
        bail!("--name {name:?}: the prefix egru_ is the C library's (egru_model is its model type); choose another name");
    }
    Ok(())
}

/// `stem` as a C identifier: other characters become `_`, and a leading
/// digit gets a `_` before it (`tiny-m4` -> `tiny_m4`, `3d` -> `_3d`).
pub fn identifier(stem: &str) -> String {
    let mut id: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if !id.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        id.insert(0, '_');
    }
    id
}

/// The model's figures as `(macro suffix, value, comment)`.
fn figures(info: &ModelInfo) -> Vec<(&'static str, String, &'static str)> {
    let mut v = vec![
        ("SIZE", format!("{}u", info.file_bytes), "Bytes of the .egru file (the array)"),
        ("ARENA_SIZE", format!("{}u", info.arena_bytes), "Bytes of the session arena egru_session_init() needs"),
        ("STATE_SIZE", format!("{}u", info.state_bytes), "Bytes of a saved state (egru_session_save_state)"),
        ("FORMAT_VERSION", format!("{}u", info.format_version), "The .egru format version"),
        ("CRC32", format!("0x{:08x}u", info.crc32), "CRC-32 of the file's body (egru_model_init checks it)"),
        ("OUTPUTS", format!("{}u", info.outputs), "Outputs per step"),
    ];
    if info.input == "tokens" {
        v.push(("INPUT_TOKENS", "1".into(), "The input is token ids (egru_session_step, feed, generate)"));
        v.push(("VOCAB", format!("{}u", info.vocab), "Vocabulary size"));
    } else {
        v.push(("INPUT_FEATURES", "1".into(), "The input is feature vectors (egru_session_step_features)"));
        v.push(("FEATURES", format!("{}u", info.features), "Features per step"));
    }
    v
}

/// The header and source of `bytes` as a C array named `name`: returns
/// `(header, source)`; the source includes `header_file`.
pub fn c_source(bytes: &[u8], name: &str, header_file: &str) -> Result<(String, String)> {
    check_name(name)?;
    let info = describe(bytes)?;
    let up = name.to_ascii_uppercase();
    let guard = format!("{up}_EGRU_H");
    let mut h = String::new();
    writeln!(h, "/* The edgegru model {:?} as a C array, written by `edgegru export --format c`: do not edit.", info.name)?;
    writeln!(h, " * {}. */", summary(&info))?;
    writeln!(h, "#ifndef {guard}\n#define {guard}\n\n#include <stdint.h>\n\n#ifdef __cplusplus\nextern \"C\" {{\n#endif\n")?;
    for (suffix, value, comment) in figures(&info) {
        writeln!(h, "/** {comment}. */\n#define {up}_{suffix} {value}")?;
    }
    writeln!(h, "\n/** The model file, in flash: pass it and {up}_SIZE to egru_model_init(). */")?;
    writeln!(h, "extern const uint8_t {name}[{up}_SIZE];\n\n#ifdef __cplusplus\n}}\n#endif\n\n#endif")?;

    let mut c = String::new();
    writeln!(c, "/* The edgegru model {:?}, written by `edgegru export --format c`: do not edit. */", info.name)?;
    writeln!(c, "#include \"{header_file}\"\n")?;
    writeln!(c, "/* Define {up}_SECTION (e.g. -D{up}_SECTION='\".rodata.models\"') to place the array in a linker")?;
    writeln!(c, " * section of your own; define {up}_ATTRIBUTES to replace the alignment and section attributes. */")?;
    writeln!(c, "#ifndef {up}_ATTRIBUTES\n#if defined(__GNUC__) || defined(__clang__)\n#ifdef {up}_SECTION")?;
    writeln!(c, "#define {up}_ATTRIBUTES __attribute__((aligned({ALIGN}), section({up}_SECTION)))\n#else")?;
    writeln!(c, "#define {up}_ATTRIBUTES __attribute__((aligned({ALIGN})))\n#endif")?;
    writeln!(c, "#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L\n#define {up}_ATTRIBUTES _Alignas({ALIGN})")?;
    writeln!(c, "#else\n#error \"say how to align {name} to {ALIGN} bytes: define {up}_ATTRIBUTES\"\n#endif\n#endif\n")?;
    writeln!(c, "{up}_ATTRIBUTES const uint8_t {name}[{up}_SIZE] = {{")?;
    push_bytes(&mut c, bytes, "0x", ",");
    writeln!(c, "}};")?;
    Ok((h, c))
}

/// `bytes` as a Rust module: `MODEL` (an aligned static), `bytes()`, and
/// the sizes as constants.
pub fn rust_source(bytes: &[u8], name: &str) -> Result<String> {
    check_name(name)?;
    let info = describe(bytes)?;
    let mut r = String::new();
    writeln!(r, "//! The edgegru model {:?} ({name}), written by `edgegru export --format rust`: do not edit.", info.name)?;
    writeln!(r, "//! {}.", summary(&info))?;
    writeln!(r, "//! Use it with `mod {name};` and `edgegru_runtime::Model::from_bytes({name}::bytes())`.\n")?;
    writeln!(r, "// Every figure of the model is here, whether the firmware uses it or not.\n#![allow(dead_code)]\n")?;
    for (suffix, value, comment) in figures(&info) {
        let value = value.trim_end_matches('u');
        let ty = if suffix == "CRC32" {
            "u32"
        } else if suffix.starts_with("INPUT_") {
            "bool"
        } else {
            "usize"
        };
        let value = if ty == "bool" { "true" } else { value };
        writeln!(r, "/// {comment}.\npub const {suffix}: {ty} = {value};")?;
    }
    writeln!(r, "\n/// The file's bytes, aligned to {ALIGN} bytes.\n#[repr(C, align({ALIGN}))]\npub struct Aligned(pub [u8; SIZE]);\n")?;
    writeln!(r, "/// The model file (in flash on a device: a `static` of constant data).\npub static MODEL: Aligned = Aligned([")?;
    push_bytes(&mut r, bytes, "0x", ",");
    writeln!(r, "]);\n\n/// The model file's bytes, for `Model::from_bytes`.\npub fn bytes() -> &'static [u8] {{\n    &MODEL.0\n}}")?;
    Ok(r)
}

/// One line on the model: size, version, CRC, shape, numerics.
fn summary(info: &ModelInfo) -> String {
    let input = if info.input == "tokens" { format!("{} tokens", info.vocab) } else { format!("{} features", info.features) };
    format!(
        "{} bytes, format version {}, CRC-32 0x{:08x}; {input} -> GRU {:?} -> {} {}, {} numerics",
        info.file_bytes, info.format_version, info.crc32, info.gru, info.outputs, info.head, info.numerics
    )
}

/// The bytes as hexadecimal literals, 16 to a line.
fn push_bytes(out: &mut String, bytes: &[u8], prefix: &str, sep: &str) {
    for line in bytes.chunks(16) {
        out.push_str("   ");
        for b in line {
            let _ = write!(out, " {prefix}{b:02x}{sep}");
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_identifiers_and_the_sources_carry_the_sizes() {
        assert!(check_name("egru_model").unwrap_err().to_string().contains("the C library's"));
        for bad in ["", "1model", "my-model", "m odel", "é"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
            assert!(check_name(&identifier(bad)).is_ok(), "{bad:?} -> {:?}", identifier(bad));
        }
        assert_eq!((identifier("tiny-m4").as_str(), identifier("3d").as_str()), ("tiny_m4", "_3d"));
        let bytes = crate::builtin::resolve("basicmotions").unwrap();
        let (h, c) = c_source(&bytes, "bm_model", "bm_model.h").unwrap();
        let info = describe(&bytes).unwrap();
        assert!(h.contains(&format!("#define BM_MODEL_ARENA_SIZE {}u", info.arena_bytes)), "{h}");
        assert!(h.contains("#define BM_MODEL_INPUT_FEATURES 1") && h.contains("extern \"C\""));
        assert!(c.contains("#include \"bm_model.h\"") && c.contains("aligned(16)"));
        assert_eq!(c.matches("0x").count(), bytes.len(), "every byte, and nothing else, as a literal");
        let r = rust_source(&bytes, "bm_model").unwrap();
        assert!(r.contains(&format!("pub const SIZE: usize = {};", bytes.len())) && r.contains("#[repr(C, align(16))]"));
    }
}
