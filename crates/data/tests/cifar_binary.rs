//! The official binary format: round trip, both folder layouts, and errors that name the file
//! and the record.

mod common;

use common::{pattern_split, TempDir};
use nb1s1_data::cifar::{parse_batch, read_batch, write_batch, RECORD_BYTES, TRAIN_FILES};
use nb1s1_data::{Cifar10, DataError, Split};

fn small_set() -> Cifar10 {
    Cifar10 {
        train: pattern_split(23),
        test: pattern_split(9),
    }
}

#[test]
fn save_then_load_round_trips() {
    let dir = TempDir::new("roundtrip");
    let set = small_set();
    set.save(dir.path()).unwrap();
    let loaded = Cifar10::load(dir.path()).unwrap();
    assert_eq!(loaded, set);
    // 23 images over five batches: 5, 5, 5, 5, 3 records.
    let sizes: Vec<u64> = TRAIN_FILES
        .iter()
        .map(|f| std::fs::metadata(dir.path().join(f)).unwrap().len())
        .collect();
    let r = RECORD_BYTES as u64;
    assert_eq!(sizes, vec![5 * r, 5 * r, 5 * r, 5 * r, 3 * r]);
    let meta = std::fs::read_to_string(dir.path().join("batches.meta.txt")).unwrap();
    assert_eq!(meta.lines().next(), Some("airplane"));
    assert_eq!(meta.lines().count(), 10);
}

#[test]
fn record_layout_is_label_then_rgb_planes() {
    let dir = TempDir::new("layout");
    let mut split = Split::default();
    let mut img = [0u8; 3072];
    img[0] = 11; // R at (0, 0)
    img[1024] = 22; // G at (0, 0)
    img[2048 + 32 + 1] = 33; // B at (1, 1)
    split.push(&img, 7);
    let path = dir.path().join("one.bin");
    write_batch(&path, &split).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 3073);
    assert_eq!(bytes[0], 7);
    assert_eq!(bytes[1], 11);
    assert_eq!(bytes[1 + 1024], 22);
    assert_eq!(bytes[1 + 2048 + 33], 33);
    assert_eq!(read_batch(&path).unwrap(), split);
}

#[test]
fn loads_the_official_nested_folder() {
    let dir = TempDir::new("nested");
    let inner = dir.path().join("cifar-10-batches-bin");
    std::fs::create_dir_all(&inner).unwrap();
    let set = small_set();
    set.save(&inner).unwrap();
    assert_eq!(Cifar10::load(dir.path()).unwrap(), set);
    assert_eq!(Cifar10::load(&inner).unwrap(), set);
}

#[test]
fn truncated_file_names_file_record_and_offset() {
    let dir = TempDir::new("trunc");
    small_set().save(dir.path()).unwrap();
    let victim = dir.path().join("data_batch_3.bin");
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() - 100]).unwrap();
    let err = Cifar10::load(dir.path()).unwrap_err();
    match &err {
        DataError::Truncated {
            path,
            record,
            offset,
            partial,
            ..
        } => {
            assert_eq!(path, &victim);
            assert_eq!(*record, 4);
            assert_eq!(*offset, 4 * 3073);
            assert_eq!(*partial, 3073 - 100);
        }
        other => panic!("expected Truncated, got {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("data_batch_3.bin") && text.contains("record 4"),
        "{text}"
    );
}

#[test]
fn bad_label_names_the_record() {
    let mut bytes = vec![0u8; 3 * RECORD_BYTES];
    bytes[2 * RECORD_BYTES] = 10;
    let err = parse_batch(std::path::Path::new("x.bin"), &bytes).unwrap_err();
    assert!(
        matches!(err, DataError::BadLabel { record: 2, label: 10, offset, .. } if offset == 2 * 3073),
        "{err}"
    );
}

#[test]
fn missing_file_is_named() {
    let dir = TempDir::new("missing");
    small_set().save(dir.path()).unwrap();
    std::fs::remove_file(dir.path().join("test_batch.bin")).unwrap();
    let err = Cifar10::load(dir.path()).unwrap_err();
    assert!(
        matches!(&err, DataError::Missing { path, .. } if path.ends_with("test_batch.bin")),
        "{err}"
    );
}

#[test]
fn empty_batch_file_is_an_empty_split() {
    let split = parse_batch(std::path::Path::new("e.bin"), &[]).unwrap();
    assert!(split.is_empty());
    assert_eq!(split.image(0), None);
}

#[test]
fn channel_means_and_class_counts() {
    let mut split = Split::default();
    let mut img = [0u8; 3072];
    img[..1024].fill(255);
    img[1024..2048].fill(51);
    split.push(&img, 3);
    split.push(&[0u8; 3072], 3);
    let m = split.channel_means();
    assert!((m[0] - 0.5).abs() < 1e-12 && (m[1] - 0.1).abs() < 1e-12 && m[2] == 0.0);
    assert_eq!(split.class_counts()[3], 2);
    assert_eq!(split.class_counts().iter().sum::<usize>(), 2);
}
