//! Puts the model, the prompt and the host's output into the firmware, and
//! the memory map of the emulated board into the linker's search path.
//!
//! Environment:
//! - `EDGEGRU_FW_MODEL`: the `.egru` file to put in flash.
//! - `EDGEGRU_FW_PROMPT`: the prompt.
//! - `EDGEGRU_FW_EXPECTED`: what `edgegru generate --model M --prompt P --greedy
//!   --max-tokens N` printed on the host (the prompt, the N tokens, a newline).
//! - `EDGEGRU_FW_TOKENS`: N.
//! - `EDGEGRU_FW_EXPECTED_TOP_K` and `EDGEGRU_FW_EXPECTED_TOP_P` (optional,
//!   both or neither): what `edgegru generate` printed with `--temperature
//!   0.8 --seed 7` and `--top-k 40`, then `--top-p 0.9`, instead of
//!   `--greedy`; the firmware then checks seeded sampling too, and says
//!   whether it did.
//!
//! A feature model (sequence classifier) reads sequences instead of a prompt:
//! - `EDGEGRU_FW_FEATURES`: a UCR/UEA `.ts` file; the sequences listed in
//! - `EDGEGRU_FW_SEQUENCES` (indices, e.g. `0,10,20,30`) go into flash, and
//! - `EDGEGRU_FW_EXPECTED` is what `edgegru predict --model M --data FILE
//!   --exact` printed on the host (every step's outputs as f32 bits).
//!
//! `EDGEGRU_FW_PROMPT` and `EDGEGRU_FW_TOKENS` are then not read.

use std::path::PathBuf;
use std::{env, fs};

fn var(name: &str) -> String {
    println!("cargo:rerun-if-env-changed={name}");
    env::var(name).unwrap_or_else(|_| panic!("set {name} (see tests/firmware/README.md)"))
}

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target = env::var("TARGET").unwrap();
    let board = board(&target);
    let (flash, ram) = memory(&board);
    fs::write(out.join("memory.x"), format!("MEMORY\n{{\n  FLASH : {flash}\n  RAM : {ram}\n}}\n")).unwrap();
    // The session arena, a static buffer: the Cortex-M0 board has 16 KB of RAM
    // in all; the products' sums of the cost harness likewise.
    let small = board == "microbit";
    println!("cargo::rustc-check-cfg=cfg(fw_small_ram)");
    if small {
        println!("cargo::rustc-cfg=fw_small_ram");
    }
    let arena = if small { 4 * 1024 } else { 64 * 1024 };
    fs::write(out.join("arena.rs"), format!("{arena}")).unwrap();
    fs::write(out.join("acc.rs"), if small { "192" } else { "1024" }).unwrap();
    println!("cargo:rustc-link-search={}", out.display());

    let model = var("EDGEGRU_FW_MODEL");
    println!("cargo:rerun-if-changed={model}");
    fs::copy(&model, out.join("model.egru")).unwrap_or_else(|e| panic!("cannot read {model}: {e}"));
    println!("cargo:rerun-if-env-changed=EDGEGRU_FW_FEATURES");
    match env::var("EDGEGRU_FW_FEATURES") {
        Ok(path) => features(&out, &path),
        Err(_) => text(&out),
    }
}

/// The qemu machine the firmware is linked for: `EDGEGRU_FW_BOARD`, or the
/// target's default board.
fn board(target: &str) -> String {
    println!("cargo:rerun-if-env-changed=EDGEGRU_FW_BOARD");
    let default = match target {
        "thumbv7em-none-eabihf" => "mps2-an386",
        "thumbv6m-none-eabi" => "microbit",
        "thumbv8m.main-none-eabihf" => "mps2-an505",
        other => panic!("no board for target {other}: build for thumbv6m-none-eabi, thumbv7em-none-eabihf or thumbv8m.main-none-eabihf"),
    };
    let board = env::var("EDGEGRU_FW_BOARD").unwrap_or_else(|_| default.to_string());
    let fits = match board.as_str() {
        "microbit" => target == "thumbv6m-none-eabi",
        "mps2-an386" | "mps2-an500" => target == "thumbv7em-none-eabihf",
        "mps2-an505" | "mps3-an547" => target == "thumbv8m.main-none-eabihf",
        _ => false,
    };
    assert!(fits, "board {board} is not a {target} board (see tests/firmware/README.md)");
    board
}

/// Flash (code and the model) and RAM of a qemu machine, as linker regions.
/// The Armv8-M boards start in the secure state: their secure aliases.
fn memory(board: &str) -> (&'static str, &'static str) {
    match board {
        // nRF51822: 256 KB flash, 16 KB RAM.
        "microbit" => ("ORIGIN = 0x00000000, LENGTH = 256K", "ORIGIN = 0x20000000, LENGTH = 16K"),
        // MPS2 AN386 (Cortex-M4F) and AN500 (Cortex-M7): 4 MB SSRAM each.
        "mps2-an386" | "mps2-an500" => ("ORIGIN = 0x00000000, LENGTH = 4M", "ORIGIN = 0x20000000, LENGTH = 4M"),
        // MPS2 AN505 (Cortex-M33): SSRAM1 4 MB, SSRAM2 2 MB.
        "mps2-an505" => ("ORIGIN = 0x10000000, LENGTH = 4M", "ORIGIN = 0x38000000, LENGTH = 2M"),
        // MPS3 AN547 (Cortex-M55): ITCM 512 KB, DTCM 512 KB.
        _ => ("ORIGIN = 0x10000000, LENGTH = 512K", "ORIGIN = 0x30000000, LENGTH = 512K"),
    }
}

