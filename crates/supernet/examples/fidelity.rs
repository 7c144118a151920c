//! nb1s1's half of the side-by-side fidelity check against the original PyTorch code
//! (`benches/fidelity/run.sh`, docs/fidelity.md). `benches/fidelity/compare.py` builds the
//! original supernet, renames its weights to ours and writes a case folder; this program
//! builds our supernet for the same case, runs the same batch and writes what it got.
//!
//! ```text
//! fidelity forward DIR     # case.json, weights.safetensors, inputs.safetensors -> ours.*
//! fidelity discretize DIR  # disc.json, disc.safetensors -> disc_ours.json
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use searchspace::{Architecture, SearchSpace, SpaceId};
use serde::{Deserialize, Serialize};
use supernet::{
    discretize, one_hot_mixing, softmax_mixing, ArchParams, MixingSource, MixingWeights,
    SharedMixing, Supernet, SupernetConfig,
};
use tch::{nn, Device, Kind, Tensor};

#[derive(Parser)]
#[command(about = "nb1s1's half of benches/fidelity (see docs/fidelity.md)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One training-mode forward and backward pass, then one evaluation-mode forward pass.
    Forward { dir: PathBuf },
    /// Discretizes every architecture-weight setting of the folder.
    Discretize { dir: PathBuf },
}

/// How the architecture enters the forward pass, per optimizer.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Mixing {
    /// DARTS, PC-DARTS: softmax of the architecture logits, shared by all cells.
    Softmax,
    /// GDAS: the Gumbel samples the original drew, one set per cell (`cell{i}.ops`, ...).
    PerCell,
    /// Random-WS, ENAS: a discrete architecture as one-hot weights.
    OneHot,
}

/// `case.json` of a forward case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForwardCase {
    config: SupernetConfig,
    mixing: Mixing,
    /// For [`Mixing::OneHot`].
    architecture: Option<Architecture>,
}

/// `ours.json`: the parameter structure, for the count and shape-multiset comparison.
#[derive(Debug, Serialize)]
struct Structure {
    /// Trainable variables (name, shape), sorted by name.
    parameters: Vec<(String, Vec<i64>)>,
    /// Non-trainable variables (BatchNorm running statistics).
    buffers: Vec<(String, Vec<i64>)>,
    num_parameters: i64,
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Forward { dir } => forward(&dir),
        Cmd::Discretize { dir } => discretize_all(&dir),
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path:?}"))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {path:?}"))
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value)?;
    nasbench101::atomic_write(path, &bytes).with_context(|| format!("writing {path:?}"))
}

fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    let list = Tensor::read_safetensors(path).with_context(|| format!("reading {path:?}"))?;
    Ok(list.into_iter().collect())
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
/// Tensors are made contiguous first (channels-last weights and their gradients are not, and
/// safetensors stores plain row-major data).
fn write_tensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let tmp = path.with_extension("safetensors.tmp");
    let plain: Named = tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.contiguous()))
        .collect();
    Tensor::write_safetensors(&plain, &tmp).with_context(|| format!("writing {tmp:?}"))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {tmp:?} to {path:?}"))
}

/// Copies every variable of `vs` from `file` (keyed by our names). Strict both ways: a variable
/// missing from the file, a shape that differs, or a file entry that names no variable is an
/// error (`copy_` alone would broadcast a wrong shape silently).
fn load_weights(vs: &nn::VarStore, file: &HashMap<String, Tensor>, what: &str) -> Result<()> {
    let vars = vs.variables();
    if let Some(extra) = file.keys().filter(|k| !vars.contains_key(*k)).min() {
        bail!("{what}: entry {extra:?} names no variable of the supernet");
    }
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    for name in names {
        let var = &vars[name];
        let src = file
            .get(name)
            .with_context(|| format!("{what}: no entry for variable {name:?}"))?;
        if src.size() != var.size() {
            bail!(
                "{what}: {name:?} has shape {:?}, the supernet's is {:?}",
                src.size(),
                var.size()
            );
        }
        tch::no_grad(|| var.shallow_clone().copy_(&src.to_kind(var.kind())));
    }
    Ok(())
}

