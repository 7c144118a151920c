//! `nb1s1 search --list` shows every registered optimizer; an unknown one is an error naming it.

use std::process::Command;

fn nb1s1(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nb1s1-torch"))
        .args(args)
        .env_remove("NB1S1_NB101")
        .env_remove("NB1S1_CIFAR10")
        .output()
        .expect("run nb1s1-torch")
}

#[test]
fn list_shows_every_registered_optimizer_and_unknown_names_are_errors() {
    let o = nb1s1(&["search", "--list"]);
    assert!(o.status.success(), "{o:?}");
    let text = String::from_utf8_lossy(&o.stdout);
    for r in oneshot::registry::REGISTRY {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(r.name))
            .unwrap_or_else(|| panic!("{} missing from --list:\n{text}", r.name));
        assert!(line.contains(r.description), "{line}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = nb1s1(&[
        "search",
        "--optimizer",
        "dartz",
        "--space",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("dartz") && err.contains("darts_es"), "{err}");
    let help = nb1s1(&["search", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("darts_es"));
}
