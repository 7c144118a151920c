//! Import of image-folder trees (`train/<class>/*`, `test/<class>/*`, PNG or JPEG) into the
//! official binary layout, from a folder or straight from a `.tar.gz` archive. The class of an
//! image is its folder name, mapped to the official label order. The original interleaving of
//! the training batches cannot be recovered from such a tree, so the training images are
//! shuffled with a recorded seed; the manifest `import.json` says so, and says when the source
//! was lossy (JPEG).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;
use indicatif::ProgressBar;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::atomic::atomic_write;
use crate::cifar::{Cifar10, Split, CLASSES, IMAGE_BYTES, NUM_CLASSES, SIDE};
use crate::DataError;

/// Name of the manifest written next to the batch files.
pub const MANIFEST_FILE: &str = "import.json";

/// What an import read and how it ordered it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportManifest {
    /// The folder or archive imported.
    pub source: String,
    /// `"folder"` or `"tar.gz"`.
    pub source_kind: String,
    /// SHA-256 of the archive (archives only).
    pub source_sha256: Option<String>,
    /// Seed of the ChaCha8 shuffle of the training images.
    pub seed: u64,
    /// How the images were ordered.
    pub order: String,
    /// Number of training images.
    pub train: usize,
    /// Number of test images.
    pub test: usize,
    /// Training images per class, in label order.
    pub train_per_class: [usize; NUM_CLASSES],
    /// Test images per class, in label order.
    pub test_per_class: [usize; NUM_CLASSES],
    /// Number of PNG files.
    pub png: usize,
    /// Number of JPEG files.
    pub jpeg: usize,
    /// Files that were not images and were ignored.
    pub skipped: usize,
    /// True when any image came from a lossy (JPEG) file.
    pub lossy: bool,
    /// A warning for readers of results made from this data.
    pub note: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Train,
    Test,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Png,
    Jpeg,
}

/// Where an image's bytes are: already read (archive member) or still on disk.
enum Bytes {
    Memory(Vec<u8>),
    File(PathBuf),
}

/// One image to decode, with its place in the layout.
struct Entry {
    part: Part,
    label: u8,
    /// The name used in errors (a path, or `archive:member`).
    name: PathBuf,
    /// File name, for a stable order before shuffling.
    file: String,
    format: Format,
    bytes: Bytes,
}

fn format_of(file: &str) -> Option<Format> {
    let lower = file.to_ascii_lowercase();
    if lower.ends_with(".png") {
        Some(Format::Png)
    } else if lower.ends_with(".jpg") || lower.ends_with(".jpeg") {
        Some(Format::Jpeg)
    } else {
        None
    }
}

fn label_of(class: &str) -> Option<u8> {
    CLASSES
        .iter()
        .position(|c| *c == class)
        .and_then(|i| u8::try_from(i).ok())
}

fn part_of(name: &str) -> Option<Part> {
    match name {
        "train" => Some(Part::Train),
        "test" => Some(Part::Test),
        _ => None,
    }
}

/// Classifies a relative path `.../train|test/<class>/<file>`; `Ok(None)` for non-images.
fn classify(rel: &Path, shown: &Path) -> Result<Option<(Part, u8, String, Format)>, DataError> {
    let comps: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let Some(file) = comps.last() else {
        return Ok(None);
    };
    let Some(format) = format_of(file) else {
        return Ok(None);
    };
    if file.starts_with('.') {
        return Ok(None);
    }
    let layout = |message: String| DataError::Layout {
        path: shown.to_path_buf(),
        message,
    };
    let [.., part, class, _] = comps.as_slice() else {
        return Err(layout(
            "image is not inside train/<class>/ or test/<class>/".into(),
        ));
    };
    let part = part_of(part).ok_or_else(|| {
        layout(format!(
            "image is under '{part}/{class}/', expected train/<class>/ or test/<class>/"
        ))
    })?;
    let label = label_of(class).ok_or_else(|| {
        layout(format!(
            "class folder '{class}' is not a CIFAR-10 class (expected one of {})",
            CLASSES.join(", ")
        ))
    })?;
    Ok(Some((part, label, file.clone(), format)))
}

