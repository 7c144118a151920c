//! Optimizers on synthetic NB-101 tables with structure: determinism per seed, budgets, the
//! trajectory contract, and regularized evolution beating random search.

use std::path::Path;
use std::sync::OnceLock;

use blackbox::{run, Benchmark, OptimizerKind, TabularBenchmark};
use searchspace::{synthetic, SearchSpace, SpaceId, SpaceTable};

fn bench(space: SpaceId, epochs: &[u32]) -> TabularBenchmark {
    let sp = SearchSpace::new(space);
    let nb = synthetic::space_table(&sp, epochs, 42, Path::new("synthetic")).unwrap();
    TabularBenchmark::new(SpaceTable::build(&sp, &nb).unwrap())
}

fn space3() -> &'static TabularBenchmark {
    static B: OnceLock<TabularBenchmark> = OnceLock::new();
    B.get_or_init(|| bench(SpaceId::Three, &[108]))
}

fn space1_full() -> &'static TabularBenchmark {
    static B: OnceLock<TabularBenchmark> = OnceLock::new();
    B.get_or_init(|| bench(SpaceId::One, &[4, 12, 36, 108]))
}

#[test]
fn every_optimizer_is_deterministic_per_seed_and_spends_its_budget() {
    for b in [space3() as &dyn Benchmark, space1_full()] {
        for kind in OptimizerKind::ALL {
            let a = run(kind, b, 150, 7).unwrap();
            let again = run(kind, b, 150, 7).unwrap();
            let other = run(kind, b, 150, 8).unwrap();
            assert_eq!(a.len(), 150, "{kind}");
            assert_eq!(a, again, "{kind}");
            assert_ne!(a, other, "{kind}");
            for (i, r) in a.iter().enumerate() {
                assert_eq!(r.query, i + 1);
                r.architecture.validate().unwrap();
                assert_eq!(r.architecture.hash().unwrap(), r.hash);
                assert!(b.budgets().contains(&r.epochs), "{kind}");
            }
            // The clock only moves forward and the incumbent never gets worse at full budget.
            assert!(a
                .windows(2)
                .all(|w| w[1].simulated_seconds > w[0].simulated_seconds));
            let full: Vec<_> = a.iter().filter(|r| r.epochs == b.max_budget()).collect();
            assert!(!full.is_empty(), "{kind}");
            let last = a.last().unwrap();
            let best_valid = full
                .iter()
                .map(|r| r.valid_error)
                .fold(f64::INFINITY, f64::min);
            assert_eq!(last.incumbent_valid_error, best_valid, "{kind}");
            assert!(
                (last.incumbent_test_regret
                    - (last.incumbent_test_error - b.reference().min_test_error))
                    .abs()
                    < 1e-15
            );
        }
    }
}

#[test]
fn hyperband_uses_every_budget_of_the_full_table() {
    let b = space1_full();
    for kind in [OptimizerKind::Hb, OptimizerKind::Bohb] {
        let t = run(kind, b, 200, 1).unwrap();
        for e in [4, 12, 36, 108] {
            assert!(
                t.iter().any(|r| r.epochs == e),
                "{kind} never used {e} epochs"
            );
        }
        // The first bracket (s = 3) starts with 27 configurations at 4 epochs.
        assert!(t[..27].iter().all(|r| r.epochs == 4), "{kind}");
        assert!(t[27..36].iter().all(|r| r.epochs == 12), "{kind}");
    }
    // The others only query the full budget.
    let t = run(OptimizerKind::Tpe, b, 50, 1).unwrap();
    assert!(t.iter().all(|r| r.epochs == 108));
}

fn mean_final_regret(kind: OptimizerKind, b: &dyn Benchmark, seeds: u64) -> f64 {
    (0..seeds)
        .map(|s| {
            run(kind, b, 280, s)
                .unwrap()
                .last()
                .unwrap()
                .incumbent_test_regret
        })
        .sum::<f64>()
        / seeds as f64
}

#[test]
fn regularized_evolution_beats_random_search_on_structured_table() {
    let b = space3();
    let re = mean_final_regret(OptimizerKind::Re, b, 50);
    let rs = mean_final_regret(OptimizerKind::Rs, b, 50);
    assert!(re < rs, "RE mean final regret {re} vs RS {rs}");
}
