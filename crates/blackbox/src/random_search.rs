//! Random search: uniform architectures (with loose ends) at the full budget.

use rand_chacha::ChaCha8Rng;

use crate::benchmark::QueryError;
use crate::trajectory::Tracker;

/// Runs random search until the tracker's budget is spent.
pub fn run(tracker: &mut Tracker<'_>, rng: &mut ChaCha8Rng) -> Result<(), QueryError> {
    let bench = tracker.bench();
    let epochs = bench.max_budget();
    while !tracker.done() {
        let arch = bench.space().sample(rng);
        tracker.evaluate(&arch, epochs, rng)?;
    }
    Ok(())
}
