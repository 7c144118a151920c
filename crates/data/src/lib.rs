//! CIFAR-10: the official binary format, import from image folders, downloads with checksums,
//! augmentation (random crop, flip, normalization, Cutout), the search split and batching.
//! No libtorch here: batches are plain `f32`/`i64` buffers.
