//! The training kernels: their CUDA C source, the one list of their names,
//! and their compilation by NVRTC.

use std::sync::Arc;

use anyhow::{anyhow, Result};
use cudarc::driver::{CudaContext, CudaFunction};
use cudarc::nvrtc::Ptx;

use super::device::cu;

/// The CUDA C source of the training kernels.
pub const KERNELS_SOURCE: &str = include_str!("kernels.cu");

/// Defines the kernel list once: the names (for checks) and the struct of loaded functions.
macro_rules! kernels {
    ($($name:ident),* $(,)?) => {
        /// The kernels in `kernels.cu`.
        pub const KERNEL_NAMES: [&str; [$(stringify!($name)),*].len()] = [$(stringify!($name)),*];

        /// The loaded kernels, one field per name.
        pub(crate) struct Kernels {
            $(pub $name: CudaFunction,)*
        }

        impl Kernels {
            /// Compiles the kernels for the context's GPU and loads them.
            pub fn load(ctx: &Arc<CudaContext>) -> Result<Self> {
                let (major, minor) = cu(ctx.compute_capability(), "reading the compute capability")?;
                let module = cu(ctx.load_module(compile_kernels(KernelTarget::Cubin { major, minor })?), "loading the kernels")?;
                Ok(Kernels { $($name: cu(module.load_function(stringify!($name)), stringify!($name))?,)* })
            }
        }
    };
}

kernels!(
    dropout_mask,
    fill,
    mask_rows,
    embed_forward,
    embed_backward,
    bias_act,
    act_grad,
    gru_forward_step,
    softmax_xent,
    squared_error,
    gru_backward_step,
    penalty,
    sum_squares,
    adam,
    sgd,
    to_f16,
    to_bf16,
);

/// What NVRTC compiles the kernels to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelTarget {
    /// PTX for NVRTC's default virtual architecture.
    Ptx,
    /// Machine code for one GPU architecture (`sm_<major><minor>`). The engine
    /// uses this: a driver cannot JIT PTX from a newer NVRTC (PyPI's NVRTC is
    /// often newer than the driver), but it loads machine code from any
    /// NVRTC of the same major version.
    Cubin {
        /// Compute capability, major.
        major: i32,
        /// Compute capability, minor.
        minor: i32,
    },
}

/// Compiles `kernels.cu` with NVRTC (no GPU needed, only the library).
pub fn compile_kernels(target: KernelTarget) -> Result<Ptx> {
    use cudarc::nvrtc::{result as nvrtc, sys as nvrtc_sys};
    let src = std::ffi::CString::new(KERNELS_SOURCE)?;
    let name = std::ffi::CString::new("edgegru_kernels.cu")?;
    let prog = cu(nvrtc::create_program(&src, Some(&name)), "NVRTC")?;
    let options: Vec<String> = match target {
        KernelTarget::Ptx => Vec::new(),
        KernelTarget::Cubin { major, minor } => vec![format!("--gpu-architecture=sm_{major}{minor}")],
    };
    // SAFETY: `prog` was just created and is destroyed only below; the
    // buffers handed to NVRTC are sized by the size NVRTC reports.
    let result = unsafe {
        match nvrtc::compile_program(prog, &options) {
            Err(e) => {
                let log = nvrtc::get_program_log(prog).map(|l| l.iter().map(|&c| c as u8 as char).collect::<String>()).unwrap_or_default();
                Err(anyhow!("NVRTC could not compile the training kernels ({e:?}):\n{}", log.trim_end_matches('\0')))
            }
            Ok(()) => match target {
                KernelTarget::Ptx => cu(nvrtc::get_ptx(prog), "reading the PTX")
                    .map(|p| Ptx::from_src(p.iter().take_while(|&&c| c != 0).map(|&c| c as u8 as char).collect::<String>())),
                KernelTarget::Cubin { .. } => {
                    let mut size = 0usize;
                    cu(nvrtc_sys::nvrtcGetCUBINSize(prog, &mut size).result(), "reading the machine code size").and_then(|()| {
                        let mut bin = vec![0u8; size];
                        cu(nvrtc_sys::nvrtcGetCUBIN(prog, bin.as_mut_ptr().cast()).result(), "reading the machine code")
                            .map(|()| Ptx::from_binary(bin))
                    })
                }
            },
        }
    };
    // SAFETY: `prog` is live and not used after this.
    let _ = unsafe { nvrtc::destroy_program(prog) };
    result
}
