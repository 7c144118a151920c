//! The recorder: a run folder in the run format `nb1s1 search` writes (`run.json`,
//! `status.json`, `epochs.jsonl`), filled epoch by epoch from architecture weights computed
//! anywhere. Each epoch is discretized with the supernet's rule, looked up in NAS-Bench-101
//! (every repeat at 108 epochs, and the other budgets where the file has them) and its regret
//! computed at 108 epochs as the search does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use nasbench101::Nb101;
use runfmt::{
    read_jsonl, BudgetErrors, EpochRecord, ExternalKind, ExternalOrigin, ExternalRunMeta, RunDir,
    RunLock, RunMeta, RunStatus, SafeName, StatusFile,
};
use searchspace::{
    discretize_weights, ArchitectureWeights, Reference, SearchSpace, SpaceId, SpaceTable, TopKTies,
};

use crate::error::RecordError;

/// A NAS-Bench-101 table and the regret references of the spaces computed over it.
#[derive(Clone)]
pub struct Lookup {
    path: PathBuf,
    nb: Arc<Nb101>,
    references: BTreeMap<u8, Reference>,
}

impl Lookup {
    /// Opens the file (a converted store or the official tfrecord).
    pub fn open(path: &Path) -> Result<Self, RecordError> {
        let nb = Nb101::open(path).map_err(|source| RecordError::Nb101 {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Lookup {
            path: path.to_path_buf(),
            nb: Arc::new(nb),
            references: BTreeMap::new(),
        })
    }

    /// An open table (a synthetic one, in tests and demos).
    pub fn new(nb: Nb101) -> Self {
        Lookup {
            path: nb.path().to_path_buf(),
            nb: Arc::new(nb),
            references: BTreeMap::new(),
        }
    }

    /// A table already open elsewhere (the Python wheel's `Store`).
    pub fn shared(nb: Arc<Nb101>) -> Self {
        Lookup {
            path: nb.path().to_path_buf(),
            nb,
            references: BTreeMap::new(),
        }
    }

    /// The space's reference: its best single repeat at 108 epochs over every unique model in
    /// this table (as `nb1s1 search`), or the paper's constants with `original`.
    pub fn reference(&mut self, space: SpaceId, original: bool) -> Result<Reference, RecordError> {
        if original {
            return Ok(Reference::original(space));
        }
        if let Some(r) = self.references.get(&space.number()) {
            return Ok(r.clone());
        }
        let table = SpaceTable::build(&SearchSpace::new(space), &self.nb).map_err(|source| {
            RecordError::Table {
                path: self.path.clone(),
                source,
            }
        })?;
        let r = table.reference(108);
        self.references.insert(space.number(), r.clone());
        Ok(r)
    }

    /// The cell's numbers: every repeat at 108 epochs and every other budget the table holds
    /// (empty when the table lacks the cell).
    pub fn cell(&self, hash: &nasbench101::ModelHash) -> Result<CellNumbers, RecordError> {
        let Some(model) = self.nb.model(hash) else {
            return Ok(CellNumbers::default());
        };
        let mut other_budgets: BTreeMap<u32, BudgetErrors> = model
            .computed_stats()
            .into_iter()
            .map(|(epochs, reps)| (epochs, budget_errors(&reps)))
            .collect();
        let at_108 = other_budgets
            .remove(&108)
            .ok_or_else(|| RecordError::Input {
                path: self.path.clone(),
                message: format!(
                    "model {hash} has no repeats at 108 epochs (budgets in the file: {:?})",
                    self.nb.epochs()
                ),
            })?;
        Ok(CellNumbers {
            at_108,
            other_budgets,
        })
    }
}

/// A cell's NAS-Bench-101 numbers: the 108-epoch budget regret is computed from, and the
/// others (4, 12 and 36 epochs in `nasbench_full`) where the table holds them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CellNumbers {
    pub at_108: BudgetErrors,
    pub other_budgets: BTreeMap<u32, BudgetErrors>,
}

fn budget_errors(reps: &[nasbench101::DataPoint]) -> BudgetErrors {
    let seconds: Vec<f64> = reps.iter().map(|d| d.final_training_time).collect();
    BudgetErrors {
        valid_errors: reps
            .iter()
            .map(|d| 1.0 - d.final_validation_accuracy)
            .collect(),
        test_errors: reps.iter().map(|d| 1.0 - d.final_test_accuracy).collect(),
        train_seconds: mean(&seconds),
    }
}

/// What a recorded run is.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub space: SpaceId,
    /// The method's name, under which the store and the report show it.
    pub method: String,
    pub seed: u64,
    /// The method's settings, kept in `run.json`.
    pub settings: serde_json::Value,
    pub ties: TopKTies,
    /// Regret against the paper's constants instead of the table's own minima.
    pub original_reference: bool,
    /// Epochs the method plans (0 when unknown), for `status.json`.
    pub epochs_total: usize,
    pub kind: ExternalKind,
    pub source: Option<String>,
}

