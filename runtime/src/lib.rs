//! edgegru runtime: runs GRU networks stored in `.egru` files, with no
//! allocator, from bytes that stay where they are (RAM or flash).
//!
//! A model is a network: a token embedding or a normalized feature vector,
//! 1 to 4 stacked GRU layers (the ONNX convention, `linear_before_reset = 1`,
//! gates z, r, n), 0 to 3 dense layers, and a head: next-token logits (a
//! language model, with its tokenizer), class probabilities, or linear
//! outputs. Weights are f32, f16, int8 (one scale per row) or int8 8x4
//! block-sparse; products run on scalar, AVX2, VNNI, NEON or SDOT kernels.
//! Numerics are float, hybrid int8 (f32 gates) or integer-only (no FPU
//! needed, the same bits everywhere).
//!
//! ```
//! use edgegru_runtime::{Model, Rng, SamplingParams, Session};
//!
//! // The shipped microcontroller model (config T, integer-only), as firmware
//! // would link it into flash.
//! static MODEL: &[u8] = include_bytes!("../../models/tiny.egru");
//! let model = Model::from_bytes(MODEL)?;
//! let mut arena = [0u8; 8 * 1024]; // at least model.arena_size()
//! let mut session = Session::new(&model, &mut arena)?;
//! let text: heapless::String<64> = session.generate_string("The ", 20, &SamplingParams::GREEDY, &mut Rng::new(0))?;
//! assert_eq!(text.chars().count(), 20);
//! # Ok::<(), edgegru_runtime::Error>(())
//! ```
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[cfg(feature = "writer")]
extern crate alloc;

pub mod crc32;
mod error;
pub mod fixed;
pub mod format;
mod interface;
pub mod kernels;
mod le;
mod lowercase;
pub mod math;
mod model;
pub mod sampling;
mod session;
mod tensor;
pub mod text;
pub mod tokenizer;
#[cfg(feature = "writer")]
pub mod writer;

pub use error::{Error, Result, TensorName};
pub use format::{Activation, Dims, Fill, Numerics, TokenizerKind};
pub use interface::StepSession;
pub use kernels::Isa;
pub use model::{Head, HeadKind, InputKind, Layer, Model, Names, MAX_VOCAB, MAX_WIDTH};
pub use sampling::{Rng, SamplingParams, TokenProb};
pub use session::Session;
pub use tensor::{Matrix, Vector};
pub use text::{Generation, StopReason};
pub use tokenizer::Tokenizer;