fn structure(vs: &nn::VarStore) -> Structure {
    let trainable: Vec<Tensor> = vs.trainable_variables();
    let is_trainable = |t: &Tensor| trainable.iter().any(|v| v.data_ptr() == t.data_ptr());
    let mut parameters = Vec::new();
    let mut buffers = Vec::new();
    for (name, t) in vs.variables() {
        let entry = (name, t.size());
        if is_trainable(&t) {
            parameters.push(entry);
        } else {
            buffers.push(entry);
        }
    }
    parameters.sort();
    buffers.sort();
    let num_parameters = parameters
        .iter()
        .map(|(_, s)| s.iter().product::<i64>())
        .sum();
    Structure {
        parameters,
        buffers,
        num_parameters,
    }
}

/// Architecture tensors named `{prefix}alphas_mixed_op`, `{prefix}alphas_output` and
/// `{prefix}alphas_inputs_{k}` (node k), as trainable leaves; checked against `space`.
fn arch_params(
    map: &HashMap<String, Tensor>,
    prefix: &str,
    space: &SearchSpace,
) -> Result<ArchParams> {
    let get = |name: String| -> Result<Tensor> {
        let t = map
            .get(&name)
            .with_context(|| format!("no tensor {name:?}"))?;
        Ok(t.to_kind(Kind::Float).detach().set_requires_grad(true))
    };
    let inputs = (1..=space.num_choice_blocks())
        .map(|k| {
            let name = format!("{prefix}alphas_inputs_{k}");
            map.contains_key(&name).then(|| get(name)).transpose()
        })
        .collect::<Result<Vec<_>>>()?;
    let arch = ArchParams {
        ops: get(format!("{prefix}alphas_mixed_op"))?,
        output: get(format!("{prefix}alphas_output"))?,
        inputs,
    };
    arch.check(space)
        .with_context(|| format!("architecture tensors {prefix:?}"))?;
    Ok(arch)
}

/// The recorded per-cell weights of GDAS, handed out cell by cell.
struct PerCell(Vec<MixingWeights>);

impl MixingSource for PerCell {
    fn for_cell(&mut self, cell: usize) -> MixingWeights {
        self.0[cell.min(self.0.len() - 1)].clone()
    }
}

/// GDAS' hard operation sample names one op per node, so only that op runs (as in
/// crates/oneshot's Gumbel relaxation and the original's MixedOpGDAS).
fn active_ops(ops: &Tensor) -> Result<Vec<usize>> {
    let idx = Vec::<i64>::try_from(&ops.detach().argmax(-1, false))?;
    Ok(idx.into_iter().map(|i| i as usize).collect())
}

/// Tensors with their names, in file order.
type Named = Vec<(String, Tensor)>;

/// The mixing source of a case and the tensors whose gradients are reported (`grad_arch.*`).
fn mixing(
    case: &ForwardCase,
    inputs: &HashMap<String, Tensor>,
    num_cells: usize,
) -> Result<(Box<dyn MixingSource>, Named)> {
    let space = SearchSpace::new(case.config.space);
    let named = |prefix: &str, arch: &ArchParams| -> Named {
        let mut v = vec![
            (format!("{prefix}alphas_mixed_op"), arch.ops.shallow_clone()),
            (
                format!("{prefix}alphas_output"),
                arch.output.shallow_clone(),
            ),
        ];
        for (i, t) in arch.inputs.iter().enumerate() {
            if let Some(t) = t {
                v.push((
                    format!("{prefix}alphas_inputs_{}", i + 1),
                    t.shallow_clone(),
                ));
            }
        }
        v
    };
    match case.mixing {
        Mixing::Softmax => {
            let arch = arch_params(inputs, "", &space)?;
            let leaves = named("", &arch);
            Ok((Box::new(SharedMixing(softmax_mixing(&arch))), leaves))
        }
        Mixing::PerCell => {
            let mut cells = Vec::with_capacity(num_cells);
            let mut leaves = Vec::new();
            for i in 0..num_cells {
                let prefix = format!("cell{i}.");
                let w = arch_params(inputs, &prefix, &space)?;
                leaves.extend(named(&prefix, &w));
                cells.push(MixingWeights {
                    active_ops: Some(active_ops(&w.ops)?),
                    ops: w.ops,
                    output: w.output,
                    inputs: w.inputs,
                });
            }
            Ok((Box::new(PerCell(cells)), leaves))
        }
        Mixing::OneHot => {
            let arch = case
                .architecture
                .as_ref()
                .context("mixing \"one_hot\" needs \"architecture\"")?;
            arch.validate()?;
            Ok((
                Box::new(SharedMixing(one_hot_mixing(arch, Device::Cpu)?)),
                Vec::new(),
            ))
        }
    }
}

