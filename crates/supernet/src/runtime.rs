//! libtorch's CUDA half at run time. rustc links with `--as-needed`, which drops
//! `libtorch_cuda` since no symbol of it is named; loading it with `dlopen` lets one binary run
//! on CPU-only machines and on GPU machines.

use std::sync::OnceLock;

/// Loads `libtorch_cuda.so` once per process. `Err` carries the loader's reason; the program
/// then stays on CPU.
pub fn load_cuda_runtime() -> Result<(), String> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let name = c"libtorch_cuda.so";
            // SAFETY: dlopen with a valid NUL-terminated name; the handle is intentionally
            // leaked so the library stays loaded for the life of the process.
            let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
            if !handle.is_null() {
                return Ok(());
            }
            // SAFETY: dlerror returns a thread-local C string or null.
            let why = unsafe { libc::dlerror() };
            Err(if why.is_null() {
                "unknown reason".to_string()
            } else {
                // SAFETY: a non-null dlerror result is a valid C string until the next call.
                unsafe { std::ffi::CStr::from_ptr(why) }
                    .to_string_lossy()
                    .into_owned()
            })
        })
        .clone()
}
