//! libtorch errors that tch reports by panicking (a failed allocation inside `nn::Path::var`,
//! for example) turned into [`OneShotError::TorchFailed`] with what was being built, so user input
//! never crashes the process.

use std::panic::{self, AssertUnwindSafe};

use crate::error::OneShotError;

/// Runs `f`; a panic inside it becomes an error naming `what()` and libtorch's message. The
/// panic hook is silenced meanwhile so no "panicked" line reaches the user.
pub fn catch<T>(what: impl FnOnce() -> String, f: impl FnOnce() -> T) -> Result<T, OneShotError> {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let out = panic::catch_unwind(AssertUnwindSafe(f));
    panic::set_hook(hook);
    out.map_err(|payload| {
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "libtorch failed".into());
        // libtorch appends a long C++ backtrace; its first line says what went wrong.
        let first = msg.lines().next().unwrap_or_default().to_string();
        OneShotError::TorchFailed {
            what: what(),
            msg: first,
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_panic_becomes_an_error_naming_the_setting() {
        let err = super::catch(
            || "[model] init_channels = 9".into(),
            || -> u8 { panic!("out of memory\nbacktrace") },
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("init_channels = 9") && err.contains("out of memory"),
            "{err}"
        );
        assert!(!err.contains("backtrace"));
        assert_eq!(super::catch(String::new, || 3).unwrap(), 3);
    }
}
