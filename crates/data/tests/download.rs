//! The resumable downloader against a local HTTP server: plain download, resume after an
//! interrupted transfer, checksum mismatch, MD5, skipping a present file, HTTP errors, and the
//! CIFAR-10 fetch-and-unpack path on a tarball the test builds.

mod common;

use std::time::Duration;

use common::{pattern_split, Reply, Server, TempDir};
use md5::{Digest as _, Md5};
use nb1s1_data::download::part_path;
use nb1s1_data::fetch::{fetch_cifar10, fetch_nb101, CIFAR10_ARCHIVE};
use nb1s1_data::{download, Checksum, Cifar10, DataError, DownloadOptions, DownloadOutcome};
use sha2::Sha256;

fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 131 % 256) as u8).collect()
}

fn sha(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn md5(data: &[u8]) -> String {
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn quiet(retries: u32) -> DownloadOptions {
    DownloadOptions {
        retries,
        progress: false,
        timeout: Duration::from_secs(10),
    }
}

#[test]
fn downloads_and_verifies_sha256() {
    let data = body(100_000);
    let server = Server::start(data.clone(), vec![Reply::Normal]);
    let dir = TempDir::new("dl-ok");
    let dest = dir.path().join("file.bin");
    let url = format!("{}/file.bin", server.url);
    let outcome = download(&url, &dest, &Checksum::Sha256(sha(&data)), &quiet(0)).unwrap();
    assert_eq!(
        outcome,
        DownloadOutcome::Downloaded {
            bytes: 100_000,
            resumed_from: 0
        }
    );
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert!(!part_path(&dest).exists());
    assert_eq!(server.join(), vec![None]);
    // A second call finds the verified file and fetches nothing (no server is listening).
    let again = download(&url, &dest, &Checksum::Sha256(sha(&data)), &quiet(0)).unwrap();
    assert_eq!(again, DownloadOutcome::AlreadyPresent);
}

#[test]
fn interrupted_transfer_resumes_with_range() {
    let data = body(200_000);
    let server = Server::start(data.clone(), vec![Reply::CutAfter(70_000), Reply::Normal]);
    let dir = TempDir::new("dl-resume");
    let dest = dir.path().join("file.bin");
    let url = format!("{}/file.bin", server.url);
    let check = Checksum::Sha256(sha(&data));

    let err = download(&url, &dest, &check, &quiet(0)).unwrap_err();
    match &err {
        DataError::Interrupted {
            received, expected, ..
        } => {
            assert_eq!(*received, 70_000);
            assert_eq!(*expected, 200_000);
        }
        other => panic!("expected Interrupted, got {other}"),
    }
    assert!(!dest.exists());
    assert_eq!(std::fs::metadata(part_path(&dest)).unwrap().len(), 70_000);

    let outcome = download(&url, &dest, &check, &quiet(0)).unwrap();
    assert_eq!(
        outcome,
        DownloadOutcome::Downloaded {
            bytes: 200_000,
            resumed_from: 70_000
        }
    );
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert_eq!(server.join(), vec![None, Some("bytes=70000-".to_string())]);
}

#[test]
fn retries_resume_within_one_call() {
    let data = body(50_000);
    let server = Server::start(
        data.clone(),
        vec![
            Reply::CutAfter(10_000),
            Reply::CutAfter(15_000),
            Reply::Normal,
        ],
    );
    let dir = TempDir::new("dl-retry");
    let dest = dir.path().join("file.bin");
    let url = format!("{}/file.bin", server.url);
    download(&url, &dest, &Checksum::Sha256(sha(&data)), &quiet(2)).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert_eq!(
        server.join(),
        vec![
            None,
            Some("bytes=10000-".to_string()),
            Some("bytes=25000-".to_string())
        ]
    );
}

#[test]
fn wrong_checksum_is_reported_and_moved_aside() {
    let data = body(30_000);
    let server = Server::start(data.clone(), vec![Reply::Normal]);
    let dir = TempDir::new("dl-bad");
    let dest = dir.path().join("file.bin");
    let url = format!("{}/file.bin", server.url);
    let wrong = "0".repeat(64);
    let err = download(&url, &dest, &Checksum::Sha256(wrong.clone()), &quiet(0)).unwrap_err();
    let DataError::Checksum {
        expected,
        actual,
        moved_to,
        algorithm,
        ..
    } = &err
    else {
        panic!("expected Checksum, got {err}");
    };
    assert_eq!(*algorithm, "SHA-256");
    assert_eq!(expected, &wrong);
    assert_eq!(actual, &sha(&data));
    let text = err.to_string();
    assert!(
        text.contains(&wrong) && text.contains(&sha(&data)),
        "{text}"
    );
    // Nothing final, nothing partial, the bytes kept aside for inspection.
    assert!(!dest.exists());
    assert!(!part_path(&dest).exists());
    assert_eq!(std::fs::read(moved_to).unwrap(), data);
    server.join();
}

#[test]
fn md5_checksum_is_accepted() {
    let data = body(12_345);
    let server = Server::start(data.clone(), vec![Reply::Normal]);
    let dir = TempDir::new("dl-md5");
    let dest = dir.path().join("file.bin");
    let url = format!("{}/file.bin", server.url);
    download(
        &url,
        &dest,
        &Checksum::Md5(md5(&data).to_uppercase()),
        &quiet(0),
    )
    .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    server.join();
}

#[test]
fn http_404_is_an_error_without_retry() {
    let server = Server::start(Vec::new(), vec![Reply::Status(404)]);
    let dir = TempDir::new("dl-404");
    let dest = dir.path().join("file.bin");
    let url = format!("{}/file.bin", server.url);
    let err = download(&url, &dest, &Checksum::None, &quiet(3)).unwrap_err();
    assert!(matches!(err, DataError::Http { .. }), "{err}");
    assert!(err.to_string().contains("404"), "{err}");
    assert_eq!(server.join().len(), 1);
}

#[test]
fn complete_part_file_is_finished_after_416() {
    let data = body(4_000);
    let server = Server::start(data.clone(), vec![Reply::Normal]);
    let dir = TempDir::new("dl-416");
    let dest = dir.path().join("file.bin");
    std::fs::write(part_path(&dest), &data).unwrap();
    let url = format!("{}/file.bin", server.url);
    download(&url, &dest, &Checksum::Sha256(sha(&data)), &quiet(0)).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert_eq!(server.join(), vec![Some("bytes=4000-".to_string())]);
}

#[test]
fn nb101_fetch_uses_the_published_sha256() {
    // The served bytes are not the real file, so the published checksum must reject them.
    let data = body(1_000);
    let server = Server::start(data, vec![Reply::Normal]);
    let dir = TempDir::new("dl-nb101");
    let err = fetch_nb101(false, &format!("{}/", server.url), dir.path(), &quiet(0)).unwrap_err();
    let DataError::Checksum { expected, .. } = &err else {
        panic!("expected Checksum, got {err}");
    };
    assert_eq!(
        expected,
        "4c39c3936e36a85269881d659e44e61a245babcb72cb374eacacf75d0e5f4fd1"
    );
    assert!(!dir.path().join("nasbench_only108.tfrecord").exists());
    server.join();
}

/// A `cifar-10-binary.tar.gz` in the official layout, with a small synthetic set.
fn official_tarball(set: &Cifar10) -> Vec<u8> {
    let stage = TempDir::new("stage");
    let inner = stage.path().join("cifar-10-batches-bin");
    std::fs::create_dir_all(&inner).unwrap();
    set.save(&inner).unwrap();
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    tar.append_dir_all("cifar-10-batches-bin", &inner).unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

#[test]
fn cifar10_fetch_downloads_verifies_and_unpacks() {
    let set = Cifar10 {
        train: pattern_split(25),
        test: pattern_split(7),
    };
    let archive = official_tarball(&set);
    let server = Server::start(archive.clone(), vec![Reply::Normal]);
    let dir = TempDir::new("dl-cifar");
    let batches = fetch_cifar10(
        &server.url,
        dir.path(),
        &Checksum::Md5(md5(&archive)),
        &quiet(0),
    )
    .unwrap();
    assert_eq!(batches, dir.path().join("cifar-10-batches-bin"));
    assert_eq!(Cifar10::load(dir.path()).unwrap(), set);
    assert!(dir.path().join(CIFAR10_ARCHIVE).is_file());
    assert_eq!(server.join(), vec![None]);
    // Already unpacked: a second fetch needs no server.
    let again = fetch_cifar10("http://127.0.0.1:9", dir.path(), &Checksum::None, &quiet(0));
    assert_eq!(again.unwrap(), batches);
}

#[test]
fn refused_connection_is_an_http_error_naming_the_url_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = TempDir::new("dl-refused");
    let url = format!("http://127.0.0.1:{port}/file.bin");
    let err = download(
        &url,
        &dir.path().join("file.bin"),
        &Checksum::None,
        &quiet(0),
    )
    .unwrap_err();
    assert!(matches!(err, DataError::Http { .. }), "{err}");
    assert_eq!(err.to_string().matches(&url).count(), 1, "{err}");
}

#[test]
fn server_ignoring_range_restarts_from_zero() {
    let data = body(20_000);
    let server = Server::start(data.clone(), vec![Reply::IgnoreRange]);
    let dir = TempDir::new("dl-norange");
    let dest = dir.path().join("file.bin");
    // A stale part file with wrong bytes: a 200 answer must replace it, not extend it.
    std::fs::write(part_path(&dest), vec![0xAB; 5_000]).unwrap();
    let url = format!("{}/file.bin", server.url);
    let outcome = download(&url, &dest, &Checksum::Sha256(sha(&data)), &quiet(0)).unwrap();
    assert_eq!(
        outcome,
        DownloadOutcome::Downloaded {
            bytes: 20_000,
            resumed_from: 0
        }
    );
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert_eq!(server.join(), vec![Some("bytes=5000-".to_string())]);
}
