//! `edgegru export --format c | rust`: the model as source code compiles
//! (gcc as C99 and as C++11, rustc) into a program whose array is the
//! `.egru` file, byte for byte, aligned to 16 bytes, with the right sizes.

use std::path::Path;
use std::process::Command;

fn edgegru(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edgegru")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("edgegru-embed-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const C_MAIN: &str = r#"
#include <stdint.h>
#include <stdio.h>
#include "bm_model.h"
int main(void) {
    if ((uintptr_t)bm_model % 16 != 0) return 3;
    if (sizeof bm_model != BM_MODEL_SIZE || BM_MODEL_FEATURES != 6u || BM_MODEL_OUTPUTS != 4u || !BM_MODEL_INPUT_FEATURES) return 4;
    fwrite(bm_model, 1, BM_MODEL_SIZE, stdout);
    return 0;
}
"#;

#[test]
fn the_c_source_compiles_as_c_and_cpp_into_the_model_file() {
    let dir = scratch("c");
    let c = dir.join("bm_model.c");
    let (ok, out) = edgegru(&["export", "--model", "basicmotions", "--format", "c", "--name", "bm_model", "--out", c.to_str().unwrap()]);
    assert!(ok, "{out}");
    std::fs::write(dir.join("main.c"), C_MAIN).unwrap();
    let want = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/basicmotions.egru")).unwrap();
    for (compiler, std) in [("gcc", "-std=c99"), ("g++", "-std=c++11")] {
        let exe = dir.join(format!("main-{compiler}"));
        let lang = if compiler == "g++" { "c++" } else { "c" };
        run(Command::new(compiler)
            .args([std, "-Wall", "-Wextra", "-Werror", "-pedantic", "-x", lang])
            .arg(dir.join("main.c"))
            .arg(&c)
            .arg("-o")
            .arg(&exe));
        assert!(run(&mut Command::new(&exe)) == want, "{compiler}: the array is not the .egru file");
    }
    // A section of the user's own, by macro.
    let obj = dir.join("section.o");
    run(Command::new("gcc").args(["-std=c99", "-c", "-DBM_MODEL_SECTION=\".rodata.models\""]).arg(&c).arg("-o").arg(&obj));
    let sections = String::from_utf8(run(Command::new("objdump").arg("-h").arg(&obj))).unwrap();
    assert!(sections.contains(".rodata.models"), "{sections}");
    // Nothing is overwritten without --force; the name must be an identifier.
    let (ok, out) = edgegru(&["export", "--model", "basicmotions", "--format", "c", "--name", "bm_model", "--out", c.to_str().unwrap()]);
    assert!(!ok && out.contains("--force"), "{out}");
    let (ok, out) =
        edgegru(&["export", "--model", "basicmotions", "--format", "c", "--name", "bm-model", "--out", dir.join("x.c").to_str().unwrap()]);
    assert!(!ok && out.contains("not a C identifier"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_rust_source_compiles_into_the_model_file() {
    let dir = scratch("rust");
    let (ok, out) = edgegru(&["export", "--model", "tiny", "--format", "rust", "--out", dir.join("tiny.rs").to_str().unwrap()]);
    assert!(ok, "{out}");
    std::fs::write(
        dir.join("main.rs"),
        "mod tiny;\nfn main() {\n    assert_eq!(tiny::bytes().as_ptr() as usize % 16, 0);\n    assert_eq!(tiny::bytes().len(), tiny::SIZE);\n    assert!(tiny::INPUT_TOKENS && tiny::VOCAB == tiny::OUTPUTS);\n    std::io::Write::write_all(&mut std::io::stdout(), tiny::bytes()).unwrap();\n}\n",
    )
    .unwrap();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let exe = dir.join("main");
    run(Command::new(rustc).args(["--edition", "2021", "-D", "warnings", "-o"]).arg(&exe).arg(dir.join("main.rs")));
    let want = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/tiny.egru")).unwrap();
    assert!(run(&mut Command::new(&exe)) == want, "the static is not the .egru file");
    let _ = std::fs::remove_dir_all(&dir);
}
