//! libtorch at run time: CUDA support is loaded with `dlopen` (`supernet::load_cuda_runtime`)
//! so that one binary runs on CPU-only machines and on GPU machines.

/// Tries once to load `libtorch_cuda.so`; returns whether it loaded. On failure the reason is
/// logged and the program stays on CPU.
pub fn load_cuda() -> bool {
    match supernet::load_cuda_runtime() {
        Ok(()) => true,
        Err(why) => {
            tracing::info!("libtorch_cuda not loaded, staying on CPU: {why}");
            false
        }
    }
}
