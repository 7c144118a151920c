//! The space table and exhaustive statistics on a synthetic NB-101 table (and on the real
//! fixture records in ../shared when present).

use std::path::Path;

use searchspace::{synthetic, Reference, SearchSpace, SpaceId, SpaceTable};

#[test]
fn reference_and_best_agree_with_brute_force() {
    let sp = SearchSpace::new(SpaceId::One);
    let nb = synthetic::space_table(&sp, &[12, 108], 5, Path::new("synthetic-s1")).unwrap();
    let table = SpaceTable::build(&sp, &nb).unwrap();
    assert!(table.missing().is_empty());
    assert_eq!(table.epochs(), &[12, 108]);
    // Brute force over every configuration through ModelSpec + Nb101 lookups.
    let (mut min_single, mut min_mean) = (f64::INFINITY, f64::INFINITY);
    for arch in sp.configurations().step_by(3) {
        let model = nb.model(&arch.to_spec().unwrap().hash().unwrap()).unwrap();
        let reps = model.repeats(108).unwrap();
        assert_eq!(reps.len(), 3);
        for r in &reps {
            min_single = min_single.min(1.0 - r.final_test_accuracy);
        }
        min_mean = min_mean.min(
            reps.iter()
                .map(|r| 1.0 - r.final_test_accuracy)
                .sum::<f64>()
                / 3.0,
        );
    }
    let r = table.reference(108);
    assert!(r.min_test_error <= min_single);
    assert!(r.min_mean_test_error.unwrap() <= min_mean);
    assert!(r.min_mean_test_error.unwrap() >= r.min_test_error);
    let stats = table.stats(20);
    assert_eq!(stats.unique_nb101_models, 2_685);
    assert_eq!(stats.histogram.counts.iter().sum::<u64>(), 2_685);
    let best_mean = stats
        .best
        .iter()
        .find(|b| b.criterion == "mean_test")
        .unwrap();
    assert_eq!(best_mean.error, r.min_mean_test_error.unwrap());
    let best_single = stats
        .best
        .iter()
        .find(|b| b.criterion == "single_test")
        .unwrap();
    assert_eq!(best_single.error, r.min_test_error);
    assert_eq!(best_single.architecture.hash().unwrap(), best_single.hash);
    assert!(stats.quantiles.windows(2).all(|w| w[0].1 <= w[1].1));
    assert_eq!(stats.quantiles[0].1, stats.histogram.lo);
    let orig = Reference::original(SpaceId::One);
    assert_eq!(
        stats.difference.test,
        r.min_test_error - orig.min_test_error
    );
    let models = table.model_stats();
    assert_eq!(models.len(), 2_685);
    assert_eq!(
        models.iter().map(|m| m.configurations).sum::<u64>(),
        sp.raw_configurations()
    );
    assert_eq!(models[0].budgets.len(), 2);
}

#[test]
fn models_absent_from_the_table_are_reported() {
    let sp = SearchSpace::new(SpaceId::One);
    let nb = synthetic::space_table(&sp, &[108], 1, Path::new("synthetic-s1")).unwrap();
    // The output has 2 parents in space 1 and 3 in space 2: no model in common.
    let two = SpaceTable::build(&SearchSpace::new(SpaceId::Two), &nb).unwrap();
    assert_eq!(two.missing().len(), 7_773);
    assert!(two.reference(108).min_mean_test_error.is_none());
    // Space 3 shares part of its models with space 1.
    let table = SpaceTable::build(&SearchSpace::new(SpaceId::Three), &nb).unwrap();
    assert!(!table.missing().is_empty());
    assert!(table.missing().len() < 55_854);
    let stats = table.stats(10);
    assert_eq!(stats.missing_models, table.missing().len());
    assert_eq!(
        stats.histogram.counts.iter().sum::<u64>() as usize,
        55_854 - table.missing().len()
    );
}

#[test]
fn real_fixture_models_of_the_spaces_are_found() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    let file = shared.join("fixtures/nb101/real_30_only108.tfrecord");
    if !file.exists() {
        eprintln!("SKIPPED (real data absent): {}", file.display());
        return;
    }
    let nb = nasbench101::Nb101::open(&file).unwrap();
    // The 30 real models are arbitrary NB-101 cells; whichever belong to a space must be found
    // with their real accuracies, the rest reported missing.
    for space in SpaceId::ALL {
        let table = SpaceTable::build(&SearchSpace::new(space), &nb).unwrap();
        let present = table.index().models().len() - table.missing().len();
        let in_file = table
            .index()
            .models()
            .iter()
            .filter(|m| nb.model(&m.hash).is_some())
            .count();
        assert_eq!(present, in_file);
    }
}
