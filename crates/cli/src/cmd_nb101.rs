//! `nb1s1 nb101`: convert, inspect, query, hash and validate NAS-Bench-101 data, generate
//! synthetic files, and benchmark the engine. The machine contract (`--json`) is documented in
//! docs/nb101-cli.md.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use nasbench101::{
    atomic_write_with, Api, ModelHash, ModelSpec, Nb101, OpenOptions, RepeatSampler, SpecError,
};
use nb1s1_synthetic::{
    generate, generate_from_specs, GenerateConfig, FULL_BUDGETS, ONLY108_BUDGETS,
};
use serde_json::{json, Value};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Arguments of `nb1s1 nb101`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert an official tfrecord into the compact store (bit-identical values).
    Convert(ConvertArgs),
    /// Describe a data file (tfrecord or store).
    Info(InfoArgs),
    /// Query specs (or hashes) like the official API.
    Query(QueryArgs),
    /// Print the graph hash of specs.
    Hash(SpecArgs),
    /// Check specs against the official rules; print the pruned cell and hash.
    Validate(SpecArgs),
    /// Trainable parameters of the NB-101 network of specs, computed without a table.
    Params(ParamsArgs),
    /// Write a SYNTHETIC data file in the official tfrecord format.
    Generate(GenerateArgs),
    /// Measure convert, open, query and scan speed on a tfrecord (and its store).
    Bench(BenchArgs),
}

#[derive(Parser)]
struct ConvertArgs {
    /// Official-format tfrecord to read.
    input: PathBuf,
    /// Store file to write (atomically).
    output: PathBuf,
    /// Skip the payload CRC check (the length CRC is always checked).
    #[arg(long)]
    no_verify_crc: bool,
}

#[derive(Parser)]
struct DataArg {
    /// The data file: a tfrecord or a store.
    #[arg(long = "nb101", env = "NB1S1_NB101")]
    nb101: PathBuf,
}

#[derive(Parser)]
struct InfoArgs {
    #[command(flatten)]
    data: DataArg,
    /// Also check the store's data checksum.
    #[arg(long)]
    verify: bool,
    /// Recompute every model's graph hash and check cells and repeat counts (seconds).
    #[arg(long)]
    audit: bool,
    /// Compute the file's SHA-256 and compare it with the published official files.
    #[arg(long)]
    sha256: bool,
    /// One JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Parser, Clone)]
struct SpecArgs {
    /// Adjacency matrix: flat 0/1 string (row-major) or rows separated by '/'.
    #[arg(long, requires = "ops", conflicts_with = "batch")]
    matrix: Option<String>,
    /// Comma-separated full NB-101 op names, input and output included.
    #[arg(long, requires = "matrix")]
    ops: Option<String>,
    /// JSON lines `{"matrix": [[..]], "ops": [..]}`; `-` for standard input.
    #[arg(long)]
    batch: Option<PathBuf>,
    /// One JSON object per spec, in input order.
    #[arg(long)]
    json: bool,
}

#[derive(Parser)]
struct ParamsArgs {
    /// One spec as JSON: `{"matrix": [[..]], "ops": [..]}`.
    #[arg(long, conflicts_with_all = ["matrix", "batch"])]
    spec: Option<String>,
    #[command(flatten)]
    specs: SpecArgs,
    /// Stem channels (NB-101: 128).
    #[arg(long, default_value_t = 128)]
    channels: usize,
    /// Stacks (NB-101: 3).
    #[arg(long, default_value_t = 3)]
    stacks: usize,
    /// Cells per stack (NB-101: 3).
    #[arg(long, default_value_t = 3)]
    cells: usize,
}

#[derive(Parser)]
struct QueryArgs {
    #[command(flatten)]
    data: DataArg,
    #[command(flatten)]
    spec: SpecArgs,
    /// Query a module hash directly (instead of a spec).
    #[arg(long, conflicts_with_all = ["matrix", "batch"])]
    hash: Option<String>,
    /// Epoch budget.
    #[arg(long, default_value_t = 108)]
    epochs: u32,
    /// Return the halfway values (and count half the epochs).
    #[arg(long)]
    stop_halfway: bool,
    /// Return every repeat instead of one sampled repeat.
    #[arg(long)]
    all_repeats: bool,
    /// Seed of the fast repeat sampler.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Reproduce the official API seeded with this integer (CPython MT19937 randint(0, 2)).
    #[arg(long, conflicts_with = "repeat")]
    python_seed: Option<i64>,
    /// Always return this repeat (0-based, file order).
    #[arg(long)]
    repeat: Option<usize>,
}

#[derive(Parser)]
struct GenerateArgs {
    /// Output tfrecord (written atomically).
    #[arg(long)]
    out: PathBuf,
    /// Number of models.
    #[arg(long, default_value_t = 1000)]
    models: usize,
    /// Budgets: `full` (4, 12, 36, 108) or `108`.
    #[arg(long, default_value = "full")]
    budgets: String,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Every hash is the true hash of a distinct valid spec.
    #[arg(long)]
    true_hashes: bool,
    /// Every cell keeps 7 vertices after pruning (records of the released files' size).
    #[arg(long)]
    seven_vertices: bool,
    /// One model per spec line (`{"matrix","ops"}`), duplicates by hash skipped; `-` for stdin.
    #[arg(long)]
    specs: Option<PathBuf>,
}

#[derive(Parser)]
struct BenchArgs {
    /// The tfrecord to convert and query.
    #[arg(long)]
    tfrecord: PathBuf,
    /// Where to write the store (default: the tfrecord path + ".nb101").
    #[arg(long)]
    store: Option<PathBuf>,
    /// Number of query samples for the medians.
    #[arg(long, default_value_t = 20000)]
    samples: usize,
    /// Rounds of (read, convert) behind the convert figures (more give steadier medians on a
    /// busy machine).
    #[arg(long, default_value_t = crate::nb101_bench::CONVERT_ROUNDS as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    rounds: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Convert(a) => convert(a),
        Command::Info(a) => info(a),
        Command::Query(a) => query(a),
        Command::Hash(a) => hash_cmd(a),
        Command::Validate(a) => validate(a),
        Command::Params(a) => params_cmd(a),
        Command::Generate(a) => generate_cmd(a),
        Command::Bench(a) => bench(a),
    }
}

