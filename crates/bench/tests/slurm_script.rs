//! Nothing from an experiment file, a flag or a path reaches a Slurm batch script as shell
//! code: every `[slurm]` value carrying a newline, quotes, `$(...)` or a blank is refused with
//! the field named, and paths carrying them arrive intact as arguments when the written script
//! runs (through a stand-in `sbatch` that keeps its command line, and `bash` running the script
//! as a compute node would).

use nb1s1_bench::experiment::RunUnit;
use nb1s1_bench::runs::RunKind;
use nb1s1_bench::slurm::{self, Cluster, SlurmOptions, SlurmSettings};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const HOSTILE: &[&str] = &[
    "gpu\ntouch /tmp/nb1s1-pwned",
    "gpu'x",
    "gpu\"x",
    "$(touch pwned)",
    "`touch pwned`",
    "gpu x",
    "gpu;touch pwned",
];

fn options(settings: SlurmSettings, dir: &Path) -> SlurmOptions {
    SlurmOptions {
        settings,
        experiment: "e".into(),
        file: dir.join("exp.toml"),
        out: dir.join("out"),
        program: dir.join("nb1s1"),
        max_retries: 1,
        wait: false,
        poll: Duration::from_millis(10),
        task: None,
    }
}

/// Every string setting, set to `value`.
fn each_setting(value: &str) -> Vec<(&'static str, SlurmSettings)> {
    let v = Some(value.to_string());
    let d = SlurmSettings::default;
    vec![
        (
            "partition",
            SlurmSettings {
                partition: v.clone(),
                ..d()
            },
        ),
        (
            "account",
            SlurmSettings {
                account: v.clone(),
                ..d()
            },
        ),
        (
            "qos",
            SlurmSettings {
                qos: v.clone(),
                ..d()
            },
        ),
        (
            "time",
            SlurmSettings {
                time: v.clone(),
                ..d()
            },
        ),
        (
            "mem",
            SlurmSettings {
                mem: v.clone(),
                ..d()
            },
        ),
        (
            "gpus_per_task",
            SlurmSettings {
                gpus_per_task: v.clone(),
                ..d()
            },
        ),
        (
            "gres",
            SlurmSettings {
                gres: v.clone(),
                ..d()
            },
        ),
        (
            "sbatch_args[0]",
            SlurmSettings {
                sbatch_args: vec![format!("--constraint={value}")],
                ..d()
            },
        ),
        (
            "sbatch_args[0]",
            SlurmSettings {
                sbatch_args: vec![value.to_string()],
                ..d()
            },
        ),
    ]
}

#[test]
fn every_hostile_setting_is_refused_naming_its_field() {
    let dir = tempfile::tempdir().unwrap();
    for value in HOSTILE {
        for (field, settings) in each_setting(value) {
            let err = slurm::job_script("n", &[0], &options(settings, dir.path()))
                .expect_err(&format!("{field} = {value:?} was accepted"))
                .to_string();
            assert!(err.contains(&format!("[slurm] {field}")), "{field}: {err}");
            assert!(err.contains("exp.toml"), "{err}");
        }
    }
    // `setup` is a shell line by design: quotes, `$(...)` and blanks are the user's shell, a
    // line break is not one line.
    for value in ["module load x\ntouch pwned", "a\rb", "a\0b"] {
        let s = SlurmSettings {
            setup: Some(value.into()),
            ..Default::default()
        };
        let err = slurm::job_script("n", &[0], &options(s, dir.path())).unwrap_err();
        assert!(err.to_string().contains("[slurm] setup"), "{err}");
    }
    // The options the backend sets itself cannot be overridden.
    for arg in [
        "--array=0-99",
        "--output=/etc/x",
        "--job-name=other",
        "-o/x",
        // Abbreviations sbatch expands to the same options.
        "--job-n=other",
        "--arr=0-99",
        "--err=/any/path",
        "--wra=x",
    ] {
        let s = SlurmSettings {
            sbatch_args: vec![arg.into()],
            ..Default::default()
        };
        assert!(
            slurm::job_script("n", &[0], &options(s, dir.path())).is_err(),
            "{arg}"
        );
    }
}

