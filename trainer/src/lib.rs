//! edgegru trainer: data, training, compression and export of GRU text
//! models, and the `edgegru` command-line tool built on them.
#![deny(missing_docs)]

pub mod checkpoint;
pub mod cli;
pub mod commands;
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod data;
pub mod engine;
pub mod history;
pub mod import;
pub mod linalg;
pub mod metrics;
pub mod onnx;
pub mod optim;
pub mod params;
pub mod prune;
pub mod tokenize;
pub mod train;

/// The default model, `models/fortunes-char.egru`, compiled in: `edgegru
/// generate` uses it when no `--model` or `--checkpoint` is given.
pub const DEFAULT_MODEL: &[u8] = include_bytes!("../../models/fortunes-char.egru");