const SYNTHETIC_BANNER: &str = "SYNTHETIC DATA: not real NAS-Bench-101 results";

fn bytes_bar(len: u64, msg: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(msg);
    bar
}

fn open_data(path: &Path) -> anyhow::Result<Nb101> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("{}: cannot read", path.display()))?
        .len();
    let bar = bytes_bar(len, "reading");
    let mut cb = |done: u64| bar.set_position(done);
    let db = Nb101::open_with(path, OpenOptions::default(), Some(&mut cb))?;
    bar.finish_and_clear();
    Ok(db)
}

fn convert(a: ConvertArgs) -> anyhow::Result<()> {
    let t = std::time::Instant::now();
    let len = std::fs::metadata(&a.input)
        .with_context(|| format!("{}: cannot read", a.input.display()))?
        .len();
    let bar = bytes_bar(len, "converting");
    let mut cb = |done: u64| bar.set_position(done);
    let opts = OpenOptions {
        verify_payload_crc: !a.no_verify_crc,
        ..OpenOptions::default()
    };
    let s = nasbench101::convert(&a.input, &a.output, opts, Some(&mut cb))?;
    bar.finish_and_clear();
    if s.synthetic {
        eprintln!("{SYNTHETIC_BANNER}");
    }
    eprintln!(
        "wrote {}: {} models, {} runs, budgets {:?}, values {} ({} bytes, {:.2} s)",
        a.output.display(),
        s.models,
        s.runs,
        s.epochs,
        if s.f32_values { "f32 (exact)" } else { "f64" },
        s.store_bytes,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn info(a: InfoArgs) -> anyhow::Result<()> {
    let db = open_data(&a.data.nb101)?;
    if a.verify {
        db.verify()?;
    }
    let kind = match db.source_kind() {
        nasbench101::SourceKind::Store => "store",
        nasbench101::SourceKind::TfRecord => "tfrecord",
    };
    let first = db.models().next().map(|m| m.hash().to_string());
    let audit = a.audit.then(|| nasbench101::audit::audit(&db));
    let sha = if a.sha256 {
        let len = std::fs::metadata(&a.data.nb101)
            .map(|m| m.len())
            .unwrap_or(0);
        let bar = bytes_bar(len, "sha256");
        let hex = nasbench101::official::sha256_file(&a.data.nb101, &mut |d| bar.set_position(d))
            .with_context(|| format!("{}: cannot read", a.data.nb101.display()))?;
        bar.finish_and_clear();
        Some(hex)
    } else {
        None
    };
    let official = sha
        .as_deref()
        .and_then(nasbench101::official::official_name);
    if a.json {
        let v = json!({
            "path": db.path().display().to_string(),
            "kind": kind,
            "synthetic": db.is_synthetic(),
            "models": db.len(),
            "runs": db.num_datapoints(),
            "epochs": db.epochs(),
            "values": if db.values_are_f32() { "f32" } else { "f64" },
            "first_hash": first,
            "verified": a.verify,
            "audit": audit,
            "sha256": sha,
            "official_file": official,
        });
        println!("{v}");
        return audit_result(audit.as_ref());
    }
    if db.is_synthetic() {
        println!("{SYNTHETIC_BANNER}");
    }
    println!("path        {}", db.path().display());
    println!("kind        {kind}");
    println!(
        "synthetic   {}",
        if db.is_synthetic() {
            "YES (SYNTHETIC)"
        } else {
            "no"
        }
    );
    println!("models      {}", db.len());
    println!("runs        {}", db.num_datapoints());
    println!("epochs      {:?}", db.epochs());
    println!(
        "values      {}",
        if db.values_are_f32() {
            "f32 (every value exact)"
        } else {
            "f64"
        }
    );
    if let Some(h) = first {
        println!("first hash  {h}");
    }
    if a.verify {
        println!("checksums   ok");
    }
    if let Some(h) = &sha {
        println!(
            "sha256      {h} ({})",
            official.map_or("not an official file".to_string(), |n| format!(
                "official {n}"
            ))
        );
    }
    if let Some(r) = &audit {
        println!(
            "audit       {} models, {} hash mismatch(es), {} invalid or unpruned cell(s)",
            r.models, r.hash_mismatch_count, r.invalid_cell_count
        );
        println!("vertices    {:?}", r.vertex_histogram);
        for (k, n) in &r.repeat_histogram {
            println!("repeats     {k}: {n} models");
        }
    }
    audit_result(audit.as_ref())
}

fn audit_result(r: Option<&nasbench101::audit::AuditReport>) -> anyhow::Result<()> {
    match r {
        Some(r) if !r.is_clean() => bail!(
            "audit failed: {} hash mismatch(es), {} invalid cell(s); first: {:?}",
            r.hash_mismatch_count,
            r.invalid_cell_count,
            r.hash_mismatches.first().or(r.invalid_cells.first())
        ),
        _ => Ok(()),
    }
}

/// One spec of the input, or why it could not be read.
enum SpecInput {
    Spec(ModelSpec),
    /// A `{"hash": "..."}` batch line (accepted by `query` only).
    Hash(String),
    Bad {
        code: &'static str,
        message: String,
    },
}

impl SpecInput {
    /// Hash lines are answers only `query` can give; elsewhere they are input errors.
    fn spec_only(self) -> SpecInput {
        match self {
            SpecInput::Hash(_) => SpecInput::Bad {
                code: "bad_json",
                message: "a {\"hash\"} line is accepted by `query` only".into(),
            },
            other => other,
        }
    }
}

fn parse_matrix_arg(text: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let parse_row = |r: &str| -> anyhow::Result<Vec<u8>> {
        r.trim()
            .chars()
            .map(|c| match c {
                '0' => Ok(0),
                '1' => Ok(1),
                _ => bail!("matrix: character {c:?} is not 0 or 1"),
            })
            .collect()
    };
    if text.contains('/') {
        text.split('/').map(parse_row).collect()
    } else {
        let flat = parse_row(text)?;
        let n = (flat.len() as f64).sqrt().round() as usize;
        if n * n != flat.len() || n == 0 {
            bail!("matrix: {} digits is not a square number", flat.len());
        }
        Ok(flat.chunks(n).map(<[u8]>::to_vec).collect())
    }
}

fn spec_from_json(line: &str) -> SpecInput {
    #[derive(serde::Deserialize)]
    struct Line {
        matrix: Vec<Vec<u8>>,
        ops: Vec<String>,
    }
    let value: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            return SpecInput::Bad {
                code: "bad_json",
                message: e.to_string(),
            }
        }
    };
    if value.get("matrix").is_none() {
        if let Some(h) = value.get("hash").and_then(Value::as_str) {
            return SpecInput::Hash(h.to_string());
        }
    }
    match serde_json::from_value::<Line>(value) {
        Ok(l) => match ModelSpec::new(l.matrix, l.ops) {
            Ok(s) => SpecInput::Spec(s),
            Err(e) => SpecInput::Bad {
                code: e.code(),
                message: e.to_string(),
            },
        },
        Err(e) => SpecInput::Bad {
            code: "bad_json",
            message: e.to_string(),
        },
    }
}

