//! Puts the model, the prompt and the host's output into the firmware, and
//! the memory map of the emulated board into the linker's search path.
//!
//! Environment:
//! - `EDGEGRU_FW_MODEL`: the `.egru` file to put in flash.
//! - `EDGEGRU_FW_PROMPT`: the prompt.
//! - `EDGEGRU_FW_EXPECTED`: what `edgegru generate --model M --prompt P --greedy
//!   --max-tokens N` printed on the host (the prompt, the N tokens, a newline).
//! - `EDGEGRU_FW_TOKENS`: N.

use std::path::PathBuf;
use std::{env, fs};

fn var(name: &str) -> String {
    println!("cargo:rerun-if-env-changed={name}");
    env::var(name).unwrap_or_else(|_| panic!("set {name} (see tests/firmware/README.md)"))
}

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target = env::var("TARGET").unwrap();
    // Flash and RAM of the qemu machines: mps2-an386 (Cortex-M4F, 4 MB + 4 MB)
    // and microbit (nRF51822, Cortex-M0: 256 KB flash, 16 KB RAM).
    let memory = match target.as_str() {
        "thumbv7em-none-eabihf" => "FLASH : ORIGIN = 0x00000000, LENGTH = 4M\n  RAM : ORIGIN = 0x20000000, LENGTH = 4M",
        "thumbv6m-none-eabi" => "FLASH : ORIGIN = 0x00000000, LENGTH = 256K\n  RAM : ORIGIN = 0x20000000, LENGTH = 16K",
        other => panic!("no board for target {other}: build for thumbv7em-none-eabihf or thumbv6m-none-eabi"),
    };
    fs::write(out.join("memory.x"), format!("MEMORY\n{{\n  {memory}\n}}\n")).unwrap();
    // The session arena, a static buffer: the Cortex-M0 board has 16 KB of RAM in all.
    let arena = if target.starts_with("thumbv6m") { 6 * 1024 } else { 64 * 1024 };
    fs::write(out.join("arena.rs"), format!("{arena}")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());

    let model = var("EDGEGRU_FW_MODEL");
    println!("cargo:rerun-if-changed={model}");
    fs::copy(&model, out.join("model.egru")).unwrap_or_else(|e| panic!("cannot read {model}: {e}"));
    let prompt = var("EDGEGRU_FW_PROMPT");
    let expected_path = var("EDGEGRU_FW_EXPECTED");
    println!("cargo:rerun-if-changed={expected_path}");
    let printed = fs::read_to_string(&expected_path).unwrap_or_else(|e| panic!("cannot read {expected_path}: {e}"));
    let generated = printed
        .strip_prefix(prompt.as_str())
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("{expected_path} is not `edgegru generate` output for prompt {prompt:?}"));
    fs::write(out.join("prompt.txt"), &prompt).unwrap();
    fs::write(out.join("expected.txt"), generated).unwrap();
    let tokens: usize = var("EDGEGRU_FW_TOKENS").parse().expect("EDGEGRU_FW_TOKENS is a number");
    fs::write(out.join("tokens.rs"), format!("{tokens}")).unwrap();
}
