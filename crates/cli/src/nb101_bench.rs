//! Side-by-side speed measurements of the NB-101 engine on one data file (`nb1s1 nb101 bench`):
//! raw read vs convert, store open, queries by hash and by spec, and a full scan. It lives with
//! the binary, not in `nasbench101`: it is a harness around the library, not its semantics.

use nasbench101::{Api, ModelHash, ModelSpec, Nb101, Nb101Error, OpenOptions, RepeatSampler};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rounds of (read, convert) behind the convert figures, unless asked otherwise.
pub const CONVERT_ROUNDS: usize = 5;

/// Measured figures (seconds unless named otherwise).
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchReport {
    pub tfrecord: String,
    pub tfrecord_bytes: u64,
    pub store_bytes: u64,
    pub models: usize,
    pub runs: u64,
    pub synthetic: bool,
    /// Warm read of the whole tfrecord into a sink (what `cat file > /dev/null` does);
    /// median over the rounds.
    pub read_s: f64,
    /// `convert`: tfrecord → store, CRCs checked, store written atomically with fsync;
    /// median over the rounds, each right after its read.
    pub convert_s: f64,
    /// CPU seconds of all threads per convert (median).
    pub convert_cpu_s: f64,
    /// Median over the rounds of convert time / read time.
    pub convert_ratio_median: f64,
    /// First and third quartile of the per-round ratios (the spread on a busy machine).
    pub convert_ratio_quartiles: (f64, f64),
    /// Rounds of (read, convert).
    pub convert_rounds: usize,
    /// Opening the tfrecord (parse into memory, nothing written): wall, and CPU seconds of
    /// all threads.
    pub parse_s: f64,
    pub parse_cpu_s: f64,
    /// Physical reference for the write part: the same number of bytes (zeros) written
    /// atomically with fsync, next to the store.
    pub write_reference_s: f64,
    /// Median of 25 store opens.
    pub open_store_median_s: f64,
    /// Median per query by hash (lookup + one repeat read).
    pub query_by_hash_median_s: f64,
    /// Median per `Api::query` by spec, first sighting of each cell (check, graph hash, lookup,
    /// repeat).
    pub query_by_spec_cold_median_s: f64,
    /// Median per `Api::query` by spec for cells queried before (hash cache hit).
    pub query_by_spec_median_s: f64,
    /// CPU seconds per `query` by spec (mean; robust when the machine is shared).
    pub query_by_spec_cpu_s: f64,
    /// CPU seconds per `ModelSpec::hash` (check + graph hash) of the same cells (mean).
    pub spec_hash_cpu_s: f64,
    /// Mean final test accuracy at 108 epochs over every model and repeat.
    pub scan_s: f64,
    pub scan_mean_test_accuracy: f64,
    /// Peak resident memory of this process (VmHWM) after the measurements, bytes.
    pub peak_rss_bytes: u64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    quantile(&v, 0.5)
}

/// The `q` quantile of `sorted` (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let k = ((sorted.len().saturating_sub(1)) as f64 * q).round() as usize;
    sorted.get(k).copied().unwrap_or(f64::NAN)
}

/// Time to read `path` through a 128 KiB buffer, GNU cat's (second of two passes, so the
/// cache is warm).
pub fn read_time(path: &Path) -> std::io::Result<Duration> {
    let mut buf = vec![0u8; 128 << 10];
    let mut last = Duration::ZERO;
    for _ in 0..2 {
        let t = Instant::now();
        let mut f = std::fs::File::open(path)?;
        while f.read(&mut buf)? > 0 {}
        last = t.elapsed();
    }
    Ok(last)
}

/// CPU seconds (user + system, all threads) this process used so far, to the nanosecond
/// (`/proc/self/stat` counts in 10 ms ticks, too coarse for per-call figures).
pub fn process_cpu_s() -> f64 {
    cpu_time::ProcessTime::try_now().map_or(f64::NAN, |t| t.as_duration().as_secs_f64())
}

/// Peak resident set size of this process from `/proc/self/status` (0 where unavailable).
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Mean final test accuracy over every model and repeat at `epochs`.
pub fn scan_mean_test_accuracy(db: &Nb101, epochs: u32) -> f64 {
    let (mut sum, mut n) = (0.0, 0u64);
    db.scan(epochs, 7, |_, _, v| {
        sum += v;
        n += 1;
    });
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

/// Per-item median over batches of `batch` calls.
fn per_call_median(samples: usize, batch: usize, mut f: impl FnMut(usize)) -> f64 {
    let batches = (samples / batch).max(1);
    let mut times = Vec::with_capacity(batches);
    for b in 0..batches {
        let t = Instant::now();
        for i in 0..batch {
            f(b * batch + i);
        }
        times.push(t.elapsed().as_secs_f64() / batch as f64);
    }
    median(times)
}

/// Removes `path` if it exists.
fn remove_if_present(path: &Path) -> Result<(), Nb101Error> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(Nb101Error::Io {
            path: path.to_path_buf(),
            error,
        }),
        _ => Ok(()),
    }
}

