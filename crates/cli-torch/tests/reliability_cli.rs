//! Hostile command lines get a message and exit 1 or 2 (clap), never a panic (exit 101) or a
//! hang (#13).

use std::process::Command;

fn torch_cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nb1s1-torch"))
        .args(args)
        .env_remove("NB1S1_NB101")
        .env_remove("NB1S1_CIFAR10")
        .output()
        .expect("run nb1s1-torch")
}

fn refused(args: &[&str], needle: &str) {
    let o = torch_cli(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        matches!(o.status.code(), Some(1) | Some(2)),
        "{args:?}: {:?}\n{err}",
        o.status
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(needle), "{args:?}: {err}");
}

#[test]
fn hostile_search_arguments_are_refused_with_a_message() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let out = out.to_str().unwrap();
    refused(
        &[
            "search",
            "--optimizer",
            "darts",
            "--threads",
            "100000",
            "--out",
            out,
        ],
        "100000",
    );
    let dir = tmp.path().to_str().unwrap();
    refused(&["search", "--config", dir, "--out", out], "is a folder");
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[arch]\nbeta1 = 2.0\n").unwrap();
    refused(
        &[
            "search",
            "--optimizer",
            "darts",
            "--space",
            "1",
            "--config",
            bad.to_str().unwrap(),
            "--out",
            out,
        ],
        "arch.beta1",
    );
    assert!(!tmp.path().join("run").join("status.json").exists());
}
