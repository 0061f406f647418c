//! The primitives a training device implements. The graph ([`super::graph`])
//! is written against them once; the CPU implements them with slices and
//! matrixmultiply, the GPU with cuBLAS and NVRTC kernels.
//!
//! Buffers belong to the device and are named by [`Span`]s (a buffer, an
//! offset and a length, in f32 elements) or [`IdSpan`]s (u32 ids). Matrices
//! are row-major; rows of a batch are time-major (`row = t * batch + b`);
//! GRU gates are stored z, r, n.

use anyhow::Result;
use edgegru_runtime::Activation;

/// A range of f32 elements of one device buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The buffer.
    pub buf: usize,
    /// First element.
    pub off: usize,
    /// Elements.
    pub len: usize,
}

impl Span {
    /// The sub-range `off..off + len` of this span.
    pub fn at(self, off: usize, len: usize) -> Span {
        debug_assert!(off + len <= self.len, "span {self:?}: {off}+{len} out of range");
        Span { buf: self.buf, off: self.off + off, len }
    }

    /// Element `i` onwards.
    pub fn from(self, off: usize) -> Span {
        self.at(off, self.len - off)
    }
}

/// A range of u32 ids of one device buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdSpan(pub Span);

/// Whether a matrix operand is used as stored or transposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// As stored.
    N,
    /// Transposed.
    T,
}

/// `C = alpha * op(A) * op(B) + beta * C`, `op(A)` of shape `m x k`, `op(B)`
/// of shape `k x n`, `C` of shape `m x n`, all stored row-major.
#[derive(Debug, Clone, Copy)]
pub struct Gemm {
    /// Rows of C.
    pub m: usize,
    /// Columns of C.
    pub n: usize,
    /// The inner dimension.
    pub k: usize,
    /// Scale of the product.
    pub alpha: f32,
    /// A.
    pub a: Span,
    /// How A is used.
    pub op_a: Op,
    /// B.
    pub b: Span,
    /// How B is used.
    pub op_b: Op,
    /// Scale of C's old value (0: C is only written).
    pub beta: f32,
    /// C.
    pub c: Span,
}

impl Gemm {
    /// `c = a b^T`: `a` is `[m, k]`, `b` is `[n, k]` (a layer's weights applied to rows).
    pub fn a_bt(m: usize, n: usize, k: usize, a: Span, b: Span, c: Span) -> Self {
        Gemm { m, n, k, alpha: 1.0, a, op_a: Op::N, b, op_b: Op::T, beta: 0.0, c }
    }

    /// `c = a b`: `a` is `[m, k]`, `b` is `[k, n]` (a gradient taken back through weights).
    pub fn a_b(m: usize, n: usize, k: usize, a: Span, b: Span, c: Span) -> Self {
        Gemm { m, n, k, alpha: 1.0, a, op_a: Op::N, b, op_b: Op::N, beta: 0.0, c }
    }

    /// `c += a^T b`: `a` is `[k, m]`, `b` is `[k, n]` (a weight gradient summed over rows).
    pub fn add_at_b(m: usize, n: usize, k: usize, a: Span, b: Span, c: Span) -> Self {
        Gemm { m, n, k, alpha: 1.0, a, op_a: Op::T, b, op_b: Op::N, beta: 1.0, c }
    }
}

/// One GRU step over the batch: given `gx = W x + b_W` and `gh = U hd`
/// (without bias), adds `b_U` into `gh` (the backward pass needs the sum),
/// computes the gates into `gates` (z, r, n), the new state
/// `h_next = (1 - z) n + z h_prev`, and the dropped state `hd_next = h_next * mask`.
#[derive(Debug, Clone, Copy)]
pub struct GruStep {
    /// `[batch, 3h]`.
    pub gx: Span,
    /// `[batch, 3h]`, in: `U hd`; out: `U hd + b_U`.
    pub gh: Span,
    /// `b_U`, `[3h]`.
    pub bias: Span,
    /// `[batch, h]`.
    pub h_prev: Span,
    /// Recurrent dropout mask, `[batch, h]`.
    pub mask: Span,
    /// `[batch, 3h]`.
    pub gates: Span,
    /// `[batch, h]`.
    pub h_next: Span,
    /// `[batch, h]`, when a next step needs it.
    pub hd_next: Option<Span>,
    /// Windows.
    pub batch: usize,
    /// State width.
    pub hidden: usize,
}

