//! The official CIFAR-10 binary format: `data_batch_1.bin` … `data_batch_5.bin` and
//! `test_batch.bin`, each a sequence of records of one label byte followed by 3,072 pixel bytes
//! (the R, G and B planes of a 32x32 image, row-major). Read natively so that users never need
//! Python pickles.

use std::path::{Path, PathBuf};

use crate::atomic::atomic_write;
use crate::DataError;

/// Image side length in pixels.
pub const SIDE: usize = 32;
/// Colour channels (R, G, B).
pub const CHANNELS: usize = 3;
/// Bytes of one image: three 32x32 planes.
pub const IMAGE_BYTES: usize = CHANNELS * SIDE * SIDE;
/// Bytes of one record: the label byte plus the image.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// Number of classes.
pub const NUM_CLASSES: usize = 10;
/// Class names in label order 0..9 (also the folder names of image trees).
pub const CLASSES: [&str; NUM_CLASSES] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];
/// The five training batch files, in order.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
/// The test batch file.
pub const TEST_FILE: &str = "test_batch.bin";
/// The class-name file of the official tarball (one name a line).
pub const META_FILE: &str = "batches.meta.txt";
/// The folder the official `cifar-10-binary.tar.gz` unpacks into.
pub const OFFICIAL_DIR: &str = "cifar-10-batches-bin";

/// A set of labelled images held as raw bytes: image `i` is `images[i*3072..(i+1)*3072]`, in
/// CHW plane order, exactly as in the binary files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// `N * 3072` pixel bytes, CHW planes per image.
    pub images: Vec<u8>,
    /// `N` labels in `0..10`.
    pub labels: Vec<u8>,
}

impl Split {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the split holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The 3,072 CHW bytes of image `i`, or `None` when out of range.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let start = i.checked_mul(IMAGE_BYTES)?;
        self.images.get(start..start.checked_add(IMAGE_BYTES)?)
    }

    /// Appends one image (CHW bytes) with its label.
    pub fn push(&mut self, image: &[u8; IMAGE_BYTES], label: u8) {
        self.images.extend_from_slice(image);
        self.labels.push(label);
    }

    /// Appends all images of `other`.
    pub fn extend(&mut self, other: Split) {
        self.images.extend(other.images);
        self.labels.extend(other.labels);
    }

    /// Mean of each channel over all pixels, on the [0, 1] scale (the normalization statistic).
    pub fn channel_means(&self) -> [f64; CHANNELS] {
        let mut sums = [0u64; CHANNELS];
        for image in self.images.chunks_exact(IMAGE_BYTES) {
            for (c, plane) in image.chunks_exact(SIDE * SIDE).enumerate() {
                if let Some(s) = sums.get_mut(c) {
                    *s += plane.iter().map(|&p| u64::from(p)).sum::<u64>();
                }
            }
        }
        let count = (self.len() * SIDE * SIDE).max(1) as f64;
        sums.map(|s| s as f64 / count / 255.0)
    }

    /// Number of images of each class.
    pub fn class_counts(&self) -> [usize; NUM_CLASSES] {
        let mut counts = [0; NUM_CLASSES];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(usize::from(l)) {
                *c += 1;
            }
        }
        counts
    }
}

/// Parses one binary batch held in memory; `path` only names the source in errors.
pub fn parse_batch(path: &Path, bytes: &[u8]) -> Result<Split, DataError> {
    let len = bytes.len() as u64;
    let whole = bytes.len() / RECORD_BYTES;
    let partial = bytes.len() % RECORD_BYTES;
    if partial != 0 {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            len,
            record: whole,
            offset: (whole * RECORD_BYTES) as u64,
            partial: partial as u64,
        });
    }
    let mut split = Split {
        images: Vec::with_capacity(whole * IMAGE_BYTES),
        labels: Vec::with_capacity(whole),
    };
    for (record, chunk) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let (label, pixels) = chunk.split_at(1);
        let label = label.first().copied().unwrap_or(u8::MAX);
        if usize::from(label) >= NUM_CLASSES {
            return Err(DataError::BadLabel {
                path: path.to_path_buf(),
                record,
                offset: (record * RECORD_BYTES) as u64,
                label,
            });
        }
        split.labels.push(label);
        split.images.extend_from_slice(pixels);
    }
    Ok(split)
}

/// Reads one binary batch file.
pub fn read_batch(path: &Path) -> Result<Split, DataError> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DataError::Missing {
            path: path.to_path_buf(),
            what: "CIFAR-10 binary batch",
        },
        _ => DataError::io(path, e),
    })?;
    parse_batch(path, &bytes)
}

/// Writes `split` as one binary batch file, atomically.
pub fn write_batch(path: &Path, split: &Split) -> Result<(), DataError> {
    if split.images.len() != split.len() * IMAGE_BYTES {
        return Err(DataError::config(
            "split",
            format!(
                "{} image bytes for {} labels (expected {} per image)",
                split.images.len(),
                split.len(),
                IMAGE_BYTES
            ),
        ));
    }
    atomic_write(path, |w| {
        for (label, image) in split
            .labels
            .iter()
            .zip(split.images.chunks_exact(IMAGE_BYTES))
        {
            w.write_all(&[*label])?;
            w.write_all(image)?;
        }
        Ok(())
    })
}

/// CIFAR-10 as the official binary set: 50,000 training and 10,000 test images.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cifar10 {
    /// The training set (`data_batch_1..5`, concatenated in order).
    pub train: Split,
    /// The test set (`test_batch`).
    pub test: Split,
}

impl Cifar10 {
    /// Loads the binary set from `dir`, which holds the batch files directly or holds the
    /// `cifar-10-batches-bin/` folder of the official tarball.
    pub fn load(dir: impl AsRef<Path>) -> Result<Cifar10, DataError> {
        let dir = resolve_dir(dir.as_ref());
        let mut train = Split::default();
        for name in TRAIN_FILES {
            train.extend(read_batch(&dir.join(name))?);
        }
        let test = read_batch(&dir.join(TEST_FILE))?;
        Ok(Cifar10 { train, test })
    }

    /// Writes the set in the official layout into `dir` (which must exist): the training set
    /// cut into five batches of nearly equal size, the test batch and `batches.meta.txt`.
    pub fn save(&self, dir: &Path) -> Result<(), DataError> {
        let n = self.train.len();
        let per = n.div_ceil(TRAIN_FILES.len());
        for (k, name) in TRAIN_FILES.iter().enumerate() {
            let lo = (k * per).min(n);
            let hi = ((k + 1) * per).min(n);
            let part = Split {
                images: self
                    .train
                    .images
                    .get(lo * IMAGE_BYTES..hi * IMAGE_BYTES)
                    .unwrap_or_default()
                    .to_vec(),
                labels: self.train.labels.get(lo..hi).unwrap_or_default().to_vec(),
            };
            write_batch(&dir.join(name), &part)?;
        }
        write_batch(&dir.join(TEST_FILE), &self.test)?;
        atomic_write(&dir.join(META_FILE), |w| {
            for c in CLASSES {
                writeln!(w, "{c}")?;
            }
            Ok(())
        })
    }
}

/// `dir` itself when it holds the batch files, else its `cifar-10-batches-bin/` child when that
/// exists, else `dir` (so the error names the file that was expected there).
pub fn resolve_dir(dir: &Path) -> PathBuf {
    if dir.join(TEST_FILE).is_file() {
        return dir.to_path_buf();
    }
    let nested = dir.join(OFFICIAL_DIR);
    if nested.is_dir() {
        nested
    } else {
        dir.to_path_buf()
    }
}