fn forward(dir: &Path) -> Result<()> {
    let case: ForwardCase = read_json(&dir.join("case.json"))?;
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Supernet::new(&vs.root(), &case.config)?;
    let weights = read_tensors(&dir.join("weights.safetensors"))?;
    load_weights(&vs, &weights, "weights.safetensors")?;
    let inputs = read_tensors(&dir.join("inputs.safetensors"))?;
    let images = inputs.get("images").context("inputs: no \"images\"")?;
    let labels = inputs.get("labels").context("inputs: no \"labels\"")?;
    let (mut source, leaves) = mixing(&case, &inputs, net.num_cells())?;

    let logits = net.try_forward(images, source.as_mut(), true)?;
    let loss = logits.cross_entropy_for_logits(&labels.to_kind(Kind::Int64));
    loss.backward();
    let eval = tch::no_grad(|| net.try_forward(images, source.as_mut(), false))?;

    let mut out = vec![
        ("loss".to_string(), loss.detach()),
        ("logits_train".to_string(), logits.detach()),
        ("logits_eval".to_string(), eval),
    ];
    for (name, var) in vs.variables() {
        let g = var.grad();
        if g.defined() {
            out.push((format!("grad.{name}"), g));
        }
    }
    for (name, leaf) in leaves {
        let g = leaf.grad();
        if g.defined() {
            out.push((format!("grad_arch.{name}"), g));
        }
    }
    write_tensors(&dir.join("ours.safetensors"), &out)?;
    write_json(&dir.join("ours.json"), &structure(&vs))
}