/// One step of back-propagation through time: `dh = dhs + carry + rec *
/// mask` (`rec = dgh_{t+1} U` from the later step, zero at the last), writes
/// the gate gradients `dgx`, `dgh` and `carry = dh * z`.
#[derive(Debug, Clone, Copy)]
pub struct GruStepGrad {
    /// `[batch, 3h]` gates of the step.
    pub gates: Span,
    /// `[batch, 3h]`, `U hd + b_U` of the step.
    pub gh: Span,
    /// `[batch, h]`, the state the step read.
    pub h_prev: Span,
    /// `[batch, h]`, the gradient of the step's output from above.
    pub dhs: Span,
    /// `[batch, h]`, in and out.
    pub carry: Span,
    /// `[batch, h]`.
    pub rec: Span,
    /// `[batch, h]`, the recurrent dropout mask.
    pub mask: Span,
    /// `[batch, 3h]`, out.
    pub dgx: Span,
    /// `[batch, 3h]`, out.
    pub dgh: Span,
    /// Windows.
    pub batch: usize,
    /// State width.
    pub hidden: usize,
}

/// What the loss primitives accumulated since [`Ops::clear_stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RawStats {
    /// Sum of weighted losses.
    pub loss: f64,
    /// Weighted positions whose argmax was the target.
    pub correct: f64,
    /// Weight penalty.
    pub penalty: f64,
    /// Squared global gradient norm.
    pub grad_sq: f64,
}

/// The primitives of a training device.
pub trait Ops {
    /// A new zeroed f32 buffer of `len` elements.
    fn alloc(&mut self, len: usize) -> Result<Span>;
    /// A new zeroed u32 buffer of `len` elements.
    fn alloc_ids(&mut self, len: usize) -> Result<IdSpan>;
    /// Copies host values into `dst` (same length).
    fn upload(&mut self, dst: Span, src: &[f32]) -> Result<()>;
    /// Copies host ids into `dst` (same length).
    fn upload_ids(&mut self, dst: IdSpan, src: &[u32]) -> Result<()>;
    /// Copies `src` to the host (same length).
    fn download(&mut self, src: Span, dst: &mut [f32]) -> Result<()>;
    /// Sets every element of `dst` to `value`.
    fn fill(&mut self, dst: Span, value: f32) -> Result<()>;
    /// A matrix product.
    fn gemm(&mut self, g: &Gemm) -> Result<()>;
    /// `x[r][c] = act(x[r][c] + bias[c])`, `cols = bias.len`.
    fn bias_act(&mut self, x: Span, bias: Span, act: Activation) -> Result<()>;
    /// `dy *= act'(y)`, the derivative written in terms of the output `y`.
    fn act_grad(&mut self, dy: Span, y: Span, act: Activation) -> Result<()>;
    /// `out[c] += sum_r x[r][c]`, `cols = out.len`.
    fn col_sums(&mut self, x: Span, out: Span) -> Result<()>;
    /// `mask[i] = 0` with probability `p`, else `1 / (1 - p)`, element `i`
    /// drawn as the counter-based hash of `(seed, stream, first + i)`.
    fn dropout_mask(&mut self, mask: Span, first: u64, p: f32, seed: u64, stream: u64) -> Result<()>;
    /// `out[r][c] = x[r][c] * mask[r % batch][c]`, `batch = mask.len / cols`.
    fn mask_rows(&mut self, x: Span, mask: Span, cols: usize, out: Span) -> Result<()>;
    /// `out[r] = table[ids[r]] * mask[r % batch]` (`width` values per row).
    fn embed(&mut self, ids: IdSpan, table: Span, mask: Span, width: usize, out: Span) -> Result<()>;
    /// `table_grad[ids[r]] += grad[r] * mask[r % batch]`.
    fn embed_grad(&mut self, ids: IdSpan, grad: Span, mask: Span, width: usize, table_grad: Span) -> Result<()>;
    /// One GRU step.
    fn gru_step(&mut self, s: &GruStep) -> Result<()>;
    /// One step of back-propagation through time.
    fn gru_step_grad(&mut self, s: &GruStepGrad) -> Result<()>;
    /// Softmax cross-entropy of each row of `logits` (`cols` each) against
    /// `targets`, weighted by `weights` (1 when `None`); the logits become
    /// `d(loss)/d(logits) * scale`. Accumulates the weighted loss and correct count.
    fn softmax_xent(&mut self, logits: Span, targets: IdSpan, weights: Option<Span>, cols: usize, scale: f32) -> Result<()>;
    /// Squared error `0.5 * |out - target|^2` per row, weighted; `out`
    /// becomes `d(loss)/d(out) * scale`. Accumulates the weighted loss.
    fn squared_error(&mut self, out: Span, targets: Span, weights: Option<Span>, cols: usize, scale: f32) -> Result<()>;
    /// `g += l1 sign(w) + 2 l2 w`; accumulates `l1 |w| + l2 w^2` into the penalty.
    fn penalty(&mut self, w: Span, g: Span, l1: f32, l2: f32) -> Result<()>;
    /// Accumulates `sum g^2` into the squared gradient norm.
    fn sum_squares(&mut self, g: Span) -> Result<()>;
    /// Zeroes the accumulators.
    fn clear_stats(&mut self) -> Result<()>;
    /// The accumulators.
    fn stats(&mut self) -> Result<RawStats>;
}