/// An open recorded run: holds the folder's lock until dropped.
pub struct Recorder {
    dir: RunDir,
    space: SearchSpace,
    ties: TopKTies,
    reference: Reference,
    lookup: Lookup,
    next_epoch: usize,
    epochs_total: usize,
    complete: bool,
    last: Instant,
    _lock: RunLock,
}

impl Recorder {
    /// Creates the run folder, or reopens it to continue after its last recorded epoch. A
    /// folder of another method, space or seed is refused.
    pub fn open(root: &Path, spec: &RunSpec, mut lookup: Lookup) -> Result<Self, RecordError> {
        let bad = |message: String| RecordError::Run {
            path: root.to_path_buf(),
            message,
        };
        SafeName::new("method", &spec.method).map_err(|e| bad(e.to_string()))?;
        let dir = RunDir::create(root)?;
        let lock = RunLock::acquire(root)?;
        let reference = lookup.reference(spec.space, spec.original_reference)?;
        let meta_path = root.join("run.json");
        let (records, complete) = if meta_path.exists() {
            let old: ExternalRunMeta = runfmt::read_json(&meta_path)?;
            check_same(&old, spec, &reference).map_err(bad)?;
            cut_torn_tail(&dir.epochs_path())?;
            let records: Vec<EpochRecord> = read_jsonl(&dir.epochs_path()).or_else(|e| {
                if dir.epochs_path().exists() {
                    Err(e)
                } else {
                    Ok(Vec::new())
                }
            })?;
            runfmt::check_epoch_order(&dir.epochs_path(), &records)?;
            let status: Option<StatusFile> = runfmt::read_json_opt(&root.join("status.json"))?;
            let complete = status.is_some_and(|s| s.status == RunStatus::Complete);
            (records, complete)
        } else {
            let meta = ExternalRunMeta {
                run: RunMeta {
                    optimizer: spec.method.clone(),
                    space: spec.space,
                    seed: spec.seed,
                    // What the store and the report tell external runs by.
                    device: match spec.kind {
                        ExternalKind::Recorded => "external (recorded)".into(),
                        ExternalKind::Imported => "external (imported)".into(),
                    },
                    epochs: spec.epochs_total,
                    cifar10: String::new(),
                    nb101_path: Some(lookup.path.display().to_string()),
                    nb101_synthetic: Some(lookup.nb.is_synthetic()),
                    nb101_fingerprint: Some(lookup.nb.fingerprint()),
                    regret_reference: Some(reference.clone()),
                    nb1s1_version: env!("CARGO_PKG_VERSION").to_string(),
                    // The composition is the external method's own; its settings are below.
                    method: None,
                },
                external: ExternalOrigin {
                    kind: spec.kind,
                    source: spec.source.clone(),
                    ties: spec.ties,
                    settings: spec.settings.clone(),
                },
            };
            dir.write_json("run.json", &meta)?;
            (Vec::new(), false)
        };
        let rec = Recorder {
            dir,
            space: SearchSpace::new(spec.space),
            ties: spec.ties,
            reference,
            lookup,
            next_epoch: records.len(),
            epochs_total: spec.epochs_total,
            complete,
            last: Instant::now(),
            _lock: lock,
        };
        if !complete {
            rec.write_status(RunStatus::Running)?;
        }
        Ok(rec)
    }

    /// The epoch the next [`Recorder::record`] must carry.
    pub fn next_epoch(&self) -> usize {
        self.next_epoch
    }

    /// Whether [`Recorder::finish`] was called (now or before a reopen).
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The run folder.
    pub fn root(&self) -> &Path {
        &self.dir.root
    }

    /// Discretizes `weights`, looks the cell up, appends the epoch's record and returns it.
    /// `metrics` may carry `one_shot_valid_error`, `train_loss`, `train_accuracy`, `lr` and
    /// `seconds` (their record fields; NaN when absent, the time since the previous record for
    /// `seconds`); every other entry goes to the record's open metrics.
    pub fn record(
        &mut self,
        epoch: usize,
        weights: &ArchitectureWeights,
        mut metrics: BTreeMap<String, f64>,
    ) -> Result<EpochRecord, RecordError> {
        let path = self.dir.epochs_path();
        let bad = |message: String| RecordError::Run {
            path: path.clone(),
            message,
        };
        if self.complete {
            return Err(bad(format!(
                "epoch {epoch}: the run is complete (finish() was called)"
            )));
        }
        if epoch < self.next_epoch {
            return Err(bad(format!("epoch {epoch} is already recorded (a repeat)")));
        }
        if epoch > self.next_epoch {
            return Err(bad(format!(
                "epoch {epoch} after epoch {} leaves a gap: epochs are recorded 0, 1, 2, …",
                self.next_epoch as i64 - 1
            )));
        }
        if let Some((name, v)) = metrics.iter().find(|(_, v)| !v.is_finite()) {
            return Err(bad(format!("epoch {epoch}: metric {name} is {v}")));
        }
        let architecture = discretize_weights(&self.space, weights, self.ties)
            .map_err(|source| RecordError::Discretize { epoch, source })?;
        let hash = architecture.hash().ok();
        let CellNumbers {
            at_108,
            other_budgets,
        } = match &hash {
            Some(h) => self.lookup.cell(h)?,
            None => CellNumbers::default(),
        };
        let BudgetErrors {
            valid_errors,
            test_errors,
            train_seconds,
        } = at_108;
        let mut field = |name: &str| metrics.remove(name).unwrap_or(f64::NAN);
        let (one_shot, loss, acc, lr) = (
            field("one_shot_valid_error"),
            field("train_loss"),
            field("train_accuracy"),
            field("lr"),
        );
        let elapsed = metrics
            .remove("seconds")
            .unwrap_or_else(|| self.last.elapsed().as_secs_f64());
        let rec = EpochRecord {
            epoch,
            nb101_hash: hash.map(|h| h.to_string()),
            valid_regret: regret(&valid_errors, self.reference.min_valid_error),
            test_regret: regret(&test_errors, self.reference.min_test_error),
            nb101_train_seconds: train_seconds,
            other_budgets,
            architecture,
            valid_errors,
            test_errors,
            one_shot_valid_error: one_shot,
            train_loss: loss,
            train_accuracy: acc,
            lr,
            metrics,
            arch_weights: Some(weights_json(&self.space, weights)),
            seconds: elapsed,
        };
        self.dir.append_epoch(&rec)?;
        self.next_epoch += 1;
        self.last = Instant::now();
        self.write_status(RunStatus::Running)?;
        Ok(rec)
    }

