use thiserror::Error;

/// Why proxies could not be computed.
#[derive(Debug, Error)]
pub enum ZeroCostError {
    /// A proxy name that is not one of [`crate::Proxy::ALL`].
    #[error("unknown proxy {name:?} (known: {known})")]
    UnknownProxy { name: String, known: String },
    /// A setting out of range; names the field.
    #[error("bad setting {field}: {why}")]
    Config { field: &'static str, why: String },
    /// The cell has no NB-101 network (invalid cell or network settings).
    #[error("cell has no network: {0}")]
    Network(#[from] nasbench101::network::NetworkError),
    /// libtorch refused an operation.
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
}
