//! Matrix products on the GPU by cuBLAS: row-major products expressed as the
//! column-major product `C^T = op(B)^T op(A)^T`, in f32 or with bf16/f16
//! operands and f32 accumulation.

use anyhow::Result;
use cudarc::cublas::{result as blas, sys as blas_sys, CudaBlas};

use super::device::cu;
use crate::engine::ops::Op;
use crate::engine::Precision;

/// Device addresses of one product's operands (`a_half`/`b_half`: their
/// reduced-precision copies, used unless the precision is f32).
pub(crate) struct Product {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub alpha: f32,
    pub a: u64,
    pub op_a: Op,
    pub b: u64,
    pub op_b: Op,
    pub beta: f32,
    pub c: u64,
}

/// `C = alpha op(A) op(B) + beta C` on row-major buffers.
pub(crate) fn gemm(blas: &CudaBlas, precision: Precision, g: &Product) -> Result<()> {
    use blas_sys::cublasOperation_t::{CUBLAS_OP_N, CUBLAS_OP_T};
    let (m, n, k) = (g.m, g.n, g.k);
    if m == 0 || n == 0 {
        return Ok(());
    }
    let (transa, lda) = match g.op_b {
        Op::N => (CUBLAS_OP_N, n),
        Op::T => (CUBLAS_OP_T, k),
    };
    let (transb, ldb) = match g.op_a {
        Op::N => (CUBLAS_OP_N, k),
        Op::T => (CUBLAS_OP_T, m),
    };
    let (mi, ni, ki) = (n as i32, m as i32, k as i32);
    let handle = *blas.handle();
    if precision == Precision::F32 {
        // SAFETY: `a`, `b` and `c` address device buffers of at least m*k,
        // k*n and m*n floats (the graph sizes them from the network and the
        // batch; the device checks every span against its buffer), and the
        // leading dimensions follow the stored row-major shapes.
        let r = unsafe {
            blas::sgemm(
                handle,
                transa,
                transb,
                mi,
                ni,
                ki,
                &g.alpha,
                g.b as *const f32,
                lda as i32,
                g.a as *const f32,
                ldb as i32,
                &g.beta,
                g.c as *mut f32,
                n as i32,
            )
        };
        return cu(r, "sgemm");
    }
    let dtype = if precision == Precision::Bf16 { blas_sys::cudaDataType::CUDA_R_16BF } else { blas_sys::cudaDataType::CUDA_R_16F };
    // SAFETY: as for sgemm; here `a` and `b` are the 16-bit copies, holding as
    // many elements as their f32 sources, and alpha/beta are f32 as
    // CUBLAS_COMPUTE_32F requires.
    let r = unsafe {
        blas::gemm_ex(
            handle,
            transa,
            transb,
            mi,
            ni,
            ki,
            &g.alpha as *const f32 as *const _,
            g.b as *const _,
            dtype,
            lda as i32,
            g.a as *const _,
            dtype,
            ldb as i32,
            &g.beta as *const f32 as *const _,
            g.c as *mut _,
            blas_sys::cudaDataType::CUDA_R_32F,
            n as i32,
            blas_sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
            blas_sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
        )
    };
    cu(r, "gemm_ex")
}