/// Lists the images of a folder tree `root/train/<class>/*` and `root/test/<class>/*`.
fn walk_folder(root: &Path) -> Result<(Vec<Entry>, usize), DataError> {
    let mut entries = Vec::new();
    let mut skipped = 0;
    for part_name in ["train", "test"] {
        let part_dir = root.join(part_name);
        if !part_dir.is_dir() {
            return Err(DataError::Missing {
                path: part_dir,
                what: "image folder train/ or test/",
            });
        }
        let classes = std::fs::read_dir(&part_dir).map_err(|e| DataError::io(&part_dir, e))?;
        for class in classes {
            let class = class.map_err(|e| DataError::io(&part_dir, e))?;
            let class_dir = class.path();
            if !class_dir.is_dir() {
                skipped += 1;
                continue;
            }
            let files = std::fs::read_dir(&class_dir).map_err(|e| DataError::io(&class_dir, e))?;
            for file in files {
                let file = file.map_err(|e| DataError::io(&class_dir, e))?;
                let path = file.path();
                let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
                match classify(&rel, &path)? {
                    Some((part, label, file, format)) if path.is_file() => entries.push(Entry {
                        part,
                        label,
                        name: path.clone(),
                        file,
                        format,
                        bytes: Bytes::File(path),
                    }),
                    _ => skipped += 1,
                }
            }
        }
    }
    Ok((entries, skipped))
}

/// A reader that hashes what passes through it (the archive's SHA-256, for the manifest).
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// Streams a `.tar.gz` archive and keeps its image members in memory.
fn read_archive(
    path: &Path,
    progress: &ProgressBar,
) -> Result<(Vec<Entry>, usize, String), DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut reader = HashingReader {
        inner: BufReader::new(file),
        hasher: Sha256::new(),
    };
    let mut entries = Vec::new();
    let mut skipped = 0;
    {
        let bad = |e: std::io::Error| DataError::Archive {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let mut archive = tar::Archive::new(GzDecoder::new(&mut reader));
        for member in archive.entries().map_err(bad)? {
            let mut member = member.map_err(bad)?;
            if !member.header().entry_type().is_file() {
                continue;
            }
            let rel = member.path().map_err(bad)?.into_owned();
            let shown = PathBuf::from(format!("{}:{}", path.display(), rel.display()));
            match classify(&rel, &shown)? {
                Some((part, label, file, format)) => {
                    // The header's size is untrusted: cap the up-front allocation.
                    let mut bytes = Vec::with_capacity(member.size().min(1 << 20) as usize);
                    member
                        .read_to_end(&mut bytes)
                        .map_err(|e| DataError::Archive {
                            path: shown.clone(),
                            message: e.to_string(),
                        })?;
                    entries.push(Entry {
                        part,
                        label,
                        name: shown,
                        file,
                        format,
                        bytes: Bytes::Memory(bytes),
                    });
                    if entries.len() % 1000 == 0 {
                        progress.set_message(format!("reading archive: {} images", entries.len()));
                    }
                }
                None => skipped += 1,
            }
        }
    }
    // Drain the rest of the stream (tar padding) so the hash covers the whole file.
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| DataError::io(path, e))?;
    let sha = hex(&reader.hasher.finalize());
    Ok((entries, skipped, sha))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes one image into CHW bytes, checking it is 32x32 RGB.
fn decode(entry: &Entry) -> Result<[u8; IMAGE_BYTES], DataError> {
    let owned;
    let bytes: &[u8] = match &entry.bytes {
        Bytes::Memory(b) => b,
        Bytes::File(p) => {
            owned = std::fs::read(p).map_err(|e| DataError::io(p, e))?;
            &owned
        }
    };
    let format = match entry.format {
        Format::Png => image::ImageFormat::Png,
        Format::Jpeg => image::ImageFormat::Jpeg,
    };
    let img =
        image::load_from_memory_with_format(bytes, format).map_err(|e| DataError::Decode {
            path: entry.name.clone(),
            message: e.to_string(),
        })?;
    let (w, h) = (img.width(), img.height());
    let rgb = match img {
        image::DynamicImage::ImageRgb8(rgb) if w as usize == SIDE && h as usize == SIDE => rgb,
        other => {
            return Err(DataError::ImageShape {
                path: entry.name.clone(),
                width: w,
                height: h,
                color: format!("{:?}", other.color()),
            })
        }
    };
    let mut out = [0u8; IMAGE_BYTES];
    let plane = SIDE * SIDE;
    for (i, px) in rgb.as_raw().chunks_exact(3).enumerate() {
        for (c, &v) in px.iter().enumerate() {
            if let Some(slot) = out.get_mut(c * plane + i) {
                *slot = v;
            }
        }
    }
    Ok(out)
}