fn read_specs(a: &SpecArgs) -> anyhow::Result<Vec<SpecInput>> {
    if let (Some(m), Some(o)) = (&a.matrix, &a.ops) {
        let matrix = parse_matrix_arg(m)?;
        let ops = o.split(',').map(|s| s.trim().to_string()).collect();
        return Ok(vec![match ModelSpec::new(matrix, ops) {
            Ok(s) => SpecInput::Spec(s),
            Err(e) => SpecInput::Bad {
                code: e.code(),
                message: e.to_string(),
            },
        }]);
    }
    let Some(path) = &a.batch else {
        bail!("give a spec with --matrix and --ops, or many with --batch FILE.jsonl");
    };
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(path)
                .with_context(|| format!("{}: cannot open", path.display()))?,
        ))
    };
    let mut out = Vec::new();
    // Bytes, not `lines()`: a line that is not UTF-8 is that line's error, and the batch goes on.
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = line.with_context(|| format!("{}: line {}", path.display(), i + 1))?;
        let line = match String::from_utf8(line) {
            Ok(l) => l,
            Err(e) => {
                out.push(SpecInput::Bad {
                    code: "bad_json",
                    message: format!(
                        "line {} is not UTF-8 text (invalid byte at {})",
                        i + 1,
                        e.utf8_error().valid_up_to()
                    ),
                });
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        out.push(spec_from_json(&line));
    }
    Ok(out)
}

