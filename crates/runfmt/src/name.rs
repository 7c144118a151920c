//! [`SafeName`]: the one checked constructor for a name that becomes a single path component
//! (an experiment's `name`, a study, an optimizer, a grid point's folder). Names come from
//! experiment files, sidecars and the command line, so none of them may climb out of the
//! output root (`..`, `/`, an absolute path), land in it unnamed (`""`), hide from the folder
//! walk (a leading `.`) or carry bytes a file system refuses (NUL, over 255 bytes).

use std::fmt;
use std::path::Path;

/// Longest name accepted, in bytes (the common file-name limit).
pub const MAX_NAME_BYTES: usize = 255;

/// Characters echoed back from a rejected value (a 50 MB field is not printed in full).
pub const MAX_ECHO_CHARS: usize = 100;

/// A name that is safe as one path component: ASCII letters, digits and `- _ . = +`, not
/// starting with `.`, 1 to [`MAX_NAME_BYTES`] bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SafeName(String);

/// Why a name was refused; names the field (and where it came from, when the caller says).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} {value}: {reason}; a name may use letters, digits, `-`, `_`, `.`, `=`, `+` and must not start with `.`")]
pub struct NameError {
    /// The setting, e.g. ``study `name` `` or `experiment name`.
    pub field: String,
    /// The value as given, shortened for echoing.
    pub value: String,
    pub reason: &'static str,
}

/// `text` quoted (escapes shown), shortened to [`MAX_ECHO_CHARS`] characters with its full
/// length noted.
pub fn echo(text: &str) -> String {
    if text.chars().count() <= MAX_ECHO_CHARS {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(MAX_ECHO_CHARS).collect();
        format!("{head:?}… ({} bytes)", text.len())
    }
}

/// `text` as is, shortened like [`echo`]: for labels inside messages.
pub fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_ECHO_CHARS {
        text.to_string()
    } else {
        let head: String = text.chars().take(MAX_ECHO_CHARS).collect();
        format!("{head}… ({} bytes)", text.len())
    }
}

fn reason(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        return Some("is empty");
    }
    if s.len() > MAX_NAME_BYTES {
        return Some("is longer than 255 bytes");
    }
    if s.contains('\0') {
        return Some("contains a NUL byte");
    }
    if s.contains('/') || s.contains('\\') || Path::new(s).is_absolute() {
        return Some("contains a path separator (one folder name is expected)");
    }
    if s == "." || s == ".." {
        return Some("names the current or parent folder");
    }
    if s.starts_with('.') {
        return Some("starts with `.` (hidden folders are not searched for runs)");
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=' | '+'))
    {
        return Some("contains a character outside the allowed set");
    }
    None
}

impl SafeName {
    /// Checks `value` for use as one path component; `field` names the setting in the error.
    pub fn new(field: impl Into<String>, value: &str) -> Result<SafeName, NameError> {
        match reason(value) {
            None => Ok(SafeName(value.to_string())),
            Some(reason) => Err(NameError {
                field: field.into(),
                value: echo(value),
                reason,
            }),
        }
    }

    /// Whether `value` would be accepted.
    pub fn is_safe(value: &str) -> bool {
        reason(value).is_none()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SafeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<Path> for SafeName {
    fn as_ref(&self) -> &Path {
        Path::new(&self.0)
    }
}

impl AsRef<str> for SafeName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_every_name_that_leaves_its_folder() {
        for bad in [
            "", ".", "..", "../x", "../../x", "/abs", "a/b", "a\\b", ".hidden", "a\0b", "sp ace",
        ] {
            let e = SafeName::new("experiment name", bad).unwrap_err();
            assert!(e.to_string().starts_with("experiment name"), "{e}");
        }
        assert!(SafeName::new("n", &"x".repeat(256)).is_err());
        for good in ["wd", "weights.weight_decay=0.0003+x", "darts_2", "a-b"] {
            assert_eq!(SafeName::new("n", good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn a_huge_value_is_echoed_shortened() {
        let e = SafeName::new("study name", &"/".repeat(1_000_000)).unwrap_err();
        let text = e.to_string();
        assert!(text.len() < 400 && text.contains("1000000 bytes"), "{text}");
    }
}
