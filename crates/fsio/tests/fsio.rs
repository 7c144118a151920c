//! What the primitive refuses and what it cleans up, against real links, FIFOs and devices.

use nb1s1_fsio::{
    append, ensure_dir_in, previous, read_in, read_limited, read_tail, stale, write_atomic,
    AtomicFile, FsioError, StagedDir,
};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

/// A pid that no process has: a child that ran and was reaped.
fn dead_pid() -> u32 {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

#[test]
fn a_symlinked_target_is_refused_and_its_victim_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let out = dir.path().join("out.json");
    symlink(&victim, &out).unwrap();
    let err = write_atomic(&out, b"attack").unwrap_err();
    assert!(
        matches!(
            err,
            FsioError::NotRegular {
                kind: "symbolic link",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(std::fs::symlink_metadata(&out)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn planted_links_at_predictable_temp_names_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let out = dir.path().join("out.json");
    // The old writer's temp name, and the new prefix without its random part.
    symlink(
        &victim,
        dir.path()
            .join(format!(".out.json.{}.tmp", std::process::id())),
    )
    .unwrap();
    let prefix = stale::temp_prefix(out.file_name().unwrap());
    symlink(&victim, dir.path().join(&prefix)).unwrap();
    write_atomic(&out, b"new").unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "new");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!std::fs::symlink_metadata(&out)
        .unwrap()
        .file_type()
        .is_symlink());
    // Two temp files of one target get different, unguessable names.
    let a = AtomicFile::create(&out).unwrap();
    let b = AtomicFile::create(&out).unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix) && n.len() > prefix.len())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    drop((a, b));
}

#[test]
fn special_targets_are_refused_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let err = write_atomic(&fifo, b"x").unwrap_err();
    assert!(
        matches!(err, FsioError::NotRegular { kind: "FIFO", .. }),
        "{err}"
    );
    let sub = dir.path().join("folder");
    std::fs::create_dir(&sub).unwrap();
    assert!(write_atomic(&sub, b"x").is_err());
    assert!(sub.is_dir());
    // /dev/null stays a device: refused before any temp file is made.
    let err = write_atomic(Path::new("/dev/null"), b"x").unwrap_err();
    assert!(
        matches!(
            err,
            FsioError::NotRegular {
                kind: "device node",
                ..
            }
        ),
        "{err}"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 2, "a temp file was left behind");
}

#[test]
fn temps_of_dead_writers_are_removed_and_live_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("epochs.json");
    let host = stale::host_tag();
    let dead = dir
        .path()
        .join(format!(".epochs.json.nb1s1-tmp.{host}.{}.abc", dead_pid()));
    let live = dir
        .path()
        .join(format!(".epochs.json.nb1s1-tmp.{host}.1.abc"));
    let foreign = dir.path().join(".epochs.json.nb1s1-tmp.zzzzzzzz.5.abc");
    let other = dir
        .path()
        .join(format!(".other.nb1s1-tmp.{host}.{}.abc", dead_pid()));
    for p in [&dead, &live, &foreign, &other] {
        std::fs::write(p, "partial").unwrap();
    }
    write_atomic(&out, b"{}").unwrap();
    assert!(!dead.exists(), "the temp file of a dead writer was kept");
    assert!(live.exists() && foreign.exists() && other.exists());
    assert!(stale::is_abandoned(
        "epochs.json",
        &format!(".epochs.json.{}.tmp", dead_pid()),
        stale::LEGACY_AGE * 2
    ));
    assert!(!stale::is_abandoned(
        "epochs.json",
        &format!(".epochs.json.{}.tmp", std::process::id()),
        stale::LEGACY_AGE * 2
    ));
    // New files get the umask's mode, as any new file (not tempfile's 0600).
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let umask = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(|u| u32::from_str_radix(u.trim(), 8).unwrap())
        .unwrap();
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666 & !umask);
}

#[test]
fn appends_refuse_links_and_special_files_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let soft = dir.path().join("soft.jsonl");
    symlink(&victim, &soft).unwrap();
    assert!(append(&soft, b"x\n").is_err());
    let hard = dir.path().join("hard.jsonl");
    std::fs::hard_link(&victim, &hard).unwrap();
    assert!(matches!(
        append(&hard, b"x\n"),
        Err(FsioError::HardLinked { .. })
    ));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let t = Instant::now();
    assert!(append(&fifo, b"x\n").is_err());
    assert!(t.elapsed() < Duration::from_secs(5));
    let plain = dir.path().join("plain.jsonl");
    append(&plain, b"a\n").unwrap();
    append(&plain, b"b\n").unwrap();
    assert_eq!(std::fs::read_to_string(&plain).unwrap(), "a\nb\n");
}

#[test]
fn bounded_reads_refuse_fifos_devices_large_files_and_escaping_links() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let fifo = run.join("epochs.jsonl");
    mkfifo(&fifo);
    let t = Instant::now();
    assert!(matches!(
        read_in(&run, &fifo, 1 << 20),
        Err(FsioError::NotRegular { .. })
    ));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "a FIFO hung the reader"
    );
    let zero = run.join("status.json");
    symlink("/dev/zero", &zero).unwrap();
    assert!(read_in(&run, &zero, 1 << 20).is_err());
    assert!(read_limited(Path::new("/dev/zero"), 1 << 20).is_err());
    let outside = dir.path().join("secret");
    std::fs::write(&outside, "s").unwrap();
    let leak = run.join("run.json");
    symlink(&outside, &leak).unwrap();
    assert!(matches!(
        read_in(&run, &leak, 100),
        Err(FsioError::Escapes { .. })
    ));
    let big = run.join("big.jsonl");
    std::fs::write(&big, vec![b'x'; 101]).unwrap();
    assert!(matches!(
        read_in(&run, &big, 100),
        Err(FsioError::TooLarge { .. })
    ));
    assert_eq!(read_in(&run, &big, 101).unwrap().len(), 101);
    // A link that stays inside the folder is fine.
    let inner = run.join("alias.jsonl");
    symlink(&big, &inner).unwrap();
    assert_eq!(read_in(&run, &inner, 200).unwrap().len(), 101);
    // An output folder that is a link out of the run folder is refused.
    let tb = run.join("tensorboard");
    symlink(dir.path(), &tb).unwrap();
    assert!(matches!(
        ensure_dir_in(&run, &tb),
        Err(FsioError::Escapes { .. })
    ));
}

