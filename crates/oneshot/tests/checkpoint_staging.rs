//! Checkpoints are staged in an exclusive folder of an unpredictable name (issue 25): what is
//! planted at the names a writer could guess changes nothing, and a killed writer's staging
//! folder is removed by the next save.

use std::path::Path;

use nb1s1_data::LoaderState;
use oneshot::checkpoint::{self, CheckpointParts, CheckpointState};
use runfmt::fsio::stale;
use tch::{nn, Device};

fn stores(value: f64) -> (nn::VarStore, nn::VarStore) {
    let weights = nn::VarStore::new(Device::Cpu);
    let _ = weights.root().var("w", &[4], nn::Init::Const(value));
    let arch = nn::VarStore::new(Device::Cpu);
    let _ = arch.root().var("alpha", &[2, 3], nn::Init::Const(-value));
    (weights, arch)
}

fn state(next_epoch: usize) -> CheckpointState {
    CheckpointState {
        next_epoch,
        global_step: 10 * next_epoch as u64,
        arch_loader: LoaderState {
            seed: 1,
            epoch: next_epoch as u64,
            cursor: 0,
        },
        seed: 1,
        stopped_early: None,
        checksums: Default::default(),
    }
}

fn save(dir: &Path, next_epoch: usize) -> Result<(), oneshot::OneShotError> {
    let (weights, arch) = stores(next_epoch as f64);
    let st = state(next_epoch);
    checkpoint::save(
        dir,
        &CheckpointParts {
            weights: &weights,
            arch: &arch,
            controller: None,
            optimizers: Vec::new(),
            state: &st,
        },
    )
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

/// A pid that no process has: a child that ran and was reaped.
fn dead_pid() -> u32 {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

#[test]
fn checkpoints_are_staged_where_nothing_planted_can_reach_them() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let victim = tmp.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("keep"), "precious").unwrap();
    // A file at the staging name of earlier versions (which blocked every save) and a link at
    // the kept checkpoint's old staging name.
    std::fs::write(run.join("checkpoint.tmp"), "planted").unwrap();
    std::fs::create_dir(run.join("checkpoints")).unwrap();
    std::os::unix::fs::symlink(&victim, run.join("checkpoints/epoch1.tmp")).unwrap();
    // The staging folder of a writer killed mid-save.
    let killed = run.join(format!(
        ".checkpoint.nb1s1-tmp.{}.{}.abcdef",
        stale::host_tag(),
        dead_pid()
    ));
    std::fs::create_dir(&killed).unwrap();
    std::fs::write(killed.join("weights.safetensors"), "half").unwrap();

    let dir = run.join("checkpoint");
    save(&dir, 1).unwrap();
    assert!(
        !killed.exists(),
        "the killed writer's staging folder was kept"
    );
    assert_eq!(checkpoint::locate(&dir), Some(dir.clone()));
    assert_eq!(checkpoint::read_state(&dir).unwrap().next_epoch, 1);
    save(&dir, 2).unwrap();
    let state = checkpoint::read_state(&dir).unwrap();
    assert_eq!(state.next_epoch, 2);
    let (mut weights, mut arch) = stores(0.0);
    checkpoint::load(&dir, &mut weights, &mut arch, None).unwrap();
    let w = Vec::<f64>::try_from(&weights.variables()["w"]).unwrap();
    assert_eq!(w, vec![2.0; 4]);
    // Nothing left but the checkpoint and what was planted (untouched).
    assert_eq!(
        names(&run),
        vec!["checkpoint", "checkpoint.tmp", "checkpoints"]
    );
    assert_eq!(
        std::fs::read_to_string(run.join("checkpoint.tmp")).unwrap(),
        "planted"
    );
    // A kept copy is staged the same way; the victim of the planted link is untouched.
    let kept = run.join("checkpoints/epoch1");
    checkpoint::keep(&dir, &kept).unwrap();
    assert_eq!(checkpoint::read_state(&kept).unwrap().next_epoch, 2);
    assert_eq!(names(&victim), vec!["keep"]);
    assert_eq!(
        names(&run.join("checkpoints")),
        vec!["epoch1", "epoch1.tmp"]
    );
}

#[test]
fn a_checkpoint_that_is_a_link_is_refused_not_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let victim = tmp.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("keep"), "precious").unwrap();
    let dir = run.join("checkpoint");
    std::os::unix::fs::symlink(&victim, &dir).unwrap();
    let err = save(&dir, 1).unwrap_err().to_string();
    assert!(
        err.contains("checkpoint") && err.contains("symbolic link"),
        "{err}"
    );
    assert_eq!(names(&victim), vec!["keep"]);
    assert!(std::fs::symlink_metadata(&dir)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(names(&run), vec!["checkpoint"], "no staging folder left");
}
