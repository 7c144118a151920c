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

#[test]
fn exported_events_decode_and_live_runs_are_not_exported_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    common::write_oneshot_run(&run, "darts", 1, 0, &[0.03, 0.02]);
    let path = nb1s1_bench::tensorboard::write_run_events(&run, 1_700_000_000.0).unwrap();
    assert!(path.to_string_lossy().ends_with(".export"));
    let events = tfevents::read_events(&std::fs::read(&path).unwrap()).unwrap();
    let scalars = tfevents::scalars(&events);
    assert_eq!(scalars.len(), 2 * 7);
    let regrets: Vec<(i64, f32)> = scalars
        .iter()
        .filter(|(tag, _, _)| tag == "regret/test")
        .map(|(_, step, v)| (*step, *v))
        .collect();
    assert_eq!(regrets, vec![(0, 0.03), (1, 0.02)]);
    assert!(nb1s1_bench::tensorboard::live_event_files(&run).is_empty());
    // A live file written by the search: the export refuses and names it, and leaves it alone.
    let (mut live, live_path) =
        tfevents::EventFile::create_in(&run.join("tensorboard"), 1_700_000_050.0).unwrap();
    live.scalar("train/loss", 0, 1.0, 1_700_000_051.0).unwrap();
    live.flush().unwrap();
    assert_eq!(
        nb1s1_bench::tensorboard::live_event_files(&run),
        vec![live_path.clone()]
    );
    let err = nb1s1_bench::tensorboard::write_run_events(&run, 1_700_000_100.0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("live event files"), "{err}");
    assert!(live_path.is_file());
}
