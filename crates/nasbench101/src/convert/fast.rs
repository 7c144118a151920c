//! The fast decode of a record in the released layout (`json.dumps` style, 76-character
//! base64 lines): fields at known offsets, the metrics read by [`crate::proto`]'s fixed-layout
//! path. Anything that deviates goes to the reference decoder ([`crate::record`]), which also
//! names the error. The unit tests and `tests/payload.rs` check the two agree.

use crate::hash::ModelHash;
use crate::record::{decode_base64, decode_fields, Fields, PayloadError};
use std::borrow::Cow;

/// The fields of a payload with the metrics reduced to what the API uses (no allocation on
/// the usual path).
#[derive(Debug)]
pub(crate) struct FastRecord<'a> {
    pub(crate) hash: ModelHash,
    pub(crate) epochs: u32,
    pub(crate) matrix: Cow<'a, str>,
    pub(crate) ops: Cow<'a, str>,
    pub(crate) values: crate::proto::ApiValues,
    /// Where the epochs and the base64 text end and start, when the payload has the released
    /// layout (see [`same_model_head`]).
    pub(crate) layout: Option<Layout>,
}

/// Positions in a payload of the released layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// After the epochs digits.
    pub(crate) epochs_end: usize,
    /// Start of the base64 text (after its opening quote).
    pub(crate) base64_at: usize,
}

/// Digits of the epochs at `b[37..]` as `json.dumps` writes them (no leading zero, followed by
/// `, "`): (epochs, end of the digits).
fn canonical_epochs(b: &[u8]) -> Option<(u32, usize)> {
    let mut i = 37;
    let mut epochs: u32 = 0;
    while let Some(&c @ b'0'..=b'9') = b.get(i) {
        epochs = epochs.checked_mul(10)?.checked_add(u32::from(c - b'0'))?;
        i += 1;
    }
    if i == 37 || (i > 38 && b.get(37) == Some(&b'0')) || b.get(i..i + 3)? != b", \"" {
        return None;
    }
    Some((epochs, i))
}

/// For a payload that follows `prev`, which [`decode_fast`] read in the released layout
/// (`prev_layout`): when both have the same hash text and the same bytes from after the epochs
/// up to the base64 (adjacency and ops), the new payload's epochs and layout, without reading
/// the hash, adjacency or ops again. Its fields are then `prev`'s but for the epochs; its
/// base64 still has to be read ([`decode_fast_metrics`]).
pub(crate) fn same_model_head(
    payload: &[u8],
    prev: &[u8],
    prev_layout: Layout,
) -> Option<(u32, Layout)> {
    if payload.get(..37)? != prev.get(..37)? {
        return None;
    }
    let (epochs, epochs_end) = canonical_epochs(payload)?;
    let middle = prev.get(prev_layout.epochs_end..prev_layout.base64_at)?;
    let base64_at = epochs_end + middle.len();
    if payload.get(epochs_end..base64_at)? != middle {
        return None;
    }
    Some((
        epochs,
        Layout {
            epochs_end,
            base64_at,
        },
    ))
}