#[test]
fn a_tail_read_is_bounded_and_refuses_fifos_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("unit.log");
    // 64 MiB of holes, then the lines that matter.
    let f = std::fs::File::create(&log).unwrap();
    f.set_len(64 << 20).unwrap();
    drop(f);
    append(&log, b"first\nsecond\nlast\n").unwrap();
    let tail = read_tail(&log, 4096).unwrap();
    assert_eq!(tail.len(), 4096);
    assert!(tail.ends_with(b"first\nsecond\nlast\n"));
    assert_eq!(read_tail(&log, 1 << 40).unwrap().len(), (64 << 20) + 18);
    let fifo = dir.path().join("fifo.log");
    mkfifo(&fifo);
    let t = Instant::now();
    assert!(matches!(
        read_tail(&fifo, 4096),
        Err(FsioError::NotRegular { kind: "FIFO", .. })
    ));
    assert!(t.elapsed() < Duration::from_secs(5));
    let link = dir.path().join("link.log");
    symlink(&log, &link).unwrap();
    assert!(read_tail(&link, 4096).is_err());
}

/// The names in `dir` (sorted).
fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

#[test]
fn a_staged_folder_is_exclusive_swapped_in_whole_and_cleaned_after_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("checkpoint");
    let victim = dir.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("keep"), "precious").unwrap();
    // Links planted at the old predictable name and at this process's prefix change nothing.
    symlink(&victim, dir.path().join("checkpoint.tmp")).unwrap();
    let prefix = stale::temp_prefix(target.file_name().unwrap());
    symlink(&victim, dir.path().join(&prefix)).unwrap();
    // A staging folder of a writer killed earlier (a dead pid) is removed.
    let host = stale::host_tag();
    let killed = dir
        .path()
        .join(format!(".checkpoint.nb1s1-tmp.{host}.{}.abc", dead_pid()));
    std::fs::create_dir(&killed).unwrap();
    std::fs::write(killed.join("weights"), "half").unwrap();
    let staged = StagedDir::new(&target).unwrap();
    assert!(!killed.exists(), "a dead writer's staging folder was kept");
    assert!(staged.path().starts_with(dir.path()));
    let name = staged.path().file_name().unwrap().to_string_lossy();
    assert!(
        name.starts_with(&prefix) && name.len() > prefix.len(),
        "{name}"
    );
    std::fs::write(staged.path().join("weights"), "one").unwrap();
    staged.commit().unwrap();
    assert_eq!(
        std::fs::read_to_string(target.join("weights")).unwrap(),
        "one"
    );
    // A second commit replaces the folder whole; no `.old` and no staging folder remain.
    let staged = StagedDir::new(&target).unwrap();
    std::fs::write(staged.path().join("arch"), "two").unwrap();
    staged.commit().unwrap();
    assert_eq!(names(&target), vec!["arch".to_string()]);
    assert!(!previous(&target).exists());
    let mut expected = vec![
        prefix.clone(),
        "checkpoint".to_string(),
        "checkpoint.tmp".to_string(),
        "victim".to_string(),
    ];
    expected.sort();
    assert_eq!(names(dir.path()), expected);
    assert_eq!(names(&victim), vec!["keep".to_string()]);
    // Dropped uncommitted: removed, the target untouched.
    let staged = StagedDir::new(&target).unwrap();
    let path = staged.path().to_path_buf();
    drop(staged);
    assert!(!path.exists());
    assert_eq!(names(&target), vec!["arch".to_string()]);
    // A target that is a link (or a file) is refused, not followed or replaced.
    let linked = dir.path().join("linked");
    symlink(&victim, &linked).unwrap();
    assert!(matches!(
        StagedDir::new(&linked),
        Err(FsioError::NotAFolder {
            kind: "symbolic link",
            ..
        })
    ));
    assert_eq!(names(&victim), vec!["keep".to_string()]);
}

#[test]
fn a_kill_between_the_renames_leaves_the_previous_folder() {
    // What a reader finds when the writer died after moving the target aside: `previous`.
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("checkpoint");
    let staged = StagedDir::new(&target).unwrap();
    std::fs::write(staged.path().join("state.json"), "1").unwrap();
    staged.commit().unwrap();
    std::fs::rename(&target, previous(&target)).unwrap();
    assert_eq!(
        std::fs::read_to_string(previous(&target).join("state.json")).unwrap(),
        "1"
    );
    // The next commit puts a new folder in place and then removes the previous one.
    let staged = StagedDir::new(&target).unwrap();
    std::fs::write(staged.path().join("state.json"), "2").unwrap();
    staged.commit().unwrap();
    assert_eq!(
        std::fs::read_to_string(target.join("state.json")).unwrap(),
        "2"
    );
    assert!(!previous(&target).exists());
}