    /// Marks the run complete after its last recorded epoch.
    pub fn finish(&mut self) -> Result<(), RecordError> {
        self.complete = true;
        self.epochs_total = self.next_epoch;
        self.write_status(RunStatus::Complete)
    }

    fn write_status(&self, status: RunStatus) -> Result<(), RecordError> {
        Ok(self.dir.write_status(&StatusFile {
            status,
            message: String::new(),
            epochs_done: self.next_epoch,
            epochs_total: self.epochs_total.max(self.next_epoch),
            updated_unix: runfmt::now_unix(),
        })?)
    }
}

/// A reopened folder must be the same run.
fn check_same(
    old: &ExternalRunMeta,
    spec: &RunSpec,
    reference: &searchspace::Reference,
) -> Result<(), String> {
    let diff = |field: &str, was: String, now: String| {
        Err(format!(
            "run.json holds {field} {was}, not {now}: reopen it with the same values or record \
             into another folder"
        ))
    };
    if old.run.optimizer != spec.method {
        return diff("method", old.run.optimizer.clone(), spec.method.clone());
    }
    if old.run.space != spec.space {
        return diff("space", old.run.space.to_string(), spec.space.to_string());
    }
    if old.run.seed != spec.seed {
        return diff("seed", old.run.seed.to_string(), spec.seed.to_string());
    }
    if old.external.ties != spec.ties {
        return diff(
            "ties",
            format!("{:?}", old.external.ties),
            format!("{:?}", spec.ties),
        );
    }
    // Regrets measured against another reference (another table, or the paper's constants
    // instead of the table's) would not be comparable with the epochs already recorded.
    if old.run.regret_reference.as_ref() != Some(reference) {
        return diff(
            "another regret reference",
            "(its NAS-Bench-101 table or --original-reference)".into(),
            "the one of this table and setting".into(),
        );
    }
    Ok(())
}

/// The weights as the search's records keep them (`arch_json`): softmax-normalised rows,
/// the inputs keyed by node.
fn weights_json(space: &SearchSpace, w: &ArchitectureWeights) -> serde_json::Value {
    use searchspace::discretize::softmax_f32;
    let inputs: serde_json::Map<String, serde_json::Value> = space
        .edge_weight_nodes()
        .iter()
        .zip(&w.inputs)
        .map(|(node, v)| (node.to_string(), serde_json::json!([softmax_f32(v)])))
        .collect();
    serde_json::json!({
        "ops": w.ops.iter().map(|r| softmax_f32(r)).collect::<Vec<_>>(),
        "output": [softmax_f32(&w.output)],
        "inputs": inputs,
    })
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Mean of the repeats minus the reference, as `nb1s1 search`; `None` without repeats.
fn regret(errors: &[f64], reference: f64) -> Option<f64> {
    mean(errors).map(|m| m - reference)
}

/// A kill during an append can leave the last record without its newline. Cuts the file back
/// to its complete lines, so the next append starts a line of its own; the cut epoch is then
/// the one the recorder expects next, and the caller records it again.
fn cut_torn_tail(path: &Path) -> Result<(), RecordError> {
    let bytes = match nb1s1_fsio::read_limited(path, MAX_EPOCHS_BYTES) {
        Ok(b) => b,
        Err(nb1s1_fsio::FsioError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(())
        }
        Err(e) => return Err(e.into()),
    };
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return Ok(());
    }
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    runfmt::write_atomic(path, &bytes[..keep])?;
    Ok(())
}

/// `epochs.jsonl` of a recorded run: a few KiB an epoch, so this bounds thousands of epochs.
const MAX_EPOCHS_BYTES: u64 = 1 << 30;