/// The exact layout of the released files (`json.dumps` style, 76-character base64 lines):
/// fields at known offsets, base64 copied line by line without scanning. `None` when the
/// payload deviates in any way; the general parser then decides (including the error).
fn canonical_fields<'a>(
    b: &'a [u8],
    scratch: &mut Vec<u8>,
    proto: &mut Vec<u8>,
) -> Option<(Fields<'a>, Layout)> {
    if b.get(..2)? != b"[\"" || b.get(34..37)? != b"\", " {
        return None;
    }
    let hash = ModelHash::from_hex_bytes(b.get(2..34)?)?;
    let (epochs, epochs_end) = canonical_epochs(b)?;
    let mut i = epochs_end + 3;
    // Strings end at the next quote; their bytes are then checked in one vectorizable pass.
    let ms = i;
    i += memchr::memchr(b'"', b.get(i..)?)?;
    let matrix = b.get(ms..i)?;
    if matrix.iter().fold(false, |bad, &c| bad | (c & !1 != b'0')) {
        return None;
    }
    if b.get(i..i + 4)? != b"\", \"" {
        return None;
    }
    i += 4;
    let os = i;
    i += memchr::memchr(b'"', b.get(i..)?)?;
    let ops = b.get(os..i)?;
    if ops.iter().fold(false, |bad, &c| {
        bad | !(0x20..0x80).contains(&c) | (c == b'\\')
    }) {
        return None;
    }
    if b.get(i..i + 4)? != b"\", \"" {
        return None;
    }
    i += 4;
    canonical_base64(b, i, scratch, proto)?;
    // SAFETY: the scans above let through only '0'/'1' in the matrix and printable ASCII
    // other than '"' and '\\' in the ops, so both are valid UTF-8.
    let (matrix, ops) = unsafe {
        (
            std::str::from_utf8_unchecked(matrix),
            std::str::from_utf8_unchecked(ops),
        )
    };
    let layout = Layout {
        epochs_end,
        base64_at: i,
    };
    Some((
        (hash, epochs, Cow::Borrowed(matrix), Cow::Borrowed(ops)),
        layout,
    ))
}

/// The base64 string of the released layout, starting at `i` (after its opening quote), up to
/// the closing `"]`: 76-character lines copied without scanning, then decoded into `proto`.
fn canonical_base64(
    b: &[u8],
    mut i: usize,
    scratch: &mut Vec<u8>,
    proto: &mut Vec<u8>,
) -> Option<()> {
    scratch.clear();
    while b.get(i + 76..i + 78) == Some(b"\\n") {
        scratch.extend_from_slice(b.get(i..i + 76)?);
        i += 78;
    }
    let n = b.len();
    if i + 2 != n {
        if n < i + 5 || b.get(n - 4..)? != b"\\n\"]" || n - 4 - i > 76 {
            return None;
        }
        scratch.extend_from_slice(b.get(i..n - 4)?);
    } else if b.get(i..)? != b"\"]" {
        return None;
    }
    // Quotes, backslashes or control characters inside the lines are rejected by the base64
    // decoder; the caller then re-parses generally for the precise error.
    decode_base64(scratch, proto).ok()
}

/// The metrics of a payload in the released layout whose base64 text starts at `base64_at`
/// (from [`same_model_head`]). `None` if the rest deviates from the layout; [`decode_fast`]
/// then reads the record (and reports its error).
pub(crate) fn decode_fast_metrics(
    payload: &[u8],
    base64_at: usize,
    scratch: &mut Vec<u8>,
    proto: &mut Vec<u8>,
) -> Option<crate::proto::ApiValues> {
    canonical_base64(payload, base64_at, scratch, proto)?;
    crate::proto::decode_api_values(proto).ok()
}

/// Parses the payload's JSON list and decodes only the API's metrics.
pub(crate) fn decode_fast<'a>(
    payload: &'a [u8],
    scratch: &mut Vec<u8>,
    proto: &mut Vec<u8>,
) -> Result<FastRecord<'a>, PayloadError> {
    let ((hash, epochs, matrix, ops), layout) = match canonical_fields(payload, scratch, proto) {
        Some((f, l)) => (f, Some(l)),
        None => (decode_fields(payload, scratch, proto)?, None),
    };
    let values = crate::proto::decode_api_values(proto)?;
    Ok(FastRecord {
        hash,
        epochs,
        matrix,
        ops,
        values,
        layout,
    })
}

