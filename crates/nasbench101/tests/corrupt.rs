//! Bad input gets typed errors naming the file and the record index / byte offset, never a
//! panic: flipped bytes, truncation, broken JSON, bad base64, bad protobuf, missing files,
//! corrupt stores. Plus a proptest of the record parser on arbitrary and mutated bytes.

use nasbench101::proto::{EvaluationData, ModelMetrics};
use nasbench101::record::{decode_payload, decode_raw, encode_mime_base64, PayloadError};
use nasbench101::tfrecord::{write_record, FrameError, Frames};
use nasbench101::{ModelHash, Nb101, Nb101Error, OpenOptions};
use nb1s1_synthetic::{generate, GenerateConfig, ONLY108_BUDGETS};
use proptest::prelude::*;
use std::path::Path;

fn sample_file(models: usize) -> Vec<u8> {
    let cfg = GenerateConfig {
        models,
        budgets: ONLY108_BUDGETS.to_vec(),
        seed: 11,
        ..GenerateConfig::default()
    };
    let mut out = Vec::new();
    generate(&mut out, &cfg, &mut |_| {}).unwrap();
    out
}

fn open_bytes(bytes: &[u8]) -> Result<Nb101, Nb101Error> {
    Nb101::from_tfrecord_bytes(
        bytes,
        Path::new("bad.tfrecord"),
        OpenOptions::default(),
        None,
    )
}

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_record(&mut out, payload).unwrap();
    out
}

fn metrics() -> ModelMetrics {
    let e = EvaluationData {
        current_epoch: 1.0,
        training_time: 2.0,
        train_accuracy: 0.5,
        validation_accuracy: 0.25,
        test_accuracy: 0.125,
        checkpoint_path: String::new(),
    };
    ModelMetrics {
        evaluation_data: vec![e.clone(), e.clone(), e],
        trainable_parameters: 1234,
        total_time: 9.0,
    }
}

fn payload_with(b64: &str) -> Vec<u8> {
    format!(
        "[\"043721b9c7fe8c5fad811d47d83132ec\", 108, \"0100\", \"input,output\", \"{}\"]",
        b64.replace('\n', "\\n")
    )
    .into_bytes()
}

