//! The loader: batch shapes, epoch ends, determinism for a seed, exact resume, cycling, eval
//! order, and the search splits it is fed with.

mod common;

use std::sync::Arc;

use common::pattern_split;
use nb1s1_data::cifar::IMAGE_BYTES;
use nb1s1_data::loader::LoaderState;
use nb1s1_data::{Augment, Batch, Loader, Normalize, SearchSplit, Split, SplitProtocol};

fn split(n: usize) -> Arc<Split> {
    Arc::new(pattern_split(n))
}

fn epoch(loader: &mut Loader) -> Vec<Batch> {
    let mut out = Vec::new();
    while let Some(b) = loader.next_batch() {
        out.push(b);
    }
    out
}

fn train_loader(seed: u64) -> Loader {
    Loader::new(
        split(100),
        (0..100).collect(),
        16,
        Some(Augment::darts().with_cutout(16, 0.5)),
        seed,
        true,
    )
    .unwrap()
}

#[test]
fn batches_have_the_documented_shape() {
    let data = split(50);
    let mut loader = Loader::new(Arc::clone(&data), (0..50).collect(), 16, None, 0, false).unwrap();
    let batches = epoch(&mut loader);
    let lens: Vec<usize> = batches.iter().map(|b| b.len).collect();
    assert_eq!(lens, vec![16, 16, 16, 2]);
    assert_eq!(loader.batches_per_epoch(), 4);
    for b in &batches {
        assert_eq!(b.images.len(), b.len * IMAGE_BYTES);
        assert_eq!(b.labels.len(), b.len);
        assert_eq!(b.indices.len(), b.len);
        for (&i, &l) in b.indices.iter().zip(&b.labels) {
            assert_eq!(l, i64::from(data.labels[i]));
        }
    }
}

#[test]
fn eval_mode_keeps_order_and_only_normalizes() {
    let data = split(40);
    let idx: Vec<usize> = (10..40).rev().collect();
    let mut loader = Loader::eval(Arc::clone(&data), idx.clone(), 7).unwrap();
    let batches = epoch(&mut loader);
    let seen: Vec<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
    assert_eq!(seen, idx);
    let first = &batches[0];
    let mut want = [0f32; IMAGE_BYTES];
    Normalize::CIFAR10.apply(data.image(39).unwrap().try_into().unwrap(), &mut want);
    assert_eq!(&first.images[..IMAGE_BYTES], &want[..]);
    // The second epoch is identical.
    assert_eq!(epoch(&mut loader), batches);
}

#[test]
fn each_epoch_is_a_permutation_and_epochs_differ() {
    let mut loader = train_loader(7);
    let e0: Vec<usize> = epoch(&mut loader)
        .iter()
        .flat_map(|b| b.indices.clone())
        .collect();
    let e1: Vec<usize> = epoch(&mut loader)
        .iter()
        .flat_map(|b| b.indices.clone())
        .collect();
    for e in [&e0, &e1] {
        let mut sorted = e.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }
    assert_ne!(e0, e1);
    assert_ne!(e0, (0..100).collect::<Vec<_>>());
    assert_eq!(loader.state().epoch, 2);
}

#[test]
fn same_seed_same_batches_regardless_of_prefetch() {
    let mut a = train_loader(11);
    let mut b = train_loader(11).prefetch(1);
    let mut c = train_loader(12);
    let ea = [epoch(&mut a), epoch(&mut a)];
    let eb = [epoch(&mut b), epoch(&mut b)];
    assert_eq!(ea, eb);
    assert_ne!(ea[0], epoch(&mut c));
}

#[test]
fn resume_yields_the_exact_following_batches() {
    let mut reference = train_loader(5);
    let mut all = Vec::new();
    let mut saved = None;
    for k in 0..20 {
        if k == 9 {
            saved = Some(reference.state());
        }
        all.push(reference.next_batch());
    }
    let saved = saved.unwrap();
    // Round trip through JSON, as a checkpoint would.
    let json = serde_json::to_string(&saved).unwrap();
    let restored: LoaderState = serde_json::from_str(&json).unwrap();
    assert_eq!(restored, saved);

    let mut fresh = train_loader(999); // the state's seed wins
    fresh.resume(restored).unwrap();
    let tail: Vec<Option<Batch>> = (9..20).map(|_| fresh.next_batch()).collect();
    assert_eq!(tail, all[9..]);
    // Epoch boundaries (None) fall in the same places.
    assert!(all.iter().any(Option::is_none));
}

