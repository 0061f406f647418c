//! Dense matrix products on row-major f32 buffers, through `matrixmultiply`
//! (blocked, vectorized, multithreaded).

/// Whether an operand is used as stored or transposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// As stored.
    N,
    /// Transposed.
    T,
}

/// `C = alpha * op(A) * op(B) + beta * C`, with `op(A)` of shape `m x k`,
/// `op(B)` of shape `k x n` and `C` of shape `m x n`, all stored row-major.
///
/// Panics if a buffer is shorter than its shape (a bug in the caller, not input).
#[allow(clippy::too_many_arguments)]
pub fn gemm(m: usize, n: usize, k: usize, alpha: f32, a: &[f32], op_a: Op, b: &[f32], op_b: Op, beta: f32, c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "gemm: buffers shorter than {m}x{k} * {k}x{n}");
    if m == 0 || n == 0 {
        return;
    }
    let (rsa, csa) = match op_a {
        Op::N => (k as isize, 1),
        Op::T => (1, m as isize),
    };
    let (rsb, csb) = match op_b {
        Op::N => (n as isize, 1),
        Op::T => (1, k as isize),
    };
    // SAFETY: the assert above guarantees that every element addressed by the
    // strides (rows < m/k/n with the row and column strides chosen for the
    // stored shapes) lies inside `a`, `b` and `c`; `c` does not alias `a`/`b`
    // because it is a distinct `&mut` borrow.
    unsafe {
        matrixmultiply::sgemm(m, k, n, alpha, a.as_ptr(), rsa, csa, b.as_ptr(), rsb, csb, beta, c.as_mut_ptr(), n as isize, 1);
    }
}

/// Adds `bias` to every row of the `rows x bias.len()` matrix `c`.
pub fn add_bias(c: &mut [f32], bias: &[f32]) {
    for row in c.chunks_exact_mut(bias.len()) {
        row.iter_mut().zip(bias).for_each(|(x, b)| *x += b);
    }
}

/// `out[j] += sum_i c[i][j]` over the rows of `c`.
pub fn add_column_sums(c: &[f32], out: &mut [f32]) {
    for row in c.chunks_exact(out.len()) {
        out.iter_mut().zip(row).for_each(|(o, x)| *o += x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_transpose_combinations_match_the_definition() {
        let (m, n, k) = (3, 4, 5);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32).sin()).collect();
        let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        let mut want = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                want[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        for (aa, oa) in [(&a, Op::N), (&at, Op::T)] {
            for (bb, ob) in [(&b, Op::N), (&bt, Op::T)] {
                let mut c = vec![1.0f32; m * n];
                gemm(m, n, k, 1.0, aa, oa, bb, ob, 1.0, &mut c);
                for (g, w) in c.iter().zip(&want) {
                    assert!((g - (w + 1.0)).abs() < 1e-4, "{oa:?}{ob:?}");
                }
            }
        }
    }
}
