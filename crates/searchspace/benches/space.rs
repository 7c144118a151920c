//! Exhaustive enumeration and analysis speed: every configuration of a space pruned, hashed
//! (once per distinct graph), looked up in an NB-101 table and aggregated.

use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use searchspace::{synthetic, ModelIndex, SearchSpace, SpaceId, SpaceTable};

fn enumerate(c: &mut Criterion) {
    let mut g = c.benchmark_group("enumerate");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    for space in SpaceId::ALL {
        let sp = SearchSpace::new(space);
        g.bench_function(format!("model_index_space{space}"), |b| {
            b.iter(|| ModelIndex::build(&sp))
        });
    }
    g.finish();
}

fn analyse(c: &mut Criterion) {
    let mut g = c.benchmark_group("stats");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    let sp = SearchSpace::new(SpaceId::Three);
    let nb = synthetic::space_table(&sp, &[108], 0, Path::new("synthetic-s3")).expect("table");
    // Everything `nb1s1 space stats` does after opening the file.
    g.bench_function("index_lookup_aggregate_space3", |b| {
        b.iter(|| {
            let table = SpaceTable::build(&sp, &nb).expect("table");
            table.stats(40)
        })
    });
    g.finish();
}

criterion_group!(benches, enumerate, analyse);
criterion_main!(benches);