/// An error message with every echoed field cut short: a 50 MB field in a batch line is
/// reported, not printed back.
fn clip(message: &str) -> String {
    const MAX: usize = 2 * runfmt::name::MAX_ECHO_CHARS;
    if message.chars().count() <= MAX {
        return message.to_string();
    }
    let head: String = message.chars().take(MAX).collect();
    format!("{head}… (message of {} bytes shortened)", message.len())
}

fn error_json(code: &str, message: &str) -> Value {
    json!({"error": code, "message": clip(message)})
}

fn print_line(out: &mut impl Write, v: &Value) -> anyhow::Result<()> {
    writeln!(out, "{v}")?;
    Ok(())
}

/// The `validate --json` object of one input spec.
fn validate_json(s: &SpecInput) -> Value {
    let (valid, code, message, pm, po, hash) = match s {
        SpecInput::Spec(spec) => {
            let checked = spec.hash();
            (
                checked.is_ok(),
                checked.as_ref().err().map(SpecError::code),
                checked.as_ref().err().map(ToString::to_string),
                spec.pruned_matrix().map(<[Vec<u8>]>::to_vec),
                spec.pruned_ops().map(<[String]>::to_vec),
                checked.ok().map(|h| h.to_string()),
            )
        }
        SpecInput::Bad { code, message } => {
            (false, Some(*code), Some(clip(message)), None, None, None)
        }
        SpecInput::Hash(_) => (
            false,
            Some("bad_json"),
            Some("a {\"hash\"} line is accepted by `query` only".to_string()),
            None,
            None,
            None,
        ),
    };
    let mut v = json!({
        "valid": valid, "error": code, "pruned_matrix": pm,
        "pruned_ops": po, "hash": hash,
    });
    if let (Some(m), Some(obj)) = (message, v.as_object_mut()) {
        obj.insert("message".into(), Value::String(m));
    }
    v
}

