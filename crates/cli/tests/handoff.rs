//! The torch-free `nb1s1` binary: its help lists every command, and a torch command is handed
//! over (in place, arguments untouched, exit status kept) to `nb1s1-torch` next to it or to
//! `$NB1S1_TORCH_BIN`, with a clear error naming the path when that binary is missing. A small
//! shell script stands in for the torch binary, so these tests need no libtorch.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NB1S1: &str = env!("CARGO_BIN_EXE_nb1s1");

/// A stand-in torch binary at `path` that prints its arguments and exits with status 7.
fn fake_torch(path: &Path) {
    std::fs::write(path, "#!/bin/sh\necho \"torch got: $*\"\nexit 7\n").unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn run(exe: &Path, torch_env: Option<&Path>, args: &[&str]) -> Output {
    let mut c = Command::new(exe);
    c.args(args).env_remove("NB1S1_TORCH_BIN");
    if let Some(t) = torch_env {
        c.env("NB1S1_TORCH_BIN", t);
    }
    c.output().expect("run nb1s1")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn help_lists_every_command() {
    let o = run(Path::new(NB1S1), None, &["--help"]);
    assert!(o.status.success());
    let help = stdout(&o);
    for cmd in [
        "nb101",
        "space",
        "blackbox",
        "data",
        "experiment",
        "results",
        "report",
        "search",
        "correlation",
        "demo",
        "tune",
        "zerocost",
    ] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(cmd)),
            "{cmd} missing from:\n{help}"
        );
    }
}

#[test]
fn torch_commands_go_to_the_env_override_with_their_arguments_and_status() {
    let tmp = tempfile::tempdir().unwrap();
    let torch = tmp.path().join("my-torch");
    fake_torch(&torch);
    for cmd in ["search", "correlation", "demo", "zerocost"] {
        let o = run(
            Path::new(NB1S1),
            Some(&torch),
            &[cmd, "--help", "--out", "a b", "-x"],
        );
        assert_eq!(o.status.code(), Some(7), "{o:?}");
        assert_eq!(
            stdout(&o),
            format!("torch got: {cmd} --help --out a b -x\n")
        );
    }
}

#[test]
fn the_default_torch_binary_is_the_sibling_nb1s1_torch() {
    let tmp = tempfile::tempdir().unwrap();
    let exe: PathBuf = tmp.path().join("nb1s1");
    std::fs::copy(NB1S1, &exe).unwrap();
    let o = run(&exe, None, &["search", "--epochs", "1"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let expected = tmp.path().join("nb1s1-torch");
    assert!(
        err.contains(&expected.display().to_string()) && err.contains("nb1s1-torch"),
        "the error names the missing binary: {err}"
    );
    fake_torch(&expected);
    let o = run(&exe, None, &["search", "--epochs", "1"]);
    assert_eq!(o.status.code(), Some(7), "{o:?}");
    assert_eq!(stdout(&o), "torch got: search --epochs 1\n");
}

#[test]
fn a_missing_override_is_named_and_tabular_commands_never_hand_over() {
    let missing = Path::new("/nonexistent/nb1s1-torch-here");
    let o = run(
        Path::new(NB1S1),
        Some(missing),
        &["correlation", "--run", "r"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/nonexistent/nb1s1-torch-here"), "{err}");
    assert!(err.contains("NB1S1_TORCH_BIN"), "{err}");
    // A tabular command runs here even though the torch binary is missing.
    let o = run(
        Path::new(NB1S1),
        Some(missing),
        &[
            "nb101",
            "hash",
            "--matrix",
            "01/00",
            "--ops",
            "input,output",
        ],
    );
    assert!(o.status.success(), "{o:?}");
    let hash = stdout(&o);
    assert_eq!(hash.trim().len(), 32, "{hash}");
    assert!(hash.trim().bytes().all(|b| b.is_ascii_hexdigit()), "{hash}");
}
