//! Counts and enumeration: unique NB-101 models per space, cross-checked by brute force.

use std::collections::HashSet;

use searchspace::{ModelIndex, SearchSpace, SpaceId};

#[test]
fn unique_model_counts_match_independent_computation() {
    let counts: Vec<usize> = SpaceId::ALL
        .iter()
        .map(|&s| ModelIndex::build(&SearchSpace::new(s)).models().len())
        .collect();
    assert_eq!(counts, vec![2_685, 7_773, 55_854]);
}

/// Brute force on spaces 1 and 2: hash every configuration through NB-101's `ModelSpec` and
/// compare the set of hashes and the per-configuration model with the index.
#[test]
fn index_agrees_with_brute_force_hashing() {
    for space in [SpaceId::One, SpaceId::Two] {
        let sp = SearchSpace::new(space);
        let index = ModelIndex::build(&sp);
        let mut seen = HashSet::new();
        for (i, arch) in sp.configurations().enumerate() {
            let h = arch.to_spec().unwrap().hash().unwrap();
            seen.insert(h);
            let m = index.model_of(i as u64).unwrap();
            assert_eq!(
                index.models()[m as usize].hash,
                h,
                "space {space} config {i}"
            );
        }
        assert_eq!(seen.len(), index.models().len());
        let total: u64 = index.models().iter().map(|m| m.configurations).sum();
        assert_eq!(total, sp.raw_configurations());
        let uniq = sp.unique_models();
        assert_eq!(uniq.len(), seen.len());
        for (h, arch) in uniq.iter().take(50) {
            assert_eq!(arch.hash().unwrap(), *h);
        }
    }
}

#[test]
fn configuration_index_round_trips() {
    for space in SpaceId::ALL {
        let sp = SearchSpace::new(space);
        let n = sp.raw_configurations();
        for i in [0, 1, 2, 3, 80, 81, n / 3, n / 2 + 7, n - 1] {
            let arch = sp.configuration(i).unwrap();
            arch.validate().unwrap();
            assert_eq!(sp.configuration_index(&arch).unwrap(), i);
        }
        assert!(sp.configuration(n).is_none());
        assert_eq!(sp.configurations().count() as u64, n);
    }
}

#[test]
fn configurations_are_all_distinct() {
    let sp = SearchSpace::new(SpaceId::Two);
    let set: HashSet<_> = sp.configurations().collect();
    assert_eq!(set.len() as u64, sp.raw_configurations());
}
