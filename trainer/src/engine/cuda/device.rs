//! Loading the CUDA libraries, the device and its buffers.

use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use cudarc::cublas::sys as blas_sys;
use cudarc::driver::{CudaContext, CudaSlice, CudaStream, DevicePtr, DeviceRepr, ValidAsZeroBits};

/// Checks that the driver, NVRTC and cuBLAS libraries can be loaded, so that
/// a missing library is a clear error instead of a panic inside cudarc.
pub fn check_libraries() -> Result<()> {
    // SAFETY: each check only tries to dlopen the library (libloading) and
    // reports whether it loaded; no CUDA function is called.
    let driver = unsafe { cudarc::driver::sys::is_culib_present() };
    if !driver {
        bail!("--device cuda: the NVIDIA driver library (libcuda.so) is not on this machine; train with --device cpu, or install the NVIDIA driver");
    }
    if !nvrtc_available() {
        bail!(
            "--device cuda: NVRTC (libnvrtc.so.13) was not found: install the CUDA 13 toolkit, or `pip install nvidia-cuda-nvrtc` and add its lib folder to LD_LIBRARY_PATH"
        );
    }
    // SAFETY: as above.
    let cublas = unsafe { blas_sys::is_culib_present() };
    if !cublas {
        bail!("--device cuda: cuBLAS (libcublas.so.13) was not found: install the CUDA 13 toolkit, or `pip install nvidia-cublas` and add its lib folder to LD_LIBRARY_PATH");
    }
    Ok(())
}

/// Whether NVRTC (`libnvrtc.so.13`) can be loaded: all compiling the kernels needs.
pub fn nvrtc_available() -> bool {
    // SAFETY: only tries to dlopen the library and reports whether it loaded.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// GPUs the driver reports (call after `check_libraries`).
pub fn device_count() -> Result<usize> {
    let n = CudaContext::device_count().map_err(|e| anyhow!("--device cuda: no usable CUDA GPU ({e:?})"))?;
    Ok(n.max(0) as usize)
}

/// A CUDA error with what was being done.
pub(crate) fn cu<T, E: std::fmt::Debug>(r: Result<T, E>, what: &str) -> Result<T> {
    r.map_err(|e| anyhow!("cuda: {what}: {e:?}"))
}

/// The context of GPU `ordinal` and its one stream (after checking the libraries).
pub(crate) fn open(ordinal: usize) -> Result<(Arc<CudaContext>, Arc<CudaStream>)> {
    check_libraries()?;
    let count = device_count()?;
    if count <= ordinal {
        bail!("--device cuda: no CUDA GPU found (the driver reports {count} devices)");
    }
    let ctx = cu(CudaContext::new(ordinal), "creating the context")?;
    // SAFETY: the device uses a single stream, so the cross-stream event
    // tracking that this turns off has nothing to order.
    unsafe { ctx.disable_event_tracking() };
    let stream = ctx.default_stream();
    Ok((ctx, stream))
}

/// A device buffer and its raw address (the stream is the only user, so the
/// address is all the kernels and cuBLAS need).
pub(crate) struct Buf<T> {
    pub slice: CudaSlice<T>,
    pub ptr: u64,
    pub len: usize,
}

impl<T: DeviceRepr + ValidAsZeroBits> Buf<T> {
    pub fn zeros(stream: &Arc<CudaStream>, n: usize) -> Result<Self> {
        let slice = cu(stream.alloc_zeros::<T>(n.max(1)), "allocating device memory")?;
        let ptr = {
            let (ptr, _sync) = slice.device_ptr(stream);
            ptr
        };
        Ok(Buf { slice, ptr, len: n })
    }

    pub fn from_host(stream: &Arc<CudaStream>, data: &[T]) -> Result<Self> {
        let mut b = Buf::zeros(stream, data.len())?;
        if !data.is_empty() {
            cu(stream.memcpy_htod(data, &mut b.slice), "copying to the device")?;
        }
        Ok(b)
    }

    /// Address of element `i`.
    pub fn at(&self, i: usize) -> u64 {
        self.ptr + (i * std::mem::size_of::<T>()) as u64
    }
}