fn validate(a: SpecArgs) -> anyhow::Result<()> {
    let specs = read_specs(&a)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if !a.json {
        writeln!(
            out,
            "{:<4} {:<6} {:<22} {:<34} pruned ops",
            "#", "valid", "error", "hash"
        )?;
    }
    for (i, s) in specs.into_iter().enumerate() {
        let v = validate_json(&s.spec_only());
        if a.json {
            print_line(&mut out, &v)?;
        } else {
            let valid = v["valid"].as_bool().unwrap_or(false);
            let code = v["error"].as_str();
            let hash = v["hash"].as_str();
            let po = v["pruned_ops"].as_array().map(|o| {
                o.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            });
            writeln!(
                out,
                "{:<4} {:<6} {:<22} {:<34} {}",
                i,
                if valid { "yes" } else { "no" },
                code.unwrap_or("-"),
                hash.unwrap_or("-"),
                po.unwrap_or_else(|| "-".into())
            )?;
        }
    }
    Ok(())
}

fn hash_cmd(a: SpecArgs) -> anyhow::Result<()> {
    let specs = read_specs(&a)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failures = 0;
    for s in &specs {
        let r = match s {
            SpecInput::Spec(spec) => spec.hash().map_err(|e| (e.code(), e.to_string())),
            SpecInput::Bad { code, message } => Err((*code, message.clone())),
            SpecInput::Hash(_) => Err((
                "bad_json",
                "a {\"hash\"} line is accepted by `query` only".to_string(),
            )),
        };
        match r {
            Ok(h) if a.json => print_line(&mut out, &json!({"hash": h.to_string()}))?,
            Ok(h) => writeln!(out, "{h}")?,
            Err((code, message)) => {
                failures += 1;
                let message = clip(&message);
                if a.json {
                    print_line(
                        &mut out,
                        &json!({"hash": null, "error": code, "message": message}),
                    )?;
                } else {
                    writeln!(out, "error: {code}: {message}")?;
                }
            }
        }
    }
    out.flush()?;
    if failures > 0 {
        bail!("{failures} of {} spec(s) could not be hashed", specs.len());
    }
    Ok(())
}

