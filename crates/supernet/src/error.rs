//! Typed errors of the supernet crate: bad configurations and architecture tensors whose shapes
//! do not fit the search space they are used with.

/// Everything that can go wrong when building a supernet or reading its architecture weights.
#[derive(Debug, thiserror::Error)]
pub enum SupernetError {
    /// A [`crate::SupernetConfig`] field holds a value the model cannot be built with.
    #[error("invalid supernet config field `{field}`: {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// An architecture tensor does not have the shape the search space requires (§2.4).
    #[error("architecture tensor `{tensor}` has shape {found:?}, expected {expected:?}")]
    ArchShape {
        /// Which tensor, e.g. `ops` or `inputs[3]`.
        tensor: String,
        /// The shape the search space requires.
        expected: Vec<i64>,
        /// The shape found.
        found: Vec<i64>,
    },
    /// An architecture tensor is present where the space has none, or missing where it has one.
    #[error("architecture tensor `{tensor}`: {reason}")]
    ArchLayout {
        /// Which tensor.
        tensor: String,
        /// What is wrong.
        reason: String,
    },
    /// A discrete architecture does not fit the search space (wrong lengths or parent sets).
    #[error("architecture does not fit the search space: {0}")]
    Architecture(String),
    /// `channel_shuffle` was given a tensor it cannot shuffle.
    #[error("channel shuffle: {0}")]
    Shuffle(String),
    /// A libtorch call failed (e.g. reading a tensor that is not a float tensor).
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}