/// `disc.json`: the space, the number of settings and, per setting, the NB-101 cell the
/// original code made of it (hashed here with the nasbench101 engine).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscCase {
    space: SpaceId,
    count: usize,
    original: Vec<OriginalCell>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OriginalCell {
    matrix: Vec<Vec<u8>>,
    ops: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Discretized {
    architecture: Architecture,
    hash: String,
    original_hash: String,
}

fn discretize_all(dir: &Path) -> Result<()> {
    let case: DiscCase = read_json(&dir.join("disc.json"))?;
    if case.original.len() != case.count {
        bail!(
            "disc.json: {} original cells for {} settings",
            case.original.len(),
            case.count
        );
    }
    let space = SearchSpace::new(case.space);
    let tensors = read_tensors(&dir.join("disc.safetensors"))?;
    let mut out = Vec::with_capacity(case.count);
    for (i, orig) in case.original.iter().enumerate() {
        let arch = arch_params(&tensors, &format!("{i}."), &space)?;
        let architecture = discretize(&arch, &space)?;
        let hash = architecture.hash()?.to_string();
        let original_hash = nasbench101::ModelSpec::new(orig.matrix.clone(), orig.ops.clone())
            .and_then(|s| s.hash())
            .map_or_else(|e| format!("error: {e}"), |h| h.to_string());
        out.push(Discretized {
            architecture,
            hash,
            original_hash,
        });
    }
    eprintln!(
        "[fidelity] space {}: {} settings discretized",
        case.space,
        out.len()
    );
    write_json(&dir.join("disc_ours.json"), &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(space: SpaceId) -> SupernetConfig {
        SupernetConfig {
            init_channels: 4,
            layers: 3,
            channels_last: Some(false),
            ..SupernetConfig::faithful(space)
        }
    }

    fn build(cfg: &SupernetConfig) -> (nn::VarStore, Supernet) {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Supernet::new(&vs.root(), cfg).expect("tiny supernet");
        (vs, net)
    }

    fn logits(net: &Supernet, x: &Tensor, space: SpaceId) -> Tensor {
        let root = nn::VarStore::new(Device::Cpu);
        tch::manual_seed(7);
        let arch = ArchParams::new(&root.root(), &SearchSpace::new(space));
        let mut mix = SharedMixing(softmax_mixing(&arch));
        tch::no_grad(|| net.forward(x, &mut mix, false))
    }

    #[test]
    fn weights_round_trip_through_safetensors_gives_the_same_logits() {
        let cfg = tiny(SpaceId::Two);
        tch::manual_seed(1);
        let (a, net_a) = build(&cfg);
        tch::manual_seed(2);
        let (b, net_b) = build(&cfg);
        let x = Tensor::randn([2, 3, 8, 8], (Kind::Float, Device::Cpu));
        assert!(!logits(&net_a, &x, cfg.space).equal(&logits(&net_b, &x, cfg.space)));

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("w.safetensors");
        let named: Vec<(String, Tensor)> = a.variables().into_iter().collect();
        write_tensors(&path, &named).expect("write");
        load_weights(&b, &read_tensors(&path).expect("read"), "w").expect("load");
        assert!(logits(&net_a, &x, cfg.space).equal(&logits(&net_b, &x, cfg.space)));
        let s = structure(&b);
        assert_eq!(s.num_parameters, structure(&a).num_parameters);
        assert!(s.buffers.iter().all(|(n, _)| n.contains("running_")));
    }

    #[test]
    fn channels_last_tensors_are_written_in_plain_layout() {
        let t = Tensor::randn([2, 3, 4, 5], tch::kind::FLOAT_CPU);
        let nhwc = supernet::to_channels_last(&t);
        assert!(!nhwc.is_contiguous());
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.safetensors");
        write_tensors(&path, &[("t".into(), nhwc)]).expect("write");
        let back = read_tensors(&path).expect("read");
        assert!(back["t"].equal(&t));
    }

    #[test]
    fn load_refuses_missing_misshapen_and_unknown_entries() {
        let (vs, _net) = build(&tiny(SpaceId::One));
        // Tensor is not Clone: each variant starts from a fresh map of shallow copies.
        let full = || -> HashMap<String, Tensor> { vs.variables().into_iter().collect() };

        let mut missing = full();
        missing.remove("classifier.bias");
        let e = load_weights(&vs, &missing, "w").unwrap_err().to_string();
        assert!(e.contains("classifier.bias"), "{e}");

        let mut wrong = full();
        wrong.insert(
            "classifier.bias".into(),
            Tensor::zeros([1], tch::kind::FLOAT_CPU),
        );
        let e = load_weights(&vs, &wrong, "w").unwrap_err().to_string();
        assert!(e.contains("shape"), "{e}");

        let mut extra = full();
        extra.insert(
            "cell0.bogus".into(),
            Tensor::zeros([1], tch::kind::FLOAT_CPU),
        );
        let e = load_weights(&vs, &extra, "w").unwrap_err().to_string();
        assert!(e.contains("cell0.bogus"), "{e}");
    }

    #[test]
    fn arch_tensors_are_checked_against_the_space() {
        let space = SearchSpace::new(SpaceId::Three);
        let vs = nn::VarStore::new(Device::Cpu);
        let arch = ArchParams::new(&vs.root(), &space);
        let mut map: HashMap<String, Tensor> = vs.variables().into_iter().collect();
        let back = arch_params(&map, "", &space).expect("complete set");
        assert!(back.ops.equal(&arch.ops));
        assert_eq!(
            discretize(&back, &space).ok(),
            discretize(&arch, &space).ok()
        );
        map.remove("alphas_inputs_3");
        let e = format!("{:#}", arch_params(&map, "", &space).unwrap_err());
        assert!(e.contains("inputs[3]"), "{e}");
    }
}