/// `nb101 params`: the analytic count of `nasbench101::network`, one line per spec.
fn params_cmd(a: ParamsArgs) -> anyhow::Result<()> {
    use nasbench101::network::{NetworkConfig, NetworkError, NetworkPlan};
    let specs: Vec<SpecInput> = match &a.spec {
        Some(text) => vec![spec_from_json(text).spec_only()],
        None => read_specs(&a.specs)?
            .into_iter()
            .map(SpecInput::spec_only)
            .collect(),
    };
    let cfg = NetworkConfig {
        stem_channels: a.channels,
        stacks: a.stacks,
        cells_per_stack: a.cells,
        ..Default::default()
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failures = 0;
    for s in &specs {
        let plan = match s {
            SpecInput::Spec(spec) => NetworkPlan::new(spec, cfg).map_err(|e| match &e {
                NetworkError::Spec(se) => (se.code(), e.to_string()),
                _ => ("bad_network", e.to_string()),
            }),
            SpecInput::Bad { code, message } => Err((*code, message.clone())),
            SpecInput::Hash(_) => Err(("bad_json", "expected a spec".to_string())),
        };
        match plan {
            Ok(p) if a.specs.json => {
                let channels: Vec<&Vec<usize>> = p
                    .stacks
                    .iter()
                    .filter_map(|c| c.first())
                    .map(|c| &c.vertex_channels)
                    .collect();
                print_line(
                    &mut out,
                    &json!({"trainable_parameters": p.trainable_parameters(),
                            "vertex_channels": channels}),
                )?
            }
            Ok(p) => writeln!(out, "{}", p.trainable_parameters())?,
            Err((code, message)) => {
                failures += 1;
                let message = clip(&message);
                if a.specs.json {
                    print_line(
                        &mut out,
                        &json!({"trainable_parameters": null, "error": code, "message": message}),
                    )?;
                } else {
                    writeln!(out, "error: {code}: {message}")?;
                }
            }
        }
    }
    out.flush()?;
    if failures > 0 {
        bail!("{failures} of {} spec(s) have no network", specs.len());
    }
    Ok(())
}

fn repeat_json(p: &nasbench101::DataPoint) -> Value {
    serde_json::to_value(p).unwrap_or(Value::Null)
}

fn query(a: QueryArgs) -> anyhow::Result<()> {
    let db = Arc::new(open_data(&a.data.nb101)?);
    let sampler = match (a.python_seed, a.repeat) {
        (Some(s), _) => RepeatSampler::cpython(i128::from(s)),
        (None, Some(k)) => RepeatSampler::Fixed(k),
        (None, None) => RepeatSampler::fast(a.seed),
    };
    let mut api = Api::with_sampler(Arc::clone(&db), sampler);
    let synthetic = db.is_synthetic();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if synthetic && !a.spec.json {
        writeln!(out, "{SYNTHETIC_BANNER}")?;
    }
    // Inputs: a hash, or specs.
    enum Item {
        Spec(SpecInput),
        Hash(String),
    }
    let items: Vec<Item> = match &a.hash {
        Some(h) => vec![Item::Hash(h.clone())],
        None => read_specs(&a.spec)?
            .into_iter()
            .map(|s| match s {
                SpecInput::Hash(h) => Item::Hash(h),
                other => Item::Spec(other),
            })
            .collect(),
    };
    let mut failures = 0usize;
    let mut first_error = None;
    if !a.spec.json && !a.all_repeats {
        writeln!(
            out,
            "{:<4} {:<34} {:>6} {:>12} {:>10} {:>10} {:>10} {:>10}",
            "#", "hash", "epochs", "params", "time_s", "train", "valid", "test"
        )?;
    }
    for (i, item) in items.iter().enumerate() {
        let result: Result<Value, (String, String)> = (|| {
            let qe = |e: nasbench101::QueryError| (e.code().to_string(), e.to_string());
            let all_json = |model: &nasbench101::Model<'_>| -> Result<Value, (String, String)> {
                let reps = model.repeats(a.epochs).map_err(qe)?;
                Ok(json!({
                    "hash": model.hash().to_string(), "epochs": a.epochs, "synthetic": synthetic,
                    "module_adjacency": model.adjacency(), "module_operations": model.ops(),
                    "trainable_parameters": model.trainable_parameters(),
                    "repeats": reps.iter().map(repeat_json).collect::<Vec<_>>(),
                }))
            };
            let (spec, hash) = match item {
                Item::Spec(SpecInput::Bad { code, message }) => {
                    return Err((code.to_string(), message.clone()))
                }
                Item::Spec(SpecInput::Spec(spec)) => {
                    if a.all_repeats {
                        // Official order: the budget first, then the spec.
                        api.query_all_repeats(spec, a.epochs).map_err(qe)?;
                        let hash = api.spec_hash(spec).map_err(qe)?;
                        let model = db
                            .model(&hash)
                            .ok_or_else(|| qe(nasbench101::QueryError::UnknownHash(hash)))?;
                        return all_json(&model);
                    }
                    (std::borrow::Cow::Borrowed(spec), None)
                }
                Item::Hash(h) | Item::Spec(SpecInput::Hash(h)) => {
                    let hash: ModelHash = h.parse().map_err(|e: nasbench101::ParseHashError| {
                        ("bad_hash".to_string(), e.to_string())
                    })?;
                    let model = db
                        .model(&hash)
                        .ok_or_else(|| qe(nasbench101::QueryError::UnknownHash(hash)))?;
                    if a.all_repeats {
                        return all_json(&model);
                    }
                    let spec = model.spec().map_err(|e| qe(e.into()))?;
                    (std::borrow::Cow::Owned(spec), Some(hash))
                }
            };
            // The official order: budget, then the spec's checks, then the lookup.
            let r = api.query(&spec, a.epochs, a.stop_halfway).map_err(qe)?;
            let hash = match hash {
                Some(h) => h,
                // A cache hit: `query` just hashed this cell.
                None => api.spec_hash(&spec).map_err(qe)?,
            };
            let mut v = serde_json::to_value(&r).unwrap_or(Value::Null);
            if let Some(obj) = v.as_object_mut() {
                obj.insert("hash".into(), Value::String(hash.to_string()));
                obj.insert("epochs".into(), json!(a.epochs));
                obj.insert("stop_halfway".into(), json!(a.stop_halfway));
                obj.insert("synthetic".into(), json!(synthetic));
            }
            Ok(v)
        })();
        match result {
            Ok(v) if a.spec.json => print_line(&mut out, &v)?,
            Ok(v) if a.all_repeats => {
                writeln!(
                    out,
                    "#{i} {} epochs {} params {}",
                    v["hash"].as_str().unwrap_or("?"),
                    a.epochs,
                    v["trainable_parameters"]
                )?;
                writeln!(
                    out,
                    "  {:<7} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
                    "repeat",
                    "h_time",
                    "h_train",
                    "h_valid",
                    "h_test",
                    "time",
                    "train",
                    "valid",
                    "test"
                )?;
                for (k, r) in v["repeats"].as_array().into_iter().flatten().enumerate() {
                    let f = |key: &str| r[key].as_f64().unwrap_or(f64::NAN);
                    writeln!(
                        out,
                        "  {:<7} {:>10.2} {:>10.6} {:>10.6} {:>10.6} {:>10.2} {:>10.6} {:>10.6} {:>10.6}",
                        k,
                        f("halfway_training_time"),
                        f("halfway_train_accuracy"),
                        f("halfway_validation_accuracy"),
                        f("halfway_test_accuracy"),
                        f("final_training_time"),
                        f("final_train_accuracy"),
                        f("final_validation_accuracy"),
                        f("final_test_accuracy")
                    )?;
                }
            }
            Ok(v) => {
                let f = |key: &str| v[key].as_f64().unwrap_or(f64::NAN);
                writeln!(
                    out,
                    "{:<4} {:<34} {:>6} {:>12} {:>10.2} {:>10.6} {:>10.6} {:>10.6}",
                    i,
                    v["hash"].as_str().unwrap_or("?"),
                    a.epochs,
                    v["trainable_parameters"].as_i64().unwrap_or(0),
                    f("training_time"),
                    f("train_accuracy"),
                    f("validation_accuracy"),
                    f("test_accuracy")
                )?;
            }
            Err((code, message)) => {
                failures += 1;
                let message = clip(&message);
                if a.spec.json {
                    print_line(&mut out, &error_json(&code, &message))?;
                } else {
                    writeln!(out, "{i:<4} error: {code}: {message}")?;
                }
                first_error.get_or_insert(message);
            }
        }
    }
    if !a.spec.json && !a.all_repeats {
        let (t, e) = api.get_budget_counters();
        writeln!(
            out,
            "budget: training_time_spent {t:.2} s, total_epochs_spent {e}"
        )?;
    }
    out.flush()?;
    if failures > 0 {
        bail!(
            "{failures} of {} quer(ies) failed; first: {}",
            items.len(),
            first_error.unwrap_or_default()
        );
    }
    Ok(())
}

