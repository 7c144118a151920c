//! The fixed-layout fast path and the general JSON parser agree, including base64 line
//! boundaries (exactly 76 and 152 characters) and non-canonical whitespace and escapes.

use nasbench101::proto::{EvaluationData, ModelMetrics};
use nasbench101::record::{decode_fast, decode_payload, encode_mime_base64};

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
    use nasbench101::record::same_model_head;
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
