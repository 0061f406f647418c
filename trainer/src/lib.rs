//! edgegru trainer: the library behind the `edgegru` command line (and the
//! Python package): data, training on the CPU or a GPU, compression, export,
//! import, evaluation and benchmarks of GRU networks.
//!
//! The faces (the command line in [`commands`], feature `cli`) parse their
//! arguments, call this library and print; the library never parses a
//! command line or prints: progress goes out through [`run::Progress`].
//!
//! - Models: [`builtin`] (the shipped models by name), [`backend`] (a session
//!   of any engine: the native runtime, tract, ONNX Runtime),
//!   [`generation`], [`evaluate`], [`bench`].
//! - Models in and out: [`export`] (a checkpoint to `.egru` or ONNX, a file
//!   to another layout), [`import`] (PyTorch and Keras models through ONNX
//!   or Keras files).
//! - Data: [`data`] (corpora, `.ts` and CSV sequences), [`tokenize`]
//!   (fitting a vocabulary; encoding is the runtime's), [`feed`] (batches).
//! - Training: [`config`] (what defines a run), [`network`] (the network a
//!   run trains), [`params`], [`run`] (a training run), [`engine`] (the
//!   forward and backward pass, written once, on the CPU or a GPU),
//!   [`optim`], [`prune`], [`checkpoint`], [`history`], [`metrics`],
//!   [`pipeline`] (corpus to device model in one call).
//! - Files: [`files`].
#![deny(missing_docs)]

pub mod backend;
pub mod bench;
pub mod builtin;
pub mod checkpoint;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod commands;
pub mod config;
pub mod data;
pub mod engine;
pub mod evaluate;
pub mod export;
pub mod feed;
pub mod files;
pub mod generation;
pub mod history;
pub mod import;
pub mod linalg;
pub mod metrics;
pub mod network;
pub mod optim;
pub mod params;
pub mod pipeline;
pub mod prune;
pub mod run;
pub mod tokenize;
