//! `write_run_events`: a run's epochs.jsonl becomes one TensorBoard event file whose records
//! frame correctly and carry every scalar of every epoch.

mod common;

#[test]
fn run_events_hold_every_scalar_of_every_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    common::write_oneshot_run(&run, "darts", 1, 0, &[0.03, 0.02, 0.01]);
    let path = nb1s1_bench::tensorboard::write_run_events(&run, 1_700_000_000.0).unwrap();
    assert!(path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("events.out.tfevents.1700000000."));
    let bytes = std::fs::read(&path).unwrap();
    let frames = nasbench101::tfrecord::Frames::new(&bytes, true)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    // The version event, then 7 scalars per epoch (regrets, one-shot, loss, seconds, errors).
    assert_eq!(frames.len(), 1 + 3 * 7);
    let tagged = |tag: &str| {
        frames
            .iter()
            .filter(|f| f.payload.windows(tag.len()).any(|w| w == tag.as_bytes()))
            .count()
    };
    assert_eq!(tagged("regret/test"), 3);
    assert_eq!(tagged("one_shot/valid_error"), 3);
    // Exporting again replaces the file instead of adding a second one.
    nb1s1_bench::tensorboard::write_run_events(&run, 1_700_000_100.0).unwrap();
    assert_eq!(
        std::fs::read_dir(run.join("tensorboard")).unwrap().count(),
        1
    );
}
