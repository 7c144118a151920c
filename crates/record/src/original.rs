//! Import of the original code's run folders: `config.json` (the search's `args.__dict__`) and
//! one `one_shot_architecture_<e>.obj` per epoch, each a pickled list of numpy arrays in the
//! layout of `model.arch_parameters()`. Each folder becomes one recorded run folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use runfmt::{ExternalKind, SafeName};
use searchspace::{SearchSpace, SpaceId, TopKTies};

use crate::error::RecordError;
use crate::recorder::{Lookup, Recorder, RunSpec};
use crate::unpickle::{self, Item};
use crate::weights::from_original;

/// The original's `config.json` is a few hundred bytes; anything past this is not one.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Choices of an import; `None` takes the value from the folder.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    pub method: Option<String>,
    pub seed: Option<u64>,
    pub ties: TopKTies,
    pub original_reference: bool,
}

/// What one folder's import did.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    pub out: PathBuf,
    pub method: String,
    pub space: SpaceId,
    pub seed: u64,
    /// Epochs written now, and epochs an earlier import already holds.
    pub recorded: usize,
    pub kept: usize,
}

/// Imports the folder `dir` into `out_root/<dir's name>`, continuing an earlier import.
pub fn import_folder(
    dir: &Path,
    out_root: &Path,
    lookup: &mut Lookup,
    opts: &ImportOptions,
) -> Result<Imported, RecordError> {
    let config_path = dir.join("config.json");
    let input = |message: String| RecordError::Input {
        path: config_path.clone(),
        message,
    };
    // Bounded and link-refusing, like every read of a run folder's files.
    let bytes = nb1s1_fsio::read_limited(&config_path, MAX_CONFIG_BYTES)?;
    let text = String::from_utf8(bytes).map_err(|_| input("not UTF-8 text".into()))?;
    let config: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| input(format!("not JSON: {e}")))?;
    let space = space_of(&config).map_err(&input)?;
    let seed = match opts.seed {
        Some(s) => s,
        None => config["seed"]
            .as_u64()
            .ok_or_else(|| input("no integer `seed`: pass --seed".into()))?,
    };
    let method = match &opts.method {
        Some(m) => m.clone(),
        None => method_of(&config).ok_or_else(|| {
            input("no `optimizer`, `method` or `save` path naming the method: pass --method".into())
        })?,
    };
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let name = SafeName::new("input folder name", &name).map_err(|e| RecordError::Input {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let files = epoch_files(dir)?;
    // Every file is read and checked before anything is written.
    let sp = SearchSpace::new(space);
    let weights = files
        .iter()
        .enumerate()
        .map(|(epoch, path)| {
            from_original(&sp, epoch, &read_weights(path)?).map_err(|e| in_file(path, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    lookup.reference(space, opts.original_reference)?;
    let out = out_root.join(name.as_str());
    let spec = RunSpec {
        space,
        method: method.clone(),
        seed,
        settings: config,
        ties: opts.ties,
        original_reference: opts.original_reference,
        epochs_total: files.len(),
        kind: ExternalKind::Imported,
        source: Some(dir.display().to_string()),
    };
    let mut rec = Recorder::open(&out, &spec, lookup.clone())?;
    let kept = rec.next_epoch().min(files.len());
    for (epoch, w) in weights.iter().enumerate().skip(kept) {
        rec.record(epoch, w, BTreeMap::new())?;
    }
    if !rec.is_complete() {
        rec.finish()?;
    }
    Ok(Imported {
        out,
        method,
        space,
        seed,
        recorded: files.len() - kept,
        kept,
    })
}

fn in_file(path: &Path, e: RecordError) -> RecordError {
    RecordError::Input {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// `search_space` as the original writes it (`"1"`), or a number.
fn space_of(config: &serde_json::Value) -> Result<SpaceId, String> {
    let v = &config["search_space"];
    let n = v
        .as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or_else(|| format!("`search_space` is {v}, not 1, 2 or 3"))?;
    u8::try_from(n)
        .ok()
        .and_then(|n| SpaceId::try_from(n).ok())
        .ok_or_else(|| format!("`search_space` is {n}, not 1, 2 or 3"))
}

/// The method: `optimizer` or `method`, else the folder after `experiments*/` in `save`
/// (the original saves to `experiments/<method>/search_space_<s>/...`).
fn method_of(config: &serde_json::Value) -> Option<String> {
    let named = ["optimizer", "method"]
        .iter()
        .find_map(|k| config[*k].as_str().map(str::to_string));
    let from_save = || {
        let save = config["save"].as_str()?;
        let parts: Vec<&str> = save.split('/').collect();
        let i = parts.iter().position(|p| p.starts_with("experiments"))?;
        parts.get(i + 1).map(|s| s.to_string())
    };
    named.or_else(from_save).filter(|m| SafeName::is_safe(m))
}

/// `one_shot_architecture_<e>.obj` files by epoch: exactly 0, 1, 2, … (a gap is an error).
fn epoch_files(dir: &Path) -> Result<Vec<PathBuf>, RecordError> {
    let io = |source| RecordError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut found: BTreeMap<usize, PathBuf> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(num) = name
            .strip_prefix("one_shot_architecture_")
            .and_then(|r| r.strip_suffix(".obj"))
        else {
            continue;
        };
        let epoch = num
            .parse::<usize>()
            .ok()
            .filter(|_| num.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| RecordError::Input {
                path: entry.path(),
                message: "the epoch in the name is not a number".into(),
            })?;
        found.insert(epoch, entry.path());
    }
    if found.is_empty() {
        return Err(RecordError::Input {
            path: dir.to_path_buf(),
            message: "no one_shot_architecture_<epoch>.obj files".into(),
        });
    }
    for (i, e) in found.keys().enumerate() {
        if *e != i {
            return Err(RecordError::Input {
                path: dir.to_path_buf(),
                message: format!(
                    "one_shot_architecture_{i}.obj is missing (found epoch {e} next): epochs \
                     must be 0, 1, 2, … without gaps"
                ),
            });
        }
    }
    Ok(found.into_values().collect())
}

/// One weights pickle: a list of arrays, read by the restricted unpickler.
pub fn read_weights(path: &Path) -> Result<Vec<unpickle::Array>, RecordError> {
    let bytes = nb1s1_fsio::read_limited(path, unpickle::MAX_PICKLE_BYTES as u64)?;
    let item = unpickle::load(&bytes).map_err(|source| RecordError::Pickle {
        path: path.to_path_buf(),
        source,
    })?;
    let Item::List(items) = item else {
        return Err(RecordError::Input {
            path: path.to_path_buf(),
            message: "a single array, expected the list model.arch_parameters() gives".into(),
        });
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, it)| match it {
            Item::Array(a) => Ok(a),
            Item::List(_) => Err(RecordError::Input {
                path: path.to_path_buf(),
                message: format!("item {i} is a list, expected an array"),
            }),
        })
        .collect()
}