/// A language model's inputs: the prompt, the host's text, the token count.
fn text(out: &std::path::Path) {
    fs::write(
        out.join("features.rs"),
        "const CHANNELS: usize = 1;\nstatic FEATURES: [u32; 0] = [];\nstatic STEPS: [usize; 0] = [];\nstatic SEQUENCES: [usize; 0] = [];\n",
    )
    .unwrap();
    let prompt = var("EDGEGRU_FW_PROMPT");
    fs::write(out.join("expected.txt"), generated_text(&var("EDGEGRU_FW_EXPECTED"), &prompt)).unwrap();
    println!("cargo:rerun-if-env-changed=EDGEGRU_FW_EXPECTED_TOP_K");
    println!("cargo:rerun-if-env-changed=EDGEGRU_FW_EXPECTED_TOP_P");
    let sampled = match (env::var("EDGEGRU_FW_EXPECTED_TOP_K"), env::var("EDGEGRU_FW_EXPECTED_TOP_P")) {
        (Ok(k), Ok(p)) => Some((generated_text(&k, &prompt), generated_text(&p, &prompt))),
        (Err(_), Err(_)) => None,
        _ => panic!("set both EDGEGRU_FW_EXPECTED_TOP_K and EDGEGRU_FW_EXPECTED_TOP_P, or neither"),
    };
    fs::write(out.join("sampled.rs"), format!("{sampled:?}")).unwrap();
    fs::write(out.join("prompt.txt"), &prompt).unwrap();
    let tokens: usize = var("EDGEGRU_FW_TOKENS").parse().expect("EDGEGRU_FW_TOKENS is a number");
    fs::write(out.join("tokens.rs"), format!("{tokens}")).unwrap();
}

/// The text `edgegru generate` printed to `path` after `prompt` (without
/// the prompt and the final newline).
fn generated_text(path: &str, prompt: &str) -> String {
    println!("cargo:rerun-if-changed={path}");
    let printed = fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let generated = printed.strip_prefix(prompt).and_then(|rest| rest.strip_suffix('\n'));
    generated.unwrap_or_else(|| panic!("{path} is not `edgegru generate` output for prompt {prompt:?}")).to_string()
}

/// A feature model's inputs: the chosen sequences of a `.ts` file (as f32
/// bits, time-major) and the host's per-step output bits for them.
fn features(out: &std::path::Path, path: &str) {
    println!("cargo:rerun-if-changed={path}");
    let wanted: Vec<usize> =
        var("EDGEGRU_FW_SEQUENCES").split(',').map(|i| i.trim().parse().expect("EDGEGRU_FW_SEQUENCES: indices")).collect();
    let ts = fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let rows: Vec<&str> = ts.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('@')).collect();
    let (mut bits, mut steps, mut channels) = (Vec::new(), Vec::new(), 0);
    for &i in &wanted {
        let row = rows.get(i).unwrap_or_else(|| panic!("{path} has no sequence {i}"));
        // Dimensions are separated by ':', the class label is the last field.
        let mut dims: Vec<Vec<f32>> =
            row.split(':').map(|d| d.split(',').map(|v| v.trim().parse().unwrap_or(f32::NAN)).collect()).collect();
        dims.pop();
        channels = dims.len();
        assert!(channels > 0 && !dims[0].is_empty(), "sequence {i} of {path} has no values");
        let len = dims[0].len();
        assert!(dims.iter().all(|d| d.len() == len), "sequence {i}: dimensions of different lengths");
        for t in 0..len {
            bits.extend(dims.iter().map(|d| d[t].to_bits()));
        }
        steps.push(len);
    }
    let expected_path = var("EDGEGRU_FW_EXPECTED");
    println!("cargo:rerun-if-changed={expected_path}");
    let printed = fs::read_to_string(&expected_path).unwrap_or_else(|e| panic!("cannot read {expected_path}: {e}"));
    let expected: String = printed
        .lines()
        .filter(|l| {
            l.strip_prefix("sequence ")
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse().ok())
                .is_some_and(|n: usize| wanted.contains(&n))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(!expected.is_empty(), "{expected_path} is not `edgegru predict --exact` output");
    let list = |v: &[String]| v.join(", ");
    let src = format!(
        "const CHANNELS: usize = {channels};\nstatic FEATURES: [u32; {}] = [{}];\nstatic STEPS: [usize; {}] = [{}];\nstatic SEQUENCES: [usize; {}] = [{}];\n",
        bits.len(),
        list(&bits.iter().map(|b| format!("{b:#010x}")).collect::<Vec<_>>()),
        steps.len(),
        list(&steps.iter().map(usize::to_string).collect::<Vec<_>>()),
        wanted.len(),
        list(&wanted.iter().map(usize::to_string).collect::<Vec<_>>()),
    );
    fs::write(out.join("features.rs"), src).unwrap();
    fs::write(out.join("expected.txt"), expected).unwrap();
    fs::write(out.join("prompt.txt"), "").unwrap();
    fs::write(out.join("tokens.rs"), "0").unwrap();
    fs::write(out.join("sampled.rs"), "None").unwrap();
}