/// The fixed-layout fast path and the reference decoder agree, including base64 line
/// boundaries (exactly 76 and 152 characters) and non-canonical whitespace and escapes.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{EvaluationData, ModelMetrics};
    use crate::record::{decode_payload, encode_mime_base64, encode_payload};
    use proptest::prelude::*;

    fn proto_of_len(len: usize) -> Vec<u8> {
        let e = |x: f64| EvaluationData {
            current_epoch: x,
            training_time: x * 2.0,
            train_accuracy: 0.5,
            validation_accuracy: 0.25,
            test_accuracy: 0.125,
            checkpoint_path: String::new(),
        };
        let mut pb = ModelMetrics {
            evaluation_data: vec![e(0.0), e(1.0), e(2.0)],
            trainable_parameters: 7,
            total_time: 1.0,
        }
        .encode();
        // Pad with an unknown length-delimited field 15 (skipped by decoders).
        assert!(pb.len() + 2 <= len && len - pb.len() - 2 < 128);
        let pad = len - pb.len() - 2;
        pb.push(0x7a);
        pb.push(pad as u8);
        pb.extend(std::iter::repeat_n(0u8, pad));
        assert_eq!(pb.len(), len);
        pb
    }

    fn payload(b64: &str, sep: &str) -> Vec<u8> {
        format!(
            "[\"ff940d27cbe9ed0a639a68a9c3f87283\"{sep}108{sep}\"0100\"{sep}\"input,output\"{sep}\"{}\"]",
            b64.replace('\n', "\\n")
        )
        .into_bytes()
    }

    #[test]
    fn fast_and_general_paths_agree() {
        for len in [162usize, 171, 172, 228, 229] {
            let pb = proto_of_len(len);
            let b64 = encode_mime_base64(&pb);
            for variant in [
                payload(&b64, ", "),
                payload(&b64, " ,\n "),
                // An escaped slash inside the base64 text forces the general parser.
                payload(&b64.replacen('/', "\\/", 1), ", "),
                payload(&b64.replace('\n', ""), ", "),
            ] {
                let general = decode_payload(&variant).unwrap();
                let (mut s, mut p) = (Vec::new(), Vec::new());
                let fast = decode_fast(&variant, &mut s, &mut p).unwrap();
                assert_eq!(fast.hash, general.hash);
                assert_eq!(fast.epochs, 108);
                assert_eq!(fast.matrix, "0100");
                assert_eq!(fast.ops, "input,output");
                assert_eq!(fast.values.evaluations, 3);
                assert_eq!(fast.values.trainable_parameters, 7);
                assert_eq!(
                    fast.values.halfway[0],
                    general.metrics.evaluation_data[1].training_time
                );
                assert_eq!(fast.values.final_[0], 4.0);
            }
        }
        // Line-boundary sizes are really exercised: 171 bytes encode to 228 = 3 x 76 characters.
        assert_eq!(encode_mime_base64(&proto_of_len(171)).len(), 228 + 3);
        assert_eq!(encode_mime_base64(&proto_of_len(228)).len(), 304 + 4);
    }

    #[test]
    fn fast_path_reports_the_general_error() {
        let pb = proto_of_len(172);
        let b64 = encode_mime_base64(&pb);
        let mut bad = payload(&b64, ", ");
        let n = bad.len();
        bad[n - 20] = b'"';
        let (mut s, mut p) = (Vec::new(), Vec::new());
        let fast = decode_fast(&bad, &mut s, &mut p).unwrap_err();
        let general = decode_payload(&bad).unwrap_err();
        assert_eq!(fast, general);
    }

    /// A run of the same model (same hash, adjacency and ops) is recognised from the previous
    /// payload, with the layout `decode_fast` finds; anything else is not.
    #[test]
    fn same_model_head_finds_the_layout_decode_fast_finds() {
        let b64 = encode_mime_base64(&proto_of_len(160));
        let with = |hash: &str, epochs: &str, ops: &str| {
            format!(
                "[\"{hash}\", {epochs}, \"0100\", \"{ops}\", \"{}\"]",
                b64.replace('\n', "\\n")
            )
            .into_bytes()
        };
        let h = "ff940d27cbe9ed0a639a68a9c3f87283";
        let (mut s, mut p) = (Vec::new(), Vec::new());
        let first = with(h, "4", "input,output");
        let layout = decode_fast(&first, &mut s, &mut p).unwrap().layout.unwrap();
        for epochs in ["4", "12", "108"] {
            let next = with(h, epochs, "input,output");
            let want = decode_fast(&next, &mut s, &mut p).unwrap();
            let (e, l) = same_model_head(&next, &first, layout).unwrap();
            assert_eq!((e, Some(l)), (want.epochs, want.layout));
        }
        // Another hash, other ops, a leading zero: not the same head.
        let other_hash = with("0f940d27cbe9ed0a639a68a9c3f87283", "4", "input,output");
        assert_eq!(same_model_head(&other_hash, &first, layout), None);
        let other_ops = with(h, "4", "input,outpuu");
        assert_eq!(same_model_head(&other_ops, &first, layout), None);
        let leading_zero = with(h, "04", "input,output");
        assert_eq!(same_model_head(&leading_zero, &first, layout), None);
    }

    proptest! {
        /// A record in the released layout with one byte changed or the end cut off: the fast
        /// decode gives the reference decoder's fields and values, or its error.
        #[test]
        fn fast_decode_agrees_with_the_reference_on_damaged_records(
            vals in proptest::collection::vec(any::<f64>(), 16),
            params in any::<i32>(),
            epochs in prop_oneof![Just(4u32), Just(12), Just(108), any::<u32>()],
            at in any::<prop::sample::Index>(),
            byte in prop_oneof![Just(b'"'), Just(b'\\'), Just(b','), Just(b'0'), Just(b'1'), Just(b'n'), any::<u8>()],
            cut in 0usize..3,
            damage in any::<bool>(),
        ) {
            let e = |k: usize| EvaluationData {
                current_epoch: vals[5 * k],
                training_time: vals[5 * k + 1],
                train_accuracy: vals[5 * k + 2],
                validation_accuracy: vals[5 * k + 3],
                test_accuracy: vals[5 * k + 4],
                checkpoint_path: String::new(),
            };
            let metrics = ModelMetrics {
                evaluation_data: vec![e(0), e(1), e(2)],
                trainable_parameters: params,
                total_time: vals[15],
            };
            let hash = ModelHash([0xab; 16]);
            let matrix = vec![vec![0, 1, 1], vec![0, 0, 1], vec![0, 0, 0]];
            let ops: Vec<String> = ["input", "maxpool3x3", "output"].map(String::from).to_vec();
            let mut p = encode_payload(&hash, epochs, &matrix, &ops, &metrics);
            if damage {
                let i = at.index(p.len());
                p[i] = byte;
                p.truncate(p.len() - cut);
            }
            let (mut s, mut b) = (Vec::new(), Vec::new());
            let fast = decode_fast(&p, &mut s, &mut b);
            let (mut s2, mut b2) = (Vec::new(), Vec::new());
            match (fast, crate::record::decode_raw(&p, &mut s2, &mut b2)) {
                (Ok(f), Ok(r)) => {
                    prop_assert_eq!((f.hash, f.epochs), (r.hash, r.epochs));
                    prop_assert_eq!(&f.matrix, &r.matrix);
                    prop_assert_eq!(&f.ops, &r.ops);
                    let want = crate::proto::ApiValues::from(&r.metrics);
                    prop_assert_eq!(f.values.halfway.map(f64::to_bits), want.halfway.map(f64::to_bits));
                    prop_assert_eq!(f.values.final_.map(f64::to_bits), want.final_.map(f64::to_bits));
                    prop_assert_eq!(f.values.trainable_parameters, want.trainable_parameters);
                    prop_assert_eq!(f.values.evaluations, want.evaluations);
                }
                (Err(f), Err(r)) => prop_assert_eq!(f, r),
                (f, r) => prop_assert!(false, "fast {:?}, reference {:?}", f.err(), r.err()),
            }
        }
    }
}