#[test]
fn resume_mid_run_of_a_running_loader() {
    let mut a = train_loader(3);
    let _ = a.next_batch();
    let _ = a.next_batch();
    let s = a.state();
    let next3: Vec<_> = (0..3).map(|_| a.next_batch()).collect();
    a.resume(s).unwrap();
    let again: Vec<_> = (0..3).map(|_| a.next_batch()).collect();
    assert_eq!(next3, again);
    assert!(a
        .resume(LoaderState {
            seed: 3,
            epoch: 0,
            cursor: 101
        })
        .is_err());
}

#[test]
fn cycling_mode_never_ends() {
    let mut loader = Loader::new(split(30), (0..30).collect(), 8, None, 1, true)
        .unwrap()
        .cycling(true);
    let batches: Vec<Batch> = (0..20).map(|_| loader.next_batch().unwrap()).collect();
    // Epoch 0 is 8, 8, 8, 6 images; then epoch 1 starts.
    assert_eq!(batches[3].len, 6);
    assert_eq!(batches[4].len, 8);
    assert_eq!(loader.state().epoch, 4);
}

#[test]
fn rejects_bad_configuration() {
    assert!(Loader::new(split(10), vec![], 4, None, 0, true).is_err());
    assert!(Loader::new(split(10), vec![0, 1], 0, None, 0, true).is_err());
    let err = Loader::new(split(10), vec![0, 10], 4, None, 0, true)
        .err()
        .unwrap();
    assert!(err.to_string().contains("index 10 at position 1"), "{err}");
}

#[test]
fn darts_split_halves_by_index() {
    let s = SearchSplit::darts(50_000, 0.5).unwrap();
    assert_eq!(s.weights, (0..25_000).collect::<Vec<_>>());
    assert_eq!(s.arch, (25_000..50_000).collect::<Vec<_>>());
    assert_eq!(s.protocol, SplitProtocol::Darts);
    let odd = SearchSplit::darts(11, 0.5).unwrap();
    assert_eq!((odd.weights.len(), odd.arch.len()), (5, 6));
    assert!(SearchSplit::darts(10, 1.0).is_err());
    assert!(SearchSplit::darts(10, 0.0).is_err());
}

#[test]
fn enas_split_and_limits() {
    let s = SearchSplit::enas(50_000).unwrap();
    assert_eq!((s.weights.len(), s.arch.len()), (45_000, 5_000));
    assert_eq!(s.arch[0], 45_000);
    assert_eq!(s.protocol, SplitProtocol::Enas);
    assert!(SearchSplit::enas(45_000).is_err());
    let quick = SearchSplit::darts(50_000, 0.5)
        .unwrap()
        .limit(Some(100), Some(20));
    assert_eq!(quick.weights, (0..100).collect::<Vec<_>>());
    assert_eq!(quick.arch, (25_000..25_020).collect::<Vec<_>>());
}

#[test]
fn loader_can_move_to_another_thread() {
    fn assert_send<T: Send>(_: &T) {}
    let mut loader = train_loader(1);
    assert_send(&loader);
    let first = std::thread::spawn(move || loader.next_batch())
        .join()
        .unwrap();
    assert_eq!(first, train_loader(1).next_batch());
}

#[test]
fn batches_are_identical_when_consumed_inside_a_rayon_pool() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let batches = pool.install(|| {
        let mut loader = train_loader(8);
        (0..3).map(|_| loader.next_batch()).collect::<Vec<_>>()
    });
    let mut direct = train_loader(8);
    let expected: Vec<_> = (0..3).map(|_| direct.next_batch()).collect();
    assert_eq!(batches, expected);
}
