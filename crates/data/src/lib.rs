//! CIFAR-10: the official binary format, import from image folders, downloads with checksums,
//! augmentation (random crop, flip, normalization, Cutout), the search split and batching.
//! No libtorch here: batches are plain `f32`/`i64` buffers.

mod atomic;
pub mod augment;
pub mod bench;
pub mod cifar;
pub mod download;
mod error;
pub mod fetch;
pub mod import;
pub mod loader;
pub mod split;

pub use atomic::atomic_write;
pub use augment::{Augment, Cutout, HorizontalFlip, Normalize, RandomCrop};
pub use cifar::{Cifar10, Split};
pub use download::{download, Checksum, DownloadOptions, DownloadOutcome};
pub use error::DataError;
pub use import::{import, ImportManifest};
pub use loader::{Batch, Loader, LoaderState};
pub use split::{SearchSplit, SplitProtocol};
