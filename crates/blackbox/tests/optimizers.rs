//! Optimizers on synthetic NB-101 tables with structure: determinism per seed, budgets counted
//! in queries or iterations, the trajectory contract, regularized evolution's ageing window,
//! random search's uniformity, and regularized evolution beating random search.

use std::path::Path;
use std::sync::OnceLock;

use blackbox::{run, run_with, Benchmark, Budget, BudgetUnit, OptimizerKind, TabularBenchmark};
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

#[test]
fn hyperband_and_bohb_count_brackets_as_the_original() {
    assert_eq!(
        BudgetUnit::original(OptimizerKind::Hb),
        BudgetUnit::Iterations
    );
    assert_eq!(
        BudgetUnit::original(OptimizerKind::Bohb),
        BudgetUnit::Iterations
    );
    assert_eq!(
        BudgetUnit::original(OptimizerKind::Smac),
        BudgetUnit::Queries
    );
    for kind in [OptimizerKind::Hb, OptimizerKind::Bohb] {
        // One cycle of the η = 3 schedule over 4/12/36/108 is 27+9+3+1 + 9+3+1 + 6+2 + 4 = 65.
        let t = run_with(kind, space1_full(), Budget::iterations(4), 3).unwrap();
        assert_eq!(t.len(), 65, "{kind}");
        let at = |e: u32| t.iter().filter(|r| r.epochs == e).count();
        assert_eq!(
            (at(4), at(12), at(36), at(108)),
            (27, 9 + 9, 3 + 3 + 6, 1 + 1 + 2 + 4)
        );
        let t = run_with(kind, space1_full(), Budget::iterations(9), 3).unwrap();
        assert_eq!(t.len(), 2 * 65 + 40, "{kind}");
        // With the 108-epoch table only, every bracket is one evaluation.
        let t = run_with(kind, space3(), Budget::iterations(30), 3).unwrap();
        assert_eq!(t.len(), 30, "{kind}");
        // The other unit stops at the query count.
        let t = run_with(kind, space1_full(), Budget::queries(50), 3).unwrap();
        assert_eq!(t.len(), 50, "{kind}");
    }
    // For one-query-per-iteration optimizers the two units agree.
    let a = run_with(OptimizerKind::Re, space3(), Budget::iterations(40), 1).unwrap();
    assert_eq!(a, run(OptimizerKind::Re, space3(), 40, 1).unwrap());
    // SMAC's iterations are intensification rounds, each at least one query.
    let t = run_with(OptimizerKind::Smac, space3(), Budget::iterations(40), 1).unwrap();
    assert!(t.len() > 40, "{}", t.len());
}

fn hamming(a: &[usize], b: &[usize]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

#[test]
fn regularized_evolution_breeds_only_from_the_last_100() {
    let b = space3();
    let sp = b.space();
    let t = run(OptimizerKind::Re, b, 400, 5).unwrap();
    let enc: Vec<Vec<usize>> = t
        .iter()
        .map(|r| sp.encode_categorical(&r.architecture).unwrap())
        .collect();
    // Every child is one mutation (or the identity) away from a member of the population, the
    // 100 queries before it: members older than that have aged out.
    for i in 100..t.len() {
        assert!(
            enc[i - 100..i].iter().any(|p| hamming(p, &enc[i]) <= 1),
            "query {} has no parent in the population",
            i + 1
        );
    }
    // Tournaments of 10 favour good parents: children are better than random samples.
    let mean =
        |r: &[blackbox::QueryRecord]| r.iter().map(|q| q.valid_error).sum::<f64>() / r.len() as f64;
    assert!(mean(&t[300..]) < mean(&t[..100]));
}

#[test]
fn random_search_samples_each_decision_uniformly() {
    let b = space1_full();
    let sp = b.space();
    let t = run(OptimizerKind::Rs, b, 3000, 2).unwrap();
    for (d, dec) in sp.decisions().iter().enumerate() {
        let mut counts = vec![0usize; dec.cardinality];
        for r in &t {
            counts[sp.encode_categorical(&r.architecture).unwrap()[d]] += 1;
        }
        let want = t.len() as f64 / dec.cardinality as f64;
        for (v, &c) in counts.iter().enumerate() {
            assert!(
                (c as f64 - want).abs() < 5.0 * want.sqrt() + 1.0,
                "{}: value {v} drawn {c} times, expected {want}",
                dec.name
            );
        }
    }
}