#[test]
fn flipped_payload_byte_is_a_crc_error_with_record_index() {
    let mut bytes = sample_file(3);
    // Record 0 is the marker; find record 2's offset.
    let offsets: Vec<u64> = Frames::new(&bytes, true)
        .map(|f| f.unwrap().offset)
        .collect();
    let at = offsets[2] as usize + 30;
    bytes[at] ^= 0x01;
    let err = open_bytes(&bytes).err().unwrap();
    match &err {
        Nb101Error::Frame {
            record,
            offset,
            error: FrameError::PayloadCrc { .. },
            ..
        } => {
            assert_eq!(*record, 2);
            assert_eq!(*offset, offsets[2]);
        }
        e => panic!("unexpected {e}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("bad.tfrecord") && text.contains("record 2"),
        "{text}"
    );
    // Without payload verification the broken JSON/base64/protobuf is still caught or the
    // value silently differs; either way no panic.
    let _ = Nb101::from_tfrecord_bytes(
        &bytes,
        Path::new("x"),
        OpenOptions {
            verify_payload_crc: false,
            ..OpenOptions::default()
        },
        None,
    );
}

#[test]
fn flipped_length_byte_and_truncation() {
    let bytes = sample_file(2);
    let mut flipped = bytes.clone();
    flipped[0] ^= 0x40;
    assert!(matches!(
        open_bytes(&flipped),
        Err(Nb101Error::Frame {
            record: 0,
            offset: 0,
            error: FrameError::LengthCrc { .. },
            ..
        })
    ));
    let cut = &bytes[..bytes.len() - 7];
    match open_bytes(cut) {
        Err(Nb101Error::Frame {
            record,
            error: FrameError::Truncated { .. },
            ..
        }) => assert_eq!(record, 6),
        other => panic!("unexpected {:?}", other.err()),
    }
    // A zero-length file is valid and empty.
    let empty = open_bytes(&[]).unwrap();
    assert_eq!(empty.len(), 0);
    assert!(empty.epochs().is_empty());
}

#[test]
fn broken_payloads_get_typed_errors() {
    let good = payload_with(&encode_mime_base64(&metrics().encode()));
    assert!(decode_payload(&good).is_ok());
    // 4 elements.
    let four = b"[\"043721b9c7fe8c5fad811d47d83132ec\", 108, \"0100\", \"input,output\"]";
    assert!(matches!(
        decode_payload(four),
        Err(PayloadError::Json { .. })
    ));
    // 6 elements.
    let mut six = good.clone();
    six.truncate(six.len() - 1);
    six.extend_from_slice(b", 7]");
    assert_eq!(
        decode_payload(&six).unwrap_err(),
        PayloadError::Arity { found: 6 }
    );
    // Bad base64 character.
    let bad = payload_with("Ci0JAA*A\n");
    assert!(matches!(decode_payload(&bad), Err(PayloadError::Base64(_))));
    // Truncated protobuf.
    let bytes = metrics().encode();
    let bad = payload_with(&encode_mime_base64(&bytes[..20]));
    assert!(matches!(
        decode_payload(&bad),
        Err(PayloadError::Protobuf(_))
    ));
    // Bad hash, bad epochs, bad matrix.
    let bad = String::from_utf8(good.clone())
        .unwrap()
        .replace("043721b9", "zz3721b9");
    assert!(matches!(
        decode_payload(bad.as_bytes()),
        Err(PayloadError::Hash(_))
    ));
    let bad = String::from_utf8(good.clone())
        .unwrap()
        .replace(", 108,", ", -1,");
    assert_eq!(
        decode_payload(bad.as_bytes()).unwrap_err(),
        PayloadError::Epochs
    );
    let bad = String::from_utf8(good.clone())
        .unwrap()
        .replace("\"0100\"", "\"010\"");
    assert!(matches!(
        decode_payload(bad.as_bytes()),
        Err(PayloadError::Matrix(_))
    ));
    // Not JSON at all.
    assert!(matches!(
        decode_payload(b"{}"),
        Err(PayloadError::Json { .. })
    ));
    // Through the reader: the error names file, record and offset.
    let mut file = framed(&good);
    file.extend(framed(&payload_with("@@@@")));
    let err = open_bytes(&file).err().unwrap();
    let text = err.to_string();
    assert!(text.contains("bad.tfrecord: record 1 at byte"), "{text}");
    assert!(text.contains("base64"), "{text}");
}

#[test]
fn protobuf_any_order_and_unknown_fields() {
    // total_time, params, an unknown varint field 9, an unknown fixed32 field 10, then
    // three evaluations with fields in reverse order.
    let mut pb = vec![0x19];
    pb.extend_from_slice(&7.5f64.to_le_bytes());
    pb.extend_from_slice(&[0x10, 0x05, 0x48, 0x96, 0x01, 0x55, 1, 2, 3, 4]);
    for k in 0..3u8 {
        let mut sub = Vec::new();
        for (tag, v) in [
            (0x29u8, 0.3),
            (0x21, 0.2),
            (0x19, 0.1),
            (0x11, f64::from(k)),
            (0x09, 0.0),
        ] {
            sub.push(tag);
            sub.extend_from_slice(&f64::to_le_bytes(v));
        }
        pb.push(0x0a);
        pb.push(sub.len() as u8);
        pb.extend(sub);
    }
    let m = ModelMetrics::decode(&pb).unwrap();
    assert_eq!(m.total_time, 7.5);
    assert_eq!(m.trainable_parameters, 5);
    assert_eq!(m.evaluation_data.len(), 3);
    assert_eq!(m.evaluation_data[2].training_time, 2.0);
    assert_eq!(m.evaluation_data[1].test_accuracy, 0.3);
    // Missing evaluation_data[2]: the project's own error (official: IndexError).
    let mut two = metrics();
    two.evaluation_data.pop();
    let file = framed(&payload_with(&encode_mime_base64(&two.encode())));
    let err = open_bytes(&file).err().unwrap();
    assert!(err.to_string().contains("at least 3"), "{err}");
    // A wrong wire type for a known field.
    // A wrong wire type for a known field: trainable_parameters (field 2) as fixed64.
    assert!(matches!(
        ModelMetrics::decode(&[0x11, 0, 0, 0, 0, 0, 0, 0, 0]),
        Err(nasbench101::proto::ProtoError::WrongWireType { field: 2, .. })
    ));
}

#[test]
fn missing_file_and_unknown_hash() {
    let err = Nb101::open("/nonexistent/nb101.tfrecord").err().unwrap();
    assert!(matches!(err, Nb101Error::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/nb101.tfrecord"));
    let db = open_bytes(&sample_file(2)).unwrap();
    let h: ModelHash = "ffffffffffffffffffffffffffffffff".parse().unwrap();
    assert!(db.model(&h).is_none());
}

#[test]
fn corrupt_stores_are_refused() {
    let db = open_bytes(&sample_file(50)).unwrap();
    let good = db.store_bytes().to_vec();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.nb101");
    let try_open = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        Nb101::open(&path)
    };
    assert!(try_open(&good).is_ok());
    // Truncated.
    let err = try_open(&good[..good.len() - 3]).err().unwrap();
    assert!(err.to_string().contains("truncated"), "{err}");
    let err = try_open(&good[..100]).err().unwrap();
    assert!(err.to_string().contains("truncated header"), "{err}");
    // Trailing garbage.
    let mut longer = good.clone();
    longer.push(0);
    assert!(try_open(&longer).is_err());
    // Header byte flipped.
    let mut bad = good.clone();
    bad[30] ^= 1;
    let err = try_open(&bad).err().unwrap();
    assert!(err.to_string().contains("header checksum"), "{err}");
    // Not a store and not a TFRecord.
    let err = try_open(b"hello, this is a text file and not NB-101 data at all\n")
        .err()
        .unwrap();
    assert!(matches!(err, Nb101Error::UnknownFormat { .. }), "{err}");
    // Wrong version.
    let mut bad = good.clone();
    bad[16] = 9;
    assert!(try_open(&bad)
        .err()
        .unwrap()
        .to_string()
        .contains("version"));
    // Section offsets from the header: models at byte 80, data at byte 104.
    let offset_at = |at: usize| u64::from_le_bytes(good[at..at + 8].try_into().unwrap()) as usize;
    let (models_off, data_off) = (offset_at(80), offset_at(104));
    assert!(data_off < models_off && models_off < good.len());
    // Model table byte flipped: caught at open.
    let mut bad = good.clone();
    bad[models_off + 5] ^= 1;
    let err = try_open(&bad).err().unwrap();
    assert!(err.to_string().contains("metadata checksum"), "{err}");
    // Data byte flipped: caught by verify (and by open with verify_store_data).
    let mut bad = good.clone();
    bad[data_off + 2] ^= 1;
    let st = try_open(&bad).unwrap();
    let err = st.verify().err().unwrap();
    assert!(err.to_string().contains("data checksum"), "{err}");
    let strict = OpenOptions {
        verify_store_data: true,
        ..OpenOptions::default()
    };
    assert!(Nb101::open_with(&path, strict, None).is_err());
}

fn one_record_payload() -> Vec<u8> {
    payload_with(&encode_mime_base64(&metrics().encode()))
}

proptest! {
    // PROPTEST_CASES overrides the default of 2000 cases for long runs.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = open_bytes(&bytes);
        let mut s = Vec::new();
        let mut p = Vec::new();
        let _ = decode_raw(&bytes, &mut s, &mut p);
        let _ = ModelMetrics::decode(&bytes);
    }

    #[test]
    fn mutated_records_never_panic(
        pos in 0usize..400,
        val in any::<u8>(),
        cut in 0usize..400,
    ) {
        let payload = one_record_payload();
        let mut m = payload.clone();
        let i = pos % m.len();
        m[i] = val;
        m.truncate(m.len() - cut % m.len());
        let _ = decode_payload(&m);
        let mut raw = framed(&payload);
        let j = pos % raw.len();
        raw[j] = val;
        let _ = open_bytes(&raw);
        // Re-framed so the CRCs pass and the parser sees the damage. After an intact record the
        // damaged one may share its head (fields read once); it must still be judged exactly
        // as when it comes alone.
        let alone = open_bytes(&framed(&m));
        let mut pair_bytes = framed(&payload);
        pair_bytes.extend(framed(&m));
        let pair = open_bytes(&pair_bytes);
        match (&alone, &pair) {
            (Ok(a), Ok(b)) => {
                let m0 = a.model_at(0).unwrap();
                let (hash, epochs) = (m0.hash(), a.epochs()[0]);
                let last = |db: &Nb101| db.model(&hash).unwrap().repeats(epochs).unwrap().pop();
                prop_assert_eq!(last(a), last(b));
            }
            (Err(a), Err(b)) => {
                prop_assert_eq!(record_and_cause(a), (Some(0), cause(a)));
                prop_assert_eq!(record_and_cause(b), (Some(1), cause(a)));
            }
            _ => prop_assert!(false, "alone: {:?}, after an intact record: {:?}",
                alone.as_ref().err().map(|e| e.to_string()), pair.as_ref().err().map(|e| e.to_string())),
        }
    }
}

/// The record index an error names, and what it says is wrong.
fn record_and_cause(e: &Nb101Error) -> (Option<u64>, String) {
    let record = match e {
        Nb101Error::Frame { record, .. }
        | Nb101Error::Payload { record, .. }
        | Nb101Error::Record { record, .. } => Some(*record),
        _ => None,
    };
    (record, cause(e))
}

fn cause(e: &Nb101Error) -> String {
    match e {
        Nb101Error::Frame { error, .. } => error.to_string(),
        Nb101Error::Payload { error, .. } => error.to_string(),
        Nb101Error::Record { error, .. } => error.to_string(),
        other => other.to_string(),
    }
}

/// Files of many segments go through the pipeline (segments read in parallel, merged in file
/// order while the next step's are read): the error reported is still the first bad record in
/// file order, even when a later segment is broken too, and an intact file of that size parses
/// with every record.
#[test]
fn first_error_in_file_order_across_parse_steps() {
    let clean = sample_file(30_000); // 90,000 records + the marker: about 110 segments.
    let offsets: Vec<u64> = Frames::new(&clean, true)
        .map(|f| f.unwrap().offset)
        .collect();
    assert!(
        offsets.len() > 2 * 32_768 + 1000,
        "{} records",
        offsets.len()
    );
    let db = open_bytes(&clean).unwrap();
    assert_eq!(db.len(), 30_000);
    assert_eq!(db.num_datapoints(), 90_000);

    // Two flipped payload bytes, steps apart: the first is reported.
    let first = 40_000;
    let mut bytes = clean.clone();
    bytes[offsets[first] as usize + 30] ^= 0x01;
    bytes[offsets[80_000] as usize + 30] ^= 0x01;
    match open_bytes(&bytes).err().unwrap() {
        Nb101Error::Frame {
            record,
            error: FrameError::PayloadCrc { .. },
            ..
        } => assert_eq!(record, first as u64),
        e => panic!("unexpected {e}"),
    }

    // A broken payload (bad JSON) and a truncated end: the payload error, found by one task,
    // comes first; the truncation, found by another, is not reported.
    let second = 70_000;
    let mut bytes = clean.clone();
    let at = offsets[second] as usize + 12;
    bytes[at] = b'{';
    let fixed = nasbench101::tfrecord::masked_crc(&bytes[at..offsets[second + 1] as usize - 4]);
    let crc_at = offsets[second + 1] as usize - 4;
    bytes[crc_at..crc_at + 4].copy_from_slice(&fixed.to_le_bytes());
    bytes.truncate(bytes.len() - 7);
    match open_bytes(&bytes).err().unwrap() {
        Nb101Error::Payload { record, .. } => assert_eq!(record, second as u64),
        e => panic!("unexpected {e}"),
    }
}

/// A repeat whose bytes equal the previous record's up to the base64 text reuses its fields;
/// the rest of it is still read in full: another line width decodes the same, and broken
/// base64 or protobuf is reported at the repeat's own record index.
#[test]
fn repeats_sharing_a_head_are_still_checked_in_full() {
    use base64::Engine;
    let b64 = encode_mime_base64(&metrics().encode());
    let mut other_metrics = metrics();
    other_metrics.evaluation_data[2].test_accuracy = 0.75;
    // 64-character lines instead of 76: not the released layout, valid all the same.
    let plain = base64::engine::general_purpose::STANDARD.encode(other_metrics.encode());
    let narrow: String = plain
        .as_bytes()
        .chunks(64)
        .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
        .collect();
    let mut bytes = framed(&payload_with(&b64));
    bytes.extend(framed(&payload_with(&narrow)));
    let db = open_bytes(&bytes).unwrap();
    let m = db
        .model(&"043721b9c7fe8c5fad811d47d83132ec".parse().unwrap())
        .unwrap();
    let reps = m.repeats(108).unwrap();
    assert_eq!(reps.len(), 2);
    assert_eq!(reps[0].final_test_accuracy, 0.125);
    assert_eq!(reps[1].final_test_accuracy, 0.75);

    for broken in [
        b64.replacen('A', "*", 1),                      // not base64
        encode_mime_base64(&metrics().encode()[..100]), // protobuf cut short
    ] {
        let mut bytes = framed(&payload_with(&b64));
        bytes.extend(framed(&payload_with(&b64)));
        bytes.extend(framed(&payload_with(&broken)));
        match open_bytes(&bytes) {
            Err(Nb101Error::Payload { record, .. }) => assert_eq!(record, 2),
            Err(other) => panic!("expected a payload error at record 2, got {other}"),
            Ok(_) => panic!("a broken repeat was accepted"),
        }
    }
}

/// A later record of a model already seen is checked like the first: a broken adjacency is an
/// error at its own index (the first record's fixed data is the one kept, as in the official
/// API, but a broken one is not silently skipped).
#[test]
fn a_repeat_with_a_broken_adjacency_is_an_error() {
    let b64 = encode_mime_base64(&metrics().encode());
    let good = payload_with(&b64);
    let text = String::from_utf8(good.clone()).unwrap();
    let broken = text.replacen("\"0100\"", "\"01x0\"", 1).into_bytes();
    let mut bytes = framed(&good);
    bytes.extend(framed(&broken));
    match open_bytes(&bytes) {
        Err(Nb101Error::Payload { record, error, .. }) => {
            assert_eq!(record, 1);
            assert!(error.to_string().contains("other than 0 and 1"), "{error}");
        }
        Err(e) => panic!("expected a payload error at record 1, got {e}"),
        Ok(_) => panic!("a broken adjacency in a repeat was accepted"),
    }
}
