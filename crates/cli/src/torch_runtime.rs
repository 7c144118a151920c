//! libtorch at run time: CUDA support is loaded with `dlopen` so that one binary runs on CPU-only
//! machines and on GPU machines (rustc's `--as-needed` would otherwise drop `libtorch_cuda`).

use std::sync::OnceLock;

/// Tries once to load `libtorch_cuda.so`; returns whether it loaded. On failure the reason is
/// logged and the program stays on CPU.
#[allow(dead_code)]
pub fn load_cuda() -> bool {
    static LOADED: OnceLock<bool> = OnceLock::new();
    *LOADED.get_or_init(|| {
        let name = c"libtorch_cuda.so";
        // SAFETY: dlopen with a valid NUL-terminated name; the handle is intentionally leaked so
        // the library stays loaded for the life of the process.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
        if handle.is_null() {
            // SAFETY: dlerror returns a thread-local C string or null.
            let why = unsafe { libc::dlerror() };
            let why = if why.is_null() {
                "unknown reason".to_string()
            } else {
                unsafe { std::ffi::CStr::from_ptr(why) }
                    .to_string_lossy()
                    .into_owned()
            };
            tracing::info!("libtorch_cuda not loaded, staying on CPU: {why}");
            false
        } else {
            true
        }
    })
}
