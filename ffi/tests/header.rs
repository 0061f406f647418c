//! The checked-in header equals what cbindgen generates from the source.
//! `EDGEGRU_BLESS=1 cargo test -p edgegru-ffi --test header` rewrites it.

use std::path::Path;

#[test]
fn header_is_up_to_date() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new().with_crate(crate_dir).with_config(config).generate().expect("cbindgen runs").write(&mut generated);
    let path = crate_dir.join("include/edgegru.h");
    if std::env::var_os("EDGEGRU_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(committed == generated, "ffi/include/edgegru.h is stale: run EDGEGRU_BLESS=1 cargo test -p edgegru-ffi --test header");
}

#[test]
fn the_header_sizes_the_handles_as_the_library_does() {
    let config = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("cbindgen.toml")).unwrap();
    // The block for this target's pointer width.
    let block = if cfg!(target_pointer_width = "64") {
        config.split("#if UINTPTR_MAX > 0xFFFFFFFFu").nth(1).and_then(|b| b.split("#else").next())
    } else {
        config.split("#else").nth(1).and_then(|b| b.split("#endif").next())
    }
    .expect("the sizes block in cbindgen.toml");
    let value = |name: &str| -> usize {
        let line = block.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("no {name}"));
        line.split_whitespace().last().unwrap().parse().unwrap()
    };
    assert_eq!(value("EGRU_MODEL_WORDS"), edgegru::EGRU_MODEL_WORDS);
    assert_eq!(value("EGRU_SESSION_WORDS"), edgegru::EGRU_SESSION_WORDS);
}
