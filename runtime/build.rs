//! Chooses the Cortex-M kernel sets at compile time.
//!
//! Stable Rust reports no Arm target features (`dsp`, `mve`) to `cfg`, so the
//! target and the `-C target-cpu` in the rustflags decide:
//! - `edgegru_dsp` (the DSP extension: `SXTB16`, `SMLAD`): every
//!   `thumbv7em-*` target (Cortex-M4, M7), and `thumbv8m.main-*` built with
//!   `-C target-cpu=cortex-m33`, `cortex-m35p`, `cortex-m55` or `cortex-m85`
//!   (Armv8-M Mainline has the extension only as an option of the core);
//! - `edgegru_helium` (Helium, the M-profile vector extension, integer):
//!   `thumbv8m.main-*` with `-C target-cpu=cortex-m55` or `cortex-m85`.
//!
//! - `edgegru_fpu` (with `edgegru_dsp`, on `*-eabihf` targets: the
//!   single-precision FPU of the M4F, M7, M33, M55): the float numerics'
//!   element-wise kernels in FPU instructions;
//! - `edgegru_thumb` (Cortex-M without DSP: M0, M0+, M3, M23): every
//!   `thumbv6m-*`, `thumbv7m-*` and `thumbv8m.base-*` target.
//!
//! Hosts get none of them and run their own kernel sets.
//!
//! `EDGEGRU_CORTEX_M_KERNELS=portable` in the build's environment turns them
//! all off (only the portable scalar kernels: the smallest code).

use std::env;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(edgegru_dsp)");
    println!("cargo::rustc-check-cfg=cfg(edgegru_helium)");
    println!("cargo::rustc-check-cfg=cfg(edgegru_fpu)");
    println!("cargo::rustc-check-cfg=cfg(edgegru_thumb)");
    println!("cargo::rustc-check-cfg=cfg(edgegru_no_long_multiply)");
    let target = env::var("TARGET").unwrap_or_default();
    // Armv6-M and Armv8-M Baseline have no 32x32->64 multiply (not a kernel
    // choice: numerics code builds wide products differently there).
    if ["thumbv6m", "thumbv8m.base"].iter().any(|t| target.starts_with(t)) {
        println!("cargo::rustc-cfg=edgegru_no_long_multiply");
    }
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    println!("cargo::rerun-if-env-changed=EDGEGRU_CORTEX_M_KERNELS");
    if env::var("EDGEGRU_CORTEX_M_KERNELS").is_ok_and(|v| v == "portable") {
        return;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let cpu = target_cpu(&flags);
    let mainline_dsp = matches!(cpu.as_deref(), Some("cortex-m33" | "cortex-m35p" | "cortex-m55" | "cortex-m85"));
    let mve = target.starts_with("thumbv8m.main") && matches!(cpu.as_deref(), Some("cortex-m55" | "cortex-m85"));
    if target.starts_with("thumbv7em") || (target.starts_with("thumbv8m.main") && mainline_dsp) {
        println!("cargo::rustc-cfg=edgegru_dsp");
        if target.ends_with("eabihf") {
            println!("cargo::rustc-cfg=edgegru_fpu");
        }
    }
    if mve {
        println!("cargo::rustc-cfg=edgegru_helium");
    }
    if ["thumbv6m", "thumbv7m", "thumbv8m.base"].iter().any(|t| target.starts_with(t)) {
        println!("cargo::rustc-cfg=edgegru_thumb");
    }
}

/// The last `-C target-cpu=NAME` (or `-Ctarget-cpu=NAME`) in the encoded
/// rustflags (separated by 0x1f).
fn target_cpu(flags: &str) -> Option<String> {
    let args: Vec<&str> = flags.split('\u{1f}').collect();
    let mut cpu = None;
    for (i, a) in args.iter().enumerate() {
        let joined = a.strip_prefix("-Ctarget-cpu=");
        let split = a.strip_prefix("target-cpu=").filter(|_| i > 0 && args[i - 1] == "-C");
        if let Some(v) = joined.or(split) {
            cpu = Some(v.to_string());
        }
    }
    cpu
}
