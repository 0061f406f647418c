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
//!   to another layout), [`embed`] (a file as C or Rust source), [`import`] (PyTorch and Keras models through ONNX
//!   or Keras files).
//! - Data: [`data`] (corpora, `.ts` and CSV sequences), [`tokenize`]
//!   (fitting a vocabulary; encoding is the runtime's), [`feed`] (batches).
//! - Training: [`config`] (what defines a run), [`network`] (the network a
//!   run trains), [`params`], [`run`] (a training run), [`engine`] (the
//!   forward and backward pass, written once, on the CPU or a GPU),
//!   [`optim`], [`prune`], [`checkpoint`], [`history`], [`metrics`],
//!   [`pipeline`] (corpus to device model in one call).
//! - Files: [`files`]; what a model file holds: [`info`].
//!
//! The public API a face calls, one line each:
//!
//! | job | call |
//! |---|---|
//! | open a model by name or path | [`builtin::resolve`] |
//! | run it on any engine | [`backend::with_session`] ([`backend::DynSession`]: step, features, text, states) |
//! | import a PyTorch or Keras model | [`import::import`] |
//! | export a checkpoint | [`export::to_egru`], [`export::to_onnx`]; another layout: [`export::relayout`] |
//! | evaluate | [`evaluate::evaluate_text`], [`evaluate::evaluate_sequences`], [`evaluate::evaluate_regression`] |
//! | generate, suggest | [`generation::generate`], [`generation::suggest`] |
//! | train a text model, a classifier, a regressor | [`config::TrainConfig::new`], then [`run::train`] with a [`run::ProgressFn`] |
//! | the whole pipeline | [`pipeline::run`] |
//! | time a step | [`bench::run`] |
//!
//! Training a sensor classifier and checking the file a device will run:
//!
//! ```
//! use std::sync::{atomic::AtomicBool, Arc};
//! use edgegru_trainer::config::{Task, TrainConfig};
//! use edgegru_trainer::run::{self, Event, ProgressFn};
//! use edgegru_trainer::{checkpoint::Checkpoint, evaluate, export, backend::Backend};
//! use edgegru_trainer::data::{Columns, LabelKind};
//! use edgegru_runtime::writer::WeightKind;
//!
//! // Four short two-feature sequences of two classes, in the UCR/UEA `.ts` format.
//! let dir = std::env::temp_dir().join(format!("edgegru-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let data = dir.join("toy.ts");
//! std::fs::write(&data, "@dimensions 2\n@classLabel true up down\n@data\n\
//!     1,2,3:1,1,1:up\n3,2,1:1,1,1:down\n1,2,4:0,1,0:up\n4,2,1:0,1,0:down\n")?;
//! let mut config = TrainConfig::new(Task::Classify, &data);
//! (config.hidden, config.dense, config.batch, config.steps, config.threads) = (vec![8], 0, 2, Some(20), 1);
//! let mut steps = 0;
//! let mut progress = ProgressFn(|e: Event<'_>| if let Event::Step { .. } = e { steps += 1 });
//! let outcome = run::train(config, &dir.join("run"), None, Arc::new(AtomicBool::new(false)), &mut progress)?;
//! assert_eq!((outcome.steps, steps), (20, 20));
//!
//! let ck = Checkpoint::load(&dir.join("run"))?;
//! let file = export::to_egru(&ck, &export::options(WeightKind::Int8, false, true), "toy")?;
//! let (sequences, _notes) = evaluate::read_for_model(&file, &data, LabelKind::Classes, &Columns::default())?;
//! let report = evaluate::evaluate_sequences(Backend::Native, &file, &sequences)?;
//! assert_eq!(report.sequences, 4);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), anyhow::Error>(())
//! ```
#![deny(missing_docs)]

pub mod backend;
pub mod bench;
pub mod best;
pub mod builtin;
pub mod checkpoint;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod commands;
pub mod config;
pub mod data;
pub mod embed;
pub mod engine;
pub mod evaluate;
pub mod export;
pub mod feed;
pub mod files;
pub mod generation;
pub mod history;
pub mod import;
pub mod info;
pub mod linalg;
pub mod metrics;
pub mod network;
pub mod optim;
pub mod params;
pub mod pipeline;
pub mod prune;
pub mod run;
pub mod tokenize;
