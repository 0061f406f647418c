//! edgegru-onnx: ONNX for edgegru networks.
//!
//! - [`contract`]: the step graph's contract, in one place: input, state and
//!   output names, and the metadata that carries the tokenizer and the network.
//! - [`export`]: writes a network's streaming step as an ONNX graph (float,
//!   or int8 weights as QDQ), so it runs step by step in any ONNX runtime.
//! - [`OnnxSession`]: runs such a graph with tract (feature `tract`) or ONNX
//!   Runtime (feature `ort`, loaded at run time) behind the native session's
//!   API: steps, text, sampling, generation; and a user's own whole-sequence
//!   export ([`annotate_sequence`]), for comparisons.
//!
//! This crate needs `std`; the device runtime (`edgegru-runtime`) never
//! depends on it.
#![deny(missing_docs)]

pub mod contract;
pub mod export;
mod session;

#[cfg(feature = "ort")]
mod ort;
#[cfg(feature = "tract")]
mod tract;

#[cfg(feature = "ort")]
pub use self::ort::OrtLibrary;
pub use contract::{annotate_sequence, NetworkInfo, SequenceLayout, StepInfo};
pub use export::{step_model, to_bytes, OnnxWeights};
pub use session::{OnnxError, OnnxResult, OnnxSession};

use anyhow::{Context, Result};
use prost::Message;

/// The ONNX protobuf types.
pub use tract_onnx::pb;

/// Reads ONNX protobuf bytes.
pub fn decode(bytes: &[u8]) -> Result<pb::ModelProto> {
    pb::ModelProto::decode(bytes).context("not an ONNX model (protobuf decoding failed)")
}
