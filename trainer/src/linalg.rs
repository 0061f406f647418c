//! Dense matrix products on row-major f32 buffers, through `matrixmultiply`
//! (blocked and vectorized), split over the number of threads the caller
//! gives (no process-wide setting).

pub use crate::engine::ops::Op;

/// `C = alpha * op(A) * op(B) + beta * C`, with `op(A)` of shape `m x k`,
/// `op(B)` of shape `k x n` and `C` of shape `m x n`, all stored row-major,
/// on up to `threads` threads (rows of C split between them; the result does
/// not depend on the count: each element is one thread's sum in the same order).
///
/// Panics if a buffer is shorter than its shape (a bug in the caller, not input).
#[allow(clippy::too_many_arguments)]
pub fn gemm(m: usize, n: usize, k: usize, alpha: f32, a: &[f32], op_a: Op, b: &[f32], op_b: Op, beta: f32, c: &mut [f32], threads: usize) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "gemm: buffers shorter than {m}x{k} * {k}x{n}");
    if m == 0 || n == 0 {
        return;
    }
    // Worth a thread only with enough work each (a thread start costs about as much as 100k multiply-adds).
    let threads = threads.clamp(1, m).min((m * n * k / 200_000).max(1));
    if threads == 1 {
        gemm_rows(0, m, n, k, alpha, a, op_a, b, op_b, beta, &mut c[..m * n]);
        return;
    }
    let per = m.div_ceil(threads);
    std::thread::scope(|scope| {
        for (i, chunk) in c[..m * n].chunks_mut(per * n).enumerate() {
            let rows = chunk.len() / n;
            scope.spawn(move || gemm_rows(i * per, rows, n, k, alpha, a, op_a, b, op_b, beta, chunk));
        }
    });
}

/// Rows `first..first + rows` of the product into `c` (those rows only).
#[allow(clippy::too_many_arguments)]
fn gemm_rows(
    first: usize,
    rows: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    op_a: Op,
    b: &[f32],
    op_b: Op,
    beta: f32,
    c: &mut [f32],
) {
    let m_total = a.len() / k.max(1);
    let (rsa, csa, a_start) = match op_a {
        Op::N => (k as isize, 1, first * k),
        Op::T => (1, m_total as isize, first),
    };
    let (rsb, csb) = match op_b {
        Op::N => (n as isize, 1),
        Op::T => (1, k as isize),
    };
    // SAFETY: the caller's assert guarantees that every element addressed by
    // the strides (rows first..first+rows of op(A) with k columns, k x n of
    // op(B), rows x n of C) lies inside `a`, `b` and `c` (for op(A) = A^T the
    // columns stride by the full m); `c` does not alias `a` or `b` because it
    // is a distinct `&mut` borrow.
    unsafe {
        matrixmultiply::sgemm(
            rows,
            k,
            n,
            alpha,
            a.as_ptr().add(a_start),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
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
    fn all_transpose_combinations_match_the_definition_on_any_thread_count() {
        let (m, n, k) = (37, 40, 50);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 * 0.5 - 3.0).collect();
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
                let mut first = None;
                for threads in [1, 2, 3, 8] {
                    let mut c = vec![1.0f32; m * n];
                    // Force the split even for this small product.
                    let per = m.div_ceil(threads);
                    for (i, chunk) in c.chunks_mut(per * n).enumerate() {
                        gemm_rows(i * per, chunk.len() / n, n, k, 1.0, aa, oa, bb, ob, 1.0, chunk);
                    }
                    for (g, w) in c.iter().zip(&want) {
                        assert!((g - (w + 1.0)).abs() < 1e-3, "{oa:?}{ob:?} {threads} threads");
                    }
                    let mut whole = vec![1.0f32; m * n];
                    gemm(m, n, k, 1.0, aa, oa, bb, ob, 1.0, &mut whole, threads);
                    assert_eq!(whole, c, "{oa:?}{ob:?}: the split equals one product");
                    assert!(first.as_ref().is_none_or(|f| *f == c), "the thread count changed the result");
                    first = Some(c);
                }
            }
        }
    }
}
