//! edgegru runtime: runs GRU language models stored in `.egru` files, with no
//! allocator, from bytes that stay where they are (RAM or flash).
//!
//! The model is Embedding -> GRU -> Dense(relu) -> Dense(vocab), with the GRU
//! convention of ONNX (`linear_before_reset = 1`, gates z, r, n). Weights are
//! f32, f16, int8 (one scale per row) or int8 8x4 block-sparse; products run
//! on scalar, AVX2, VNNI, NEON or SDOT kernels. Numerics are float, hybrid
//! int8 (f32 gates) or integer-only (no FPU needed, the same bits everywhere).
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use edgegru_runtime::{writer, Model, Rng, SamplingParams, Session};
//!
//! // A tiny random model; real ones come from `edgegru export`.
//! let bytes = writer::FloatModel::random_char("abc ", 4, 8, 8, 1).to_bytes(&writer::ExportOptions::default());
//! let model = Model::from_bytes(&bytes)?;
//! let mut arena = vec![0u8; model.arena_size()];
//! let mut session = Session::new(&model, &mut arena)?;
//! let mut text = [0u8; 64];
//! let n = session.generate_into("ab", 10, &SamplingParams::GREEDY, &mut Rng::new(0), &mut text)?;
//! assert_eq!(n, 10);
//! # }
//! # Ok::<(), edgegru_runtime::Error>(())
//! ```
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod crc32;
mod error;
pub mod fixed;
pub mod format;
pub mod kernels;
mod le;
pub mod math;
mod model;
#[cfg(any(feature = "tract", feature = "ort"))]
pub mod onnx;
pub mod sampling;
mod session;
mod tensor;
mod text;
pub mod tokenizer;
#[cfg(feature = "std")]
pub mod writer;

pub use error::{Error, Result, TensorName};
pub use format::{Dims, Numerics, TokenizerKind};
pub use kernels::Isa;
pub use model::{Model, MAX_VOCAB, MAX_WIDTH};
pub use sampling::{Rng, SamplingParams, TokenProb};
pub use session::Session;
pub use tensor::{Matrix, Vector};
pub use tokenizer::Tokenizer;