#[test]
fn ordinary_settings_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let s = SlurmSettings {
        partition: Some("gpu,gpu-long".into()),
        account: Some("proj_42".into()),
        time: Some("2-00:00:00".into()),
        mem: Some("16G".into()),
        gres: Some("gpu:a100:1".into()),
        sbatch_args: vec![
            "--constraint=(a100|h100)&ib".into(),
            "--mail-user=a.b@c.org".into(),
            "--exclusive".into(),
        ],
        setup: Some("module load cuda/12.4; source \"$HOME/venv/bin/activate\"".into()),
        ..Default::default()
    };
    let script = slurm::job_script("n", &[0], &options(s, dir.path())).unwrap();
    for line in [
        "#SBATCH --partition=gpu,gpu-long\n",
        "#SBATCH --constraint=(a100|h100)&ib\n",
        "#SBATCH --exclusive\n",
        "module load cuda/12.4; source \"$HOME/venv/bin/activate\"\n",
    ] {
        assert!(script.contains(line), "{line} missing in\n{script}");
    }
}

fn write_exe(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A stand-in Slurm: `sbatch` keeps its arguments (one per line) and answers job 4242; the
/// queue is empty.
fn fake_cluster(dir: &Path) -> Cluster {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("sbatch.args");
    write_exe(
        &bin.join("sbatch"),
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\necho 4242\n",
            log.display()
        ),
    );
    for c in ["squeue", "scontrol", "sacct"] {
        write_exe(&bin.join(c), "#!/bin/sh\nexit 0\n");
    }
    Cluster { bin_dir: Some(bin) }
}

#[test]
fn hostile_paths_reach_the_task_intact_and_run_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = fake_cluster(tmp.path());
    // Paths with every hostile shape; a shell that evaluated any of them would create `pwned`.
    let dir = tmp
        .path()
        .join("we ird $(touch pwned) `touch pwned` 'q\" 100%\nline");
    std::fs::create_dir_all(&dir).unwrap();
    let argv_log = tmp.path().join("argv");
    let program = dir.join("nb 1s1 $(touch pwned)");
    write_exe(
        &program,
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\n",
            argv_log.display()
        ),
    );
    let mut opts = options(SlurmSettings::default(), &dir);
    opts.program = program;
    opts.file = dir.join("exp $(touch pwned).toml");
    let unit = RunUnit {
        id: "u".into(),
        kind: RunKind::OneShot,
        study: "s".into(),
        optimizer: "darts".into(),
        space: 1,
        variant: "default".into(),
        seeds: vec![0],
        out: opts.out.join("u"),
        config: None,
        base: None,
        args: vec![],
    };
    let report = slurm::run_slurm(&[unit], &cluster, &opts, &|_| {}).unwrap();
    assert_eq!(report.jobs, vec!["4242".to_string()]);
    // sbatch got the log pattern as one argument, `%` escaped.
    let args = std::fs::read_to_string(tmp.path().join("sbatch.args")).unwrap();
    let logs = slurm::slurm_dir(&opts.out).join("logs");
    let expected = format!(
        "--output={}/%A_%a.out",
        logs.to_str().unwrap().replace('%', "%%")
    );
    assert!(args.contains(&expected), "{args}");
    // The job name carries a digest of the folder: another folder gets another name.
    let subs = slurm::Submissions::load(&opts.out).unwrap();
    let name = &subs.jobs[0].name;
    assert_eq!(name, &slurm::job_name("e", &opts.out, 0));
    assert_ne!(name, &slurm::job_name("e", &tmp.path().join("other"), 0));
    // Run the written script as the compute node would.
    let script: PathBuf = slurm::slurm_dir(&opts.out).join("job-0.sh");
    let o = Command::new("bash")
        .arg(&script)
        .current_dir(tmp.path())
        .env("SLURM_ARRAY_TASK_ID", "0")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let argv = std::fs::read_to_string(&argv_log).unwrap();
    let want = [
        "experiment",
        "task",
        opts.file.to_str().unwrap(),
        "--out",
        opts.out.to_str().unwrap(),
        "--requeue-limit",
        "1",
        "--index",
        "0",
    ]
    .join("\n");
    assert_eq!(argv.trim_end_matches('\n'), want);
    assert!(
        !tmp.path().join("pwned").exists(),
        "the script ran injected code"
    );
    assert!(!dir.join("pwned").exists(), "the script ran injected code");
}
