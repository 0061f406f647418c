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
