//! Whole-file consistency checks worth running once on the real files (spec §7.3): every
//! stored hash equals the graph hash recomputed from the stored cell, every stored cell is
//! valid and already pruned, and every model has the same number of repeats per budget.

use crate::dataset::Nb101;
use crate::hash::ModelHash;
use rayon::prelude::*;
use std::collections::BTreeMap;

/// What [`audit`] found.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct AuditReport {
    pub models: usize,
    /// Models whose stored hash differs from the recomputed one (first 100).
    pub hash_mismatches: Vec<ModelHash>,
    pub hash_mismatch_count: usize,
    /// Models whose stored cell fails the official checks or is not in pruned form (first 100).
    pub invalid_cells: Vec<ModelHash>,
    pub invalid_cell_count: usize,
    /// (epochs, repeats) → number of models with that many repeats at that budget.
    pub repeat_histogram: BTreeMap<String, usize>,
    /// Number of models per vertex count.
    pub vertex_histogram: BTreeMap<usize, usize>,
}

impl AuditReport {
    /// True when nothing is inconsistent.
    pub fn is_clean(&self) -> bool {
        self.hash_mismatch_count == 0 && self.invalid_cell_count == 0
    }
}

/// Checks every model of `db` (in parallel).
pub fn audit(db: &Nb101) -> AuditReport {
    let results: Vec<(ModelHash, bool, bool, usize, Vec<usize>)> = (0..db.len())
        .into_par_iter()
        .filter_map(|i| {
            let m = db.model_at(i)?;
            let spec = m.spec();
            let (hash_ok, cell_ok) = match &spec {
                Ok(s) => {
                    let pruned_same = s.pruned_matrix() == Some(s.original_matrix())
                        && s.pruned_ops() == Some(s.original_ops());
                    match s.hash() {
                        Ok(h) => (h == m.hash(), pruned_same),
                        Err(_) => (false, false),
                    }
                }
                Err(_) => (false, false),
            };
            let counts = db.epochs().iter().map(|&e| m.repeat_count(e)).collect();
            Some((m.hash(), hash_ok, cell_ok, m.num_vertices(), counts))
        })
        .collect();
    let mut r = AuditReport {
        models: results.len(),
        ..AuditReport::default()
    };
    for (h, hash_ok, cell_ok, nv, counts) in results {
        if !hash_ok {
            r.hash_mismatch_count += 1;
            if r.hash_mismatches.len() < 100 {
                r.hash_mismatches.push(h);
            }
        }
        if !cell_ok {
            r.invalid_cell_count += 1;
            if r.invalid_cells.len() < 100 {
                r.invalid_cells.push(h);
            }
        }
        *r.vertex_histogram.entry(nv).or_default() += 1;
        for (e, c) in db.epochs().iter().zip(counts) {
            *r.repeat_histogram
                .entry(format!("{e} epochs x {c} repeats"))
                .or_default() += 1;
        }
    }
    r
}
