//! `nb1s1 nb101 params` (no table needed) and the input checks of `nb1s1 train`.

use std::process::Command;

fn nb1s1(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nb1s1-torch"))
        .args(args)
        .output()
        .expect("run nb1s1")
}

const INCEPTION: &str = r#"{"matrix": [[0,1,1,1,1,0,0],[0,0,0,0,0,0,1],[0,0,0,0,0,0,1],[0,0,0,0,0,0,1],[0,0,0,0,0,1,0],[0,0,0,0,0,0,1],[0,0,0,0,0,0,0]], "ops": ["input","conv3x3-bn-relu","conv1x1-bn-relu","maxpool3x3","conv3x3-bn-relu","conv3x3-bn-relu","output"]}"#;

#[test]
fn params_gives_the_recorded_count_without_a_table() {
    let out = nb1s1(&["nb101", "params", "--spec", INCEPTION]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2694282");
    let out = nb1s1(&[
        "nb101",
        "params",
        "--matrix",
        "0110/0001/0001/0000",
        "--ops",
        "input,conv3x3-bn-relu,maxpool3x3,output",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["vertex_channels"][0],
        serde_json::json!([128, 64, 64, 128])
    );
}

#[test]
fn params_and_train_refuse_bad_cells_with_the_reason() {
    let out = nb1s1(&[
        "nb101",
        "params",
        "--matrix",
        "0110/0001/0001/0000",
        "--ops",
        "input,conv3x3-bn-relu,maxpool3x3,output",
        "--channels",
        "1",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("bad_network"));
    let tmp = tempfile::tempdir().unwrap();
    let out = nb1s1(&[
        "train",
        "--spec",
        r#"{"matrix": [[0,0],[0,0]], "ops": ["input","output"]}"#,
        "--out",
        tmp.path().to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("disconnected"), "{err}");
}
