//! The restricted unpickler on pickles written by Python's pickle and numpy (tests/data,
//! made by make_pickles.py): arrays come back exactly, everything else is refused.

use std::path::PathBuf;

use record::unpickle::{load, Item, PickleError};
use record::{read_weights, RecordError};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn expected(space: u8) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(data("weights.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v[format!("space{space}")]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let mut flat = Vec::new();
            for row in a.as_array().unwrap() {
                flat.extend(row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()));
            }
            flat
        })
        .collect()
}

#[test]
fn numpy_arrays_come_back_exactly_in_every_protocol() {
    for space in 1..=3u8 {
        let want = expected(space);
        let mut files: Vec<String> = (3..=5).map(|p| format!("space{space}_p{p}.obj")).collect();
        if space == 3 {
            files.push("space3_numpy1.obj".into());
            files.push("space3_f64_fortran.obj".into());
        }
        for f in files {
            let arrays = read_weights(&data(&f)).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert_eq!(arrays.len(), want.len(), "{f}");
            for (a, w) in arrays.iter().zip(&want) {
                // float32 values widen exactly; JSON holds them as printed by tolist().
                let got: Vec<f32> = a.data.iter().map(|&x| x as f32).collect();
                let w32: Vec<f32> = w.iter().map(|&x| x as f32).collect();
                assert_eq!(got, w32, "{f}");
            }
            assert_eq!(arrays[0].shape, [if space == 3 { 5 } else { 4 }, 3], "{f}");
            assert_eq!(arrays[1].shape[0], 1, "{f}");
        }
    }
}

fn refused(name: &str) -> String {
    match read_weights(&data(name)) {
        Err(e @ RecordError::Pickle { .. }) => e.to_string(),
        other => panic!("{name}: expected a refused pickle, got {other:?}"),
    }
}

#[test]
fn malicious_pickles_are_refused_without_running_anything() {
    let marker = std::path::Path::new("/tmp/nb1s1-pwned");
    let _ = std::fs::remove_file(marker);
    let e = refused("evil_os_system.obj");
    assert!(e.contains("refused") && e.contains("posix.system"), "{e}");
    let e = refused("evil_eval.obj");
    assert!(e.contains("builtins.eval"), "{e}");
    assert!(refused("evil_dict.obj").contains("a dict"));
    assert!(refused("int_array.obj").contains("dtype \"i8\""));
    assert!(refused("object_array.obj").contains("refused"));
    assert!(!marker.exists(), "a pickle ran a command");
    // A hand-made GLOBAL of something else, in protocol 0 text form, and an object build.
    let global = b"cos\nsystem\n(S'echo pwned'\ntR.";
    let err = load(global).unwrap_err();
    assert!(
        matches!(&err, PickleError::Refused { what, .. } if what.contains("os.system")),
        "{err}"
    );
    let inst = b"(ios\nsystem\nS'x'\no.";
    assert!(matches!(load(inst), Err(PickleError::Refused { .. })));
}

#[test]
fn malformed_pickles_are_errors_not_panics() {
    assert!(refused("truncated.obj").contains("malformed"));
    for bytes in [
        &b""[..],
        b"\x80\x04.",
        b"\x80\x04(.",
        b"\x80\x04a.",
        b"\x80\x04h\x05.",
        b"\x80\x04B\xff\xff\xff\x7f",
        b"\x80\x04\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09.",
        b"\x80\x04)\x94b.",
    ] {
        assert!(load(bytes).is_err(), "{bytes:?}");
    }
    assert!(matches!(
        load(&vec![b'N'; record::unpickle::MAX_PICKLE_BYTES + 1]),
        Err(PickleError::TooLarge { .. })
    ));
    // A plain list of lists of arrays is fine; a bare number is not an array.
    assert!(matches!(load(b"\x80\x04]\x94."), Ok(Item::List(v)) if v.is_empty()));
    assert!(load(b"\x80\x04K\x05.").is_err());
}

/// A list that holds itself twice, 30 times over, through the memo: a 150-byte file that would
/// expand into 2^30 entries. Refused by the value budget, in well under a second.
#[test]
fn a_memo_reuse_bomb_is_refused_not_expanded() {
    let mut bomb = vec![0x80, 2, b']', b'q', 0];
    for _ in 0..30 {
        // MARK, BINGET 0, BINGET 0, LIST, BINPUT 0: memo 0 becomes [memo 0, memo 0].
        bomb.extend_from_slice(&[b'(', b'h', 0, b'h', 0, b'l', b'q', 0]);
    }
    bomb.push(b'.');
    let err = load(&bomb).unwrap_err();
    assert!(
        matches!(err, PickleError::Malformed { .. }) && err.to_string().contains("values"),
        "{err}"
    );
}