/// Reads and decodes an image tree (folder or `.tar.gz`) into memory. Training images are
/// sorted by (class, file name) and then shuffled with `seed`; test images stay sorted.
pub fn import_to_memory(
    source: &Path,
    seed: u64,
    progress: &ProgressBar,
) -> Result<(Cifar10, ImportManifest), DataError> {
    let is_archive = source.is_file();
    let (mut entries, skipped, sha) = if is_archive {
        progress.set_message("reading archive");
        let (e, s, sha) = read_archive(source, progress)?;
        (e, s, Some(sha))
    } else if source.is_dir() {
        let (e, s) = walk_folder(source)?;
        (e, s, None)
    } else {
        return Err(DataError::Missing {
            path: source.to_path_buf(),
            what: "image folder or .tar.gz archive",
        });
    };
    for part in [Part::Train, Part::Test] {
        if !entries.iter().any(|e| e.part == part) {
            let sub = if part == Part::Train { "train" } else { "test" };
            return Err(DataError::Layout {
                path: source.to_path_buf(),
                message: format!("no image under {sub}/<class>/"),
            });
        }
    }
    entries.sort_by(|a, b| (a.part, a.label, &a.file).cmp(&(b.part, b.label, &b.file)));
    let n_train = entries.iter().filter(|e| e.part == Part::Train).count();
    if let Some(train) = entries.get_mut(..n_train) {
        train.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    }

    progress.set_length(entries.len() as u64);
    progress.set_position(0);
    progress.set_message("decoding");
    let decoded: Vec<[u8; IMAGE_BYTES]> = entries
        .par_iter()
        .map(|e| {
            let r = decode(e);
            progress.inc(1);
            r
        })
        .collect::<Result<_, _>>()?;

    let mut set = Cifar10::default();
    for (entry, image) in entries.iter().zip(&decoded) {
        let split: &mut Split = match entry.part {
            Part::Train => &mut set.train,
            Part::Test => &mut set.test,
        };
        split.push(image, entry.label);
    }
    let jpeg = entries.iter().filter(|e| e.format == Format::Jpeg).count();
    let lossy = jpeg > 0;
    let mut note = String::from(
        "Imported from an image tree: the official order of data_batch_1..5 cannot be \
         recovered, so training images were shuffled with the recorded seed.",
    );
    if lossy {
        note.push_str(
            " Source images are JPEG (lossy): pixels differ slightly from the official binary \
             set and accuracies are not comparable with published numbers.",
        );
    }
    let manifest = ImportManifest {
        source: source.display().to_string(),
        source_kind: if is_archive { "tar.gz" } else { "folder" }.to_string(),
        source_sha256: sha,
        seed,
        order: "train: sorted by (class, file name), then shuffled with rand_chacha \
                ChaCha8Rng::seed_from_u64(seed); test: sorted by (class, file name)"
            .to_string(),
        train: set.train.len(),
        test: set.test.len(),
        train_per_class: set.train.class_counts(),
        test_per_class: set.test.class_counts(),
        png: entries.len() - jpeg,
        jpeg,
        skipped,
        lossy,
        note,
    };
    Ok((set, manifest))
}

/// Imports an image tree into `out` in the official binary layout plus `import.json`. Each
/// file is written atomically; the manifest is written last.
pub fn import(
    source: &Path,
    out: &Path,
    seed: u64,
    progress: &ProgressBar,
) -> Result<ImportManifest, DataError> {
    let (set, manifest) = import_to_memory(source, seed, progress)?;
    std::fs::create_dir_all(out).map_err(|e| DataError::io(out, e))?;
    // A manifest vouches for the batches beside it: drop an older one before they change, so
    // an interrupted write never leaves a manifest over a mix of old and new batches.
    match std::fs::remove_file(out.join(MANIFEST_FILE)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(DataError::io(out.join(MANIFEST_FILE), e))
        }
        _ => {}
    }
    progress.set_message("writing");
    set.save(out)?;
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| DataError::Layout {
        path: out.join(MANIFEST_FILE),
        message: e.to_string(),
    })?;
    atomic_write(&out.join(MANIFEST_FILE), |w| w.write_all(&json))?;
    Ok(manifest)
}

/// Per-class counts as a map from class name, for display.
pub fn named_counts(counts: &[usize; NUM_CLASSES]) -> BTreeMap<&'static str, usize> {
    CLASSES
        .iter()
        .copied()
        .zip(counts.iter().copied())
        .collect()
}
