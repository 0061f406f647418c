//! edgegru trainer: data, training (CPU and CUDA), compression, export and
//! import of GRU networks, and the `edgegru` command-line tool built on them.
//!
//! - Data: [`data`] (corpora, windows, labelled feature sequences),
//!   [`tokenize`] (fitting a vocabulary; encoding is the runtime's).
//! - The network: [`network`] (its layers and parameter layout), [`params`].
//! - Training: [`config`], [`run`] (a training run), [`feed`] (batches),
//!   [`engine`] (the graph once, on the CPU or a GPU), [`optim`], [`prune`],
//!   [`checkpoint`], [`history`], [`metrics`].
//! - Models in and out: [`commands::export`], [`import`].
//! - The command line: [`cli`] dispatches to [`commands`], one module per command.
#![deny(missing_docs)]

pub mod checkpoint;
pub mod cli;
pub mod commands;
pub mod config;
pub mod data;
pub mod engine;
pub mod feed;
pub mod history;
pub mod import;
pub mod linalg;
pub mod metrics;
pub mod network;
pub mod optim;
pub mod params;
pub mod prune;
pub mod run;
pub mod tokenize;

/// The default model, `models/fortunes-char.egru`, compiled in: `edgegru
/// generate` uses it when no `--model` or `--checkpoint` is given.
pub const DEFAULT_MODEL: &[u8] = include_bytes!("../../models/fortunes-char.egru");