fn generate_cmd(a: GenerateArgs) -> anyhow::Result<()> {
    let budgets = match a.budgets.as_str() {
        "full" => FULL_BUDGETS.to_vec(),
        "108" => ONLY108_BUDGETS.to_vec(),
        other => bail!("--budgets: {other:?} is not `full` or `108`"),
    };
    let specs = match &a.specs {
        Some(p) => {
            let args = SpecArgs {
                matrix: None,
                ops: None,
                batch: Some(p.clone()),
                json: false,
            };
            let mut out = Vec::new();
            for (i, s) in read_specs(&args)?.into_iter().enumerate() {
                match s {
                    SpecInput::Spec(s) => out.push(s),
                    SpecInput::Hash(_) => {
                        bail!("{}: spec line {}: a hash is not a spec", p.display(), i + 1)
                    }
                    SpecInput::Bad { code, message } => {
                        bail!(
                            "{}: spec line {}: {code}: {}",
                            p.display(),
                            i + 1,
                            clip(&message)
                        )
                    }
                }
            }
            Some(out)
        }
        None => None,
    };
    let total = specs.as_ref().map_or(a.models, Vec::len) as u64;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("generating [{bar:40}] {pos}/{len} models eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut summary = None;
    let mut gen_err = None;
    atomic_write_with(&a.out, |w| {
        let mut cb = |n: usize| bar.set_position(n as u64);
        let r = match &specs {
            Some(s) => generate_from_specs(w, s, &budgets, 3, &mut cb),
            None => {
                let cfg = GenerateConfig {
                    models: a.models,
                    budgets: budgets.clone(),
                    repeats: 3,
                    seed: a.seed,
                    true_hashes: a.true_hashes,
                    seven_vertices: a.seven_vertices,
                };
                generate(w, &cfg, &mut cb)
            }
        };
        match r {
            Ok(s) => {
                summary = Some(s);
                Ok(())
            }
            Err(e) => {
                let msg = e.to_string();
                gen_err = Some(e);
                Err(std::io::Error::other(msg))
            }
        }
    })
    .map_err(|e| match gen_err.take() {
        Some(g) => anyhow::Error::new(g),
        None => anyhow::Error::new(e).context(format!("{}: cannot write", a.out.display())),
    })?;
    bar.finish_and_clear();
    if let Some(s) = summary {
        eprintln!(
            "{SYNTHETIC_BANNER}\nwrote {}: {} models, {} records (including the synthetic marker){}",
            a.out.display(),
            s.models,
            s.records,
            if s.skipped_duplicates > 0 {
                format!(", {} duplicate spec(s) skipped", s.skipped_duplicates)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

fn bench(a: BenchArgs) -> anyhow::Result<()> {
    let store = a
        .store
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.nb101", a.tfrecord.display())));
    let report = crate::nb101_bench::run(&a.tfrecord, &store, a.samples, a.rounds as usize)?;
    println!("{}", report.to_markdown());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_argument_forms() {
        let rows = parse_matrix_arg("010/001/000").unwrap();
        assert_eq!(rows, vec![vec![0, 1, 0], vec![0, 0, 1], vec![0, 0, 0]]);
        assert_eq!(parse_matrix_arg("010001000").unwrap(), rows);
        assert!(parse_matrix_arg("0100").is_ok());
        assert!(parse_matrix_arg("01000").is_err());
        assert!(parse_matrix_arg("012/000/000").is_err());
    }

    #[test]
    fn validate_contract() {
        let v = validate_json(&spec_from_json(
            r#"{"matrix": [[0,1,0],[0,0,1],[0,0,0]], "ops": ["input","maxpool3x3","output"]}"#,
        ));
        assert_eq!(v["valid"], json!(true));
        assert_eq!(v["error"], Value::Null);
        assert_eq!(v["hash"], json!("53cee42601ad14d661bb6878031d6acb"));
        assert_eq!(v["pruned_ops"], json!(["input", "maxpool3x3", "output"]));
        let v = validate_json(&spec_from_json(
            r#"{"matrix": [[0,0],[0,0]], "ops": ["input","output"]}"#,
        ));
        assert_eq!(v["valid"], json!(false));
        assert_eq!(v["error"], json!("disconnected"));
        assert_eq!(v["pruned_matrix"], Value::Null);
        let v = validate_json(&spec_from_json("{\"matrix\": 3}"));
        assert_eq!(v["error"], json!("bad_json"));
        assert!(v["message"].is_string());
        let v = validate_json(&spec_from_json(
            r#"{"matrix": [[0,1],[1,0]], "ops": ["input","output"]}"#,
        ));
        assert_eq!(v["error"], json!("not_upper_triangular"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 512, failure_persistence: None, ..Default::default()
        })]

        /// Fuzz target of the batch line parser: any text is a spec, a hash or a coded error.
        #[test]
        fn any_batch_line_is_a_spec_a_hash_or_a_coded_error(line in "\\PC{0,120}") {
            let v = validate_json(&spec_from_json(&line));
            proptest::prop_assert!(v["valid"].is_boolean());
        }

        #[test]
        fn near_valid_batch_lines_never_panic(
            n in 0usize..9,
            bits in proptest::collection::vec(0u8..3, 0..81),
            ops in proptest::collection::vec("[a-z0-9x-]{0,16}", 0..10),
        ) {
            let matrix: Vec<Vec<u8>> = (0..n)
                .map(|r| (0..n).map(|c| bits.get(r * n + c).copied().unwrap_or(0)).collect())
                .collect();
            let line = json!({"matrix": matrix, "ops": ops}).to_string();
            let v = validate_json(&spec_from_json(&line));
            if v["valid"] == json!(false) {
                proptest::prop_assert!(v["error"].is_string(), "{}", v);
            }
        }
    }
}
