//! Models trained elsewhere, brought in as edgegru networks: ONNX exports of
//! PyTorch and Keras models ([`onnx`], with the GRU loops tf2onnx writes for
//! Keras in [`keras_loop`]), and their vocabularies ([`vocab`]).

pub mod keras_file;
pub mod keras_loop;
pub mod onnx;
pub mod vocab;

/// What an imported network's outputs are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Head {
    /// Next-token logits of a language model (token input).
    NextToken,
    /// Class probabilities (the output layer's softmax).
    Classes,
    /// Linear outputs.
    Regression,
}

/// Choices the graph does not say.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The head (default: next-token for token models, classes for feature models).
    pub head: Option<Head>,
    /// Class (or output) names, in output order (default `0..n-1`).
    pub classes: Option<Vec<String>>,
    /// Feature models with integer-only numerics: the largest magnitude of
    /// the (already normalized) features the model expects.
    pub input_range: f32,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { head: None, classes: None, input_range: 4.0 }
    }
}