/// Runs every measurement: converts `tfrecord` into `store` in `rounds` rounds (at least
/// one), each after a read of the file, then times the store.
pub fn run(
    tfrecord: &Path,
    store: &Path,
    samples: usize,
    rounds: usize,
) -> Result<BenchReport, Nb101Error> {
    let rounds = rounds.max(1);
    let io = |error| Nb101Error::Io {
        path: tfrecord.to_path_buf(),
        error,
    };
    let tfrecord_bytes = std::fs::metadata(tfrecord).map_err(io)?.len();
    // Rounds of (read, convert) side by side, so both see the same machine state.
    let mut reads = Vec::new();
    let mut converts = Vec::new();
    let mut convert_cpus = Vec::new();
    let mut ratios = Vec::new();
    for _ in 0..rounds {
        // Each convert writes a new file, as a first convert does (and as the write reference
        // below does): replacing the last round's store would add the freeing of its blocks
        // and cached pages (15-50 ms on ext4) to the rename.
        remove_if_present(store)?;
        let read = read_time(tfrecord).map_err(io)?.as_secs_f64();
        let cpu0 = process_cpu_s();
        let t = Instant::now();
        nasbench101::convert(tfrecord, store, OpenOptions::default(), None)?;
        let convert = t.elapsed().as_secs_f64();
        convert_cpus.push(process_cpu_s() - cpu0);
        reads.push(read);
        converts.push(convert);
        ratios.push(convert / read);
    }
    let (read_s, convert_s) = (median(reads), median(converts));
    ratios.sort_by(f64::total_cmp);
    let convert_ratio_quartiles = (quantile(&ratios, 0.25), quantile(&ratios, 0.75));
    let (convert_cpu_s, convert_ratio_median) = (median(convert_cpus), quantile(&ratios, 0.5));
    // Opening a tfrecord parses it into memory (no file written).
    let (parse_s, parse_cpu_s) = {
        let cpu0 = process_cpu_s();
        let t = Instant::now();
        let db = Nb101::open_with(tfrecord, OpenOptions::default(), None)?;
        let parse = (t.elapsed().as_secs_f64(), process_cpu_s() - cpu0);
        drop(db);
        parse
    };
    let store_len = std::fs::metadata(store)
        .map_err(|error| Nb101Error::Io {
            path: store.to_path_buf(),
            error,
        })?
        .len();
    let write_reference_s = {
        let zeros = vec![0u8; store_len as usize];
        let mut name = store.as_os_str().to_os_string();
        name.push(".write-reference");
        let reference = std::path::PathBuf::from(name);
        let t = Instant::now();
        let written = nasbench101::atomic_write(&reference, &zeros);
        let s = t.elapsed().as_secs_f64();
        let _ = std::fs::remove_file(&reference);
        written.map_err(|error| Nb101Error::Io {
            path: reference,
            error,
        })?;
        s
    };
    let mut opens = Vec::new();
    for _ in 0..25 {
        let t = Instant::now();
        let db = Nb101::open(store)?;
        opens.push(t.elapsed().as_secs_f64());
        drop(db);
    }
    let db = Arc::new(Nb101::open(store)?);
    let n = db.len().max(1);
    // Pseudo-random model choices, fixed so runs compare.
    let pick = |i: usize| (i.wrapping_mul(2_654_435_761) ^ (i >> 3)) % n;
    let hashes: Vec<ModelHash> = (0..samples.min(100_000))
        .filter_map(|i| db.model_at(pick(i)).map(|m| m.hash()))
        .collect();
    // Only cells whose true hash is the stored key (files generated without true hashes
    // have none, and the spec figure is then reported as n/a).
    let specs: Vec<ModelSpec> = (0..samples.min(20_000))
        .filter_map(|i| {
            let m = db.model_at(pick(i))?;
            let spec = m.spec().ok()?;
            (spec.hash().ok()? == m.hash()).then_some(spec)
        })
        .collect();
    let epochs = db.epochs().last().copied().unwrap_or(108);
    let mut sink = 0.0;
    let query_by_hash_median_s = if hashes.is_empty() {
        f64::NAN
    } else {
        per_call_median(samples, 1000, |i| {
            if let Some(m) = db.model(&hashes[i % hashes.len()]) {
                if let Ok(p) = m.repeat(epochs, i % 3 % m.repeat_count(epochs).max(1)) {
                    sink += p.final_test_accuracy;
                }
            }
        })
    };
    // Cold: every cell seen for the first time (graph hash computed).
    let mut api = Api::with_sampler(Arc::clone(&db), RepeatSampler::fast(1));
    let query_by_spec_cold_median_s = if specs.is_empty() {
        f64::NAN
    } else {
        per_call_median(specs.len(), 200, |i| {
            if let Ok(r) = api.query(&specs[i % specs.len()], epochs, false) {
                sink += r.test_accuracy;
            }
        })
    };
    // Warm: the same cells again (hash cache hits), as when a search revisits cells.
    let query_by_spec_median_s = if specs.is_empty() {
        f64::NAN
    } else {
        per_call_median(samples, 200, |i| {
            if let Ok(r) = api.query(&specs[i % specs.len()], epochs, false) {
                sink += r.test_accuracy;
            }
        })
    };
    let cpu_per = |f: &mut dyn FnMut(usize)| {
        if specs.is_empty() {
            return f64::NAN;
        }
        let reps = samples.max(1);
        let c0 = process_cpu_s();
        for i in 0..reps {
            f(i);
        }
        (process_cpu_s() - c0) / reps as f64
    };
    let query_by_spec_cpu_s = cpu_per(&mut |i| {
        if let Ok(r) = api.query(&specs[i % specs.len()], epochs, false) {
            sink += r.test_accuracy;
        }
    });
    let spec_hash_cpu_s = cpu_per(&mut |i| {
        if let Ok(h) = specs[i % specs.len()].hash() {
            sink += f64::from(h.0[0]);
        }
    });
    let t = Instant::now();
    let scan_mean_test_accuracy = scan_mean_test_accuracy(&db, 108);
    let scan_s = t.elapsed().as_secs_f64();
    std::hint::black_box(sink);
    Ok(BenchReport {
        tfrecord: tfrecord.display().to_string(),
        tfrecord_bytes,
        store_bytes: db.store_bytes().len() as u64,
        models: db.len(),
        runs: db.num_datapoints(),
        synthetic: db.is_synthetic(),
        read_s,
        convert_s,
        convert_cpu_s,
        convert_ratio_median,
        convert_ratio_quartiles,
        convert_rounds: rounds,
        parse_s,
        parse_cpu_s,
        write_reference_s,
        open_store_median_s: median(opens),
        query_by_hash_median_s,
        query_by_spec_cold_median_s,
        query_by_spec_median_s,
        query_by_spec_cpu_s,
        spec_hash_cpu_s,
        scan_s,
        scan_mean_test_accuracy,
        peak_rss_bytes: peak_rss_bytes(),
    })
}

impl BenchReport {
    /// A markdown table of the figures.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "{}: {} ({} bytes), {} models, {} runs; store {} bytes\n\n",
            if self.synthetic { "SYNTHETIC" } else { "data" },
            self.tfrecord,
            self.tfrecord_bytes,
            self.models,
            self.runs,
            self.store_bytes
        ));
        s.push_str("| measurement | value | target |\n|---|---|---|\n");
        s.push_str(&format!(
            "| read tfrecord (warm, like cat > /dev/null; median of {}) | {:.3} s | |\n",
            self.convert_rounds, self.read_s
        ));
        s.push_str(&format!(
            "| convert tfrecord → store, fsync included (median of {}) | {:.3} s, CPU {:.3} s | |\n",
            self.convert_rounds, self.convert_s, self.convert_cpu_s
        ));
        s.push_str(&format!(
            "| convert / read, per round (median; quartiles) | {:.2}x ({:.2}x-{:.2}x) | ≤ 3x |\n",
            self.convert_ratio_median,
            self.convert_ratio_quartiles.0,
            self.convert_ratio_quartiles.1
        ));
        s.push_str(&format!(
            "| open the tfrecord instead (parse into memory; wall / CPU) | {:.3} s / {:.3} s | |\n",
            self.parse_s, self.parse_cpu_s
        ));
        s.push_str(&format!(
            "| writing as many zeros as the store, atomically with fsync | {:.3} s | |\n",
            self.write_reference_s
        ));
        s.push_str(&format!(
            "| open store (median of 25) | {:.3} ms | < 20 ms |\n",
            self.open_store_median_s * 1e3
        ));
        s.push_str(&format!(
            "| query by hash (median) | {:.3} µs | < 1 µs |\n",
            self.query_by_hash_median_s * 1e6
        ));
        if self.query_by_spec_median_s.is_nan() {
            s.push_str(
                "| query by spec, hash included (median) | n/a (random hashes) | < 10 µs |\n",
            );
        } else {
            s.push_str(&format!(
                "| query by spec, first sighting, graph hash computed (median) | {:.3} µs | < 10 µs |\n",
                self.query_by_spec_cold_median_s * 1e6
            ));
            s.push_str(&format!(
                "| query by spec, revisited cell, hash cached (median) | {:.3} µs | < 10 µs |\n",
                self.query_by_spec_median_s * 1e6
            ));
        }
        if !self.query_by_spec_cpu_s.is_nan() {
            s.push_str(&format!(
                "| query by spec, revisited, CPU time per call (mean) | {:.3} µs | < 10 µs |\n",
                self.query_by_spec_cpu_s * 1e6
            ));
            s.push_str(&format!(
                "| check + graph hash alone, uncached (CPU, mean) | {:.3} µs | |\n",
                self.spec_hash_cpu_s * 1e6
            ));
        }
        s.push_str(&format!(
            "| scan: mean test accuracy at 108 epochs | {:.1} ms (mean {:.6}) | < 100 ms |\n",
            self.scan_s * 1e3,
            self.scan_mean_test_accuracy
        ));
        s.push_str(&format!(
            "| peak RSS of the bench process (includes convert) | {:.1} MiB | |\n",
            self.peak_rss_bytes as f64 / (1 << 20) as f64
        ));
        s
    }
}
