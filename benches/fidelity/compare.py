#!/usr/bin/env python3
"""Side-by-side fidelity check: the original NAS-Bench-1Shot1 supernet against nb1s1's.

Run through benches/fidelity/run.sh, which builds the nb1s1 half (the `fidelity` example of
crates/supernet) and passes it as --bin. Given a checkout of automl/nasbench-1shot1 (--original),
for every search space and optimizer this script

1. builds the original's supernet with its own classes (DARTS Network, PCDARTSNetwork,
   GDASNetwork; Random-WS and ENAS use the DARTS Network with discrete one-hot weights),
   randomizes its BatchNorm parameters and running statistics and its architecture logits,
2. renames its state_dict to nb1s1's variable names (ORIGINAL_TO_OURS below) and writes it,
   with a batch of images and the architecture input, into a case folder,
3. runs one training-mode forward + backward and one evaluation-mode forward in the original
   and (through --bin) in nb1s1, and compares parameter counts, shape multisets, the loss, the
   logits, the predictions and the gradients;

and for every space it discretizes random architecture weights with the original's
`eval_one_shot_model` (a recording stand-in for the NAS-Bench-101 table) and with nb1s1's
`supernet::discretize`, and compares operations, parent sets and NB-101 hashes.

Nothing is fetched: the original's imports that this check never uses (TensorFlow's nasbench,
plotting, ConfigSpace, torchvision) are replaced by inert modules, and the original's `.cuda()`
calls are made no-ops so everything runs on the CPU.
"""
import argparse
import io
import itertools
import json
import os
import pickle
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import types
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parents[2]
OPTIMIZERS = ["darts", "pc_darts", "gdas", "random_ws"]
LABEL = {"darts": "DARTS", "pc_darts": "PC-DARTS", "gdas": "GDAS", "random_ws": "Random-WS / ENAS"}
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# The original's CIFAR-10 normalization (optimizers/darts/utils.py).
MEAN = [0.49139968, 0.48215827, 0.44653124]
STD = [0.24703233, 0.24348505, 0.26158768]
GDAS_TAU = 10.0  # tau_max, the temperature of GDAS' first epoch


# --- running the original without its unused dependencies -----------------------------------

class _Inert(types.ModuleType):
    """A module whose every attribute is an inert class (usable as a base class, callable)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (), {"__init__": lambda self, *a, **k: None,
                               "__call__": lambda self, *a, **k: None})


class _ModelSpec:
    """Stand-in for nasbench.api.ModelSpec: keeps the (matrix, ops) the original built."""

    def __init__(self, matrix, ops):
        self.matrix = [[int(v) for v in row] for row in matrix]
        self.ops = list(ops)


class _RecordingTable:
    """Stand-in for the NAS-Bench-101 table: records the queried cell, returns no data."""

    def __init__(self):
        self.specs = []

    def query(self, spec, *args, **kwargs):
        self.specs.append(spec)
        return []


def import_original(checkout):
    for name in ["seaborn", "networkx", "matplotlib", "matplotlib.pyplot", "ConfigSpace",
                 "torchvision", "torchvision.transforms", "torchvision.datasets",
                 "torchvision.datasets.utils"]:
        sys.modules.setdefault(name, _Inert(name))
    try:
        import PIL.Image  # noqa: F401  (optimizers/darts/utils.py imports it)
    except ImportError:
        sys.modules.setdefault("PIL", _Inert("PIL"))
        sys.modules.setdefault("PIL.Image", _Inert("PIL.Image"))
    api = types.ModuleType("nasbench.api")
    api.ModelSpec = _ModelSpec
    api.NASBench = type("NASBench", (), {})
    nasbench = types.ModuleType("nasbench")
    nasbench.api = api
    sys.modules["nasbench"], sys.modules["nasbench.api"] = nasbench, api
    if not hasattr(np, "int"):
        np.int = int  # removed in numpy 1.24; the original uses it as a dtype
    torch.Tensor.cuda = lambda self, *a, **k: self  # the original moves alphas to the GPU
    nn.Module.cuda = lambda self, *a, **k: self
    sys.path.insert(0, str(checkout))
    from nasbench_analysis import eval_darts_one_shot_model_in_nasbench as evaluation
    from nasbench_analysis.search_spaces.search_space_1 import SearchSpace1
    from nasbench_analysis.search_spaces.search_space_2 import SearchSpace2
    from nasbench_analysis.search_spaces.search_space_3 import SearchSpace3
    from optimizers.darts.model_search import Network
    from optimizers.gdas.model_search import GDASNetwork
    from optimizers.pc_darts.model_search import PCDARTSNetwork
    from optimizers.random_search_with_weight_sharing.darts_wrapper_discrete import DartsWrapper
    return types.SimpleNamespace(
        spaces={1: SearchSpace1, 2: SearchSpace2, 3: SearchSpace3}, Network=Network,
        GDASNetwork=GDASNetwork, PCDARTSNetwork=PCDARTSNetwork, DartsWrapper=DartsWrapper,
        evaluation=evaluation)


# --- the name mapping ---------------------------------------------------------------------------

_BN = r"(weight|bias|running_mean|running_var)"
ORIGINAL_TO_OURS = [
    (rf"stem\.op\.0\.weight", "stem.conv.weight"),
    (rf"stem\.op\.1\.{_BN}", r"stem.bn.\1"),
    (rf"cells\.(\d+)\._input_projections\.(\d+)\.op\.0\.weight", "{cell}.{proj}.conv.weight"),
    (rf"cells\.(\d+)\._input_projections\.(\d+)\.op\.1\.{_BN}", "{cell}.{proj}.bn.\\3"),
    (rf"cells\.(\d+)\._choice_blocks\.(\d+)\.mixed_op\._ops\.([12])\.op\.op\.0\.weight",
     "{cell}.{block}.{op}.conv.weight"),
    (rf"cells\.(\d+)\._choice_blocks\.(\d+)\.mixed_op\._ops\.([12])\.op\.op\.1\.{_BN}",
     "{cell}.{block}.{op}.bn.\\4"),
    (r"postprocess\.op\.1\.weight", "postprocess.conv.weight"),
    (r"postprocess\.op\.2\.(running_mean|running_var)", r"postprocess.bn.\1"),
    (r"classifier\.(weight|bias)", r"classifier.\1"),
]


def our_name(name, steps):
    """nb1s1's variable name for an entry of the original's state_dict (None: not kept)."""
    if name.endswith("num_batches_tracked"):
        return None  # PyTorch's counter; tch's BatchNorm has none, and momentum is set
    for pattern, template in ORIGINAL_TO_OURS:
        m = re.fullmatch(pattern, name)
        if not m:
            continue
        g = m.groups()
        fields = {}
        if name.startswith("cells."):
            fields["cell"] = f"cell{g[0]}"
            j = int(g[1])
            fields["proj"] = "proj_out" if j == steps else f"proj{j + 1}"
            fields["block"] = f"block{j + 1}"
            if "_ops." in name:
                fields["op"] = {"1": "conv3x3", "2": "conv1x1"}[g[2]]
        return m.expand(template.format(**fields)) if fields else m.expand(template)
    raise SystemExit(f"no nb1s1 name for the original's parameter {name!r}")


# --- file exchange ------------------------------------------------------------------------------

_DTYPES = {torch.float32: "F32", torch.int64: "I64"}
_TORCH = {v: k for k, v in _DTYPES.items()}


def write_safetensors(path, tensors):
    """The safetensors layout (8-byte header length, JSON header, raw little-endian data)."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    tmp = Path(str(path) + ".tmp")
    with open(tmp, "wb") as f:
        f.write(len(head).to_bytes(8, "little") + head + b"".join(blobs))
    os.replace(tmp, path)


def read_safetensors(path):
    raw = Path(path).read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        buf = bytearray(raw[8 + n + start:8 + n + end])
        t = torch.frombuffer(buf, dtype=_TORCH[info["dtype"]]) if buf else torch.empty(0)
        out[name] = t.reshape(info["shape"])
    return out


def run_ours(binary, command, folder):
    done = subprocess.run([str(binary), command, str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{binary} {command} {folder} failed:\n{done.stderr}")


# --- the batch ----------------------------------------------------------------------------------

def load_batch(archive, n):
    """n test images of the CIFAR-10 JPEG archive (the lowest-numbered files, classes in turn),
    normalized as the original's valid transform (no augmentation)."""
    from PIL import Image
    per_class = -(-n // len(CLASSES))
    wanted = {c: [] for c in CLASSES}
    with tarfile.open(archive) as tar:
        for m in tar:
            parts = m.name.split("/")
            if len(parts) == 3 and parts[0] == "test" and parts[1] in wanted and m.isfile():
                wanted[parts[1]].append(m.name)
        names = {c: sorted(v)[:per_class] for c, v in wanted.items()}
        chosen = [(names[c][i], k) for i in range(per_class) for k, c in enumerate(CLASSES)][:n]
        images, labels = [], []
        for name, label in chosen:
            img = Image.open(io.BytesIO(tar.extractfile(name).read())).convert("RGB")
            images.append(torch.tensor(np.asarray(img), dtype=torch.float32).permute(2, 0, 1) / 255)
            labels.append(label)
    x = torch.stack(images)
    x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    return x, torch.tensor(labels, dtype=torch.int64)


def random_batch(n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


# --- one forward case ---------------------------------------------------------------------------

def model_section(optimizer):
    with open(ROOT / "configs" / f"{optimizer}.toml", "rb") as f:
        return tomllib.load(f)["model"]


def build_original(orig, optimizer, space, model_cfg):
    ss = orig.spaces[space]()
    args = dict(C=model_cfg["init_channels"], num_classes=10, layers=model_cfg["layers"],
                criterion=nn.CrossEntropyLoss(), output_weights=True, search_space=ss,
                steps=ss.num_intermediate_nodes)
    if optimizer == "pc_darts":
        return orig.PCDARTSNetwork(**args), ss
    if optimizer == "gdas":
        return orig.GDASNetwork(GDAS_TAU, **args), ss
    return orig.Network(**args), ss


def randomize(model, generator):
    """BatchNorm parameters and statistics away from 1/0, so a swapped layer cannot hide."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                if m.affine:
                    m.weight.copy_(torch.rand(m.weight.shape, generator=generator) + 0.5)
                    m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=generator))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=generator))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=generator) + 0.5)
        for a in model.arch_parameters():
            a.copy_(torch.randn(a.shape, generator=generator))


def arch_names(tensors, prefix=""):
    """nb1s1's names for [alphas_mixed_op, alphas_output, *alphas_inputs] (node k has shape (1, k))."""
    names = [f"{prefix}alphas_mixed_op", f"{prefix}alphas_output"]
    names += [f"{prefix}alphas_inputs_{t.shape[1]}" for t in tensors[2:]]
    return dict(zip(names, tensors))


class GumbelRecorder:
    """Wraps F.gumbel_softmax: records each sample the original draws in training mode (keeping
    its gradient) and replays them in order for the evaluation pass."""

    def __init__(self):
        self.real = torch.nn.functional.gumbel_softmax
        self.samples, self.replay = [], None

    def __call__(self, logits, *args, **kwargs):
        if self.replay is not None:
            return self.replay.pop(0)
        y = self.real(logits, *args, **kwargs)
        y.retain_grad()
        self.samples.append(y)
        return y


def architecture_json(space, adjacency, ops):
    """nb1s1's Architecture of the original's sampled (loose-ended) adjacency matrix."""
    n = len(ops)
    parents = [[p for p in range(k) if adjacency[p][k]] for k in range(1, n + 2)]
    return {"space": space, "ops": list(ops), "parents": parents}


def run_case(orig, binary, optimizer, space, batch, folder, seed, channels_last=False):
    model_cfg = model_section(optimizer)
    torch.manual_seed(seed)
    model, ss = build_original(orig, optimizer, space, model_cfg)
    randomize(model, torch.Generator().manual_seed(seed))
    steps = ss.num_intermediate_nodes
    mapped = {}
    for k, v in model.state_dict().items():
        name = our_name(k, steps)
        if name is not None:
            mapped[name] = v.clone()
    folder.mkdir(parents=True, exist_ok=True)
    write_safetensors(folder / "weights.safetensors", mapped)

    x, y = batch
    inputs = {"images": x, "labels": y}
    config = dict(model_cfg, space=space, channels_last=channels_last)
    case = {"config": config}
    discrete = optimizer == "random_ws"
    recorder = None
    if optimizer in ("darts", "pc_darts"):
        case["mixing"] = "softmax"
        inputs.update(arch_names(model.arch_parameters()))
    elif optimizer == "random_ws":
        case["mixing"] = "one_hot"
        random.seed(seed)
        adjacency, ops = ss.sample(with_loose_ends=True, upscale=False)
        holder = types.SimpleNamespace(model=model)
        model._arch_parameters = orig.DartsWrapper.get_weights_from_arch(holder, (adjacency, ops))
        case["architecture"] = architecture_json(space, adjacency, ops)
    else:
        case["mixing"] = "per_cell"
        recorder = GumbelRecorder()
        torch.nn.functional.gumbel_softmax = recorder

    try:
        model.train()
        logits = model(x, discrete=discrete)
        loss = nn.functional.cross_entropy(logits, y)
        loss.backward()
        if recorder is not None:
            per = len(model.arch_parameters())
            for i in range(len(model.cells)):
                cell = recorder.samples[i * per:(i + 1) * per]
                inputs.update(arch_names([t.detach() for t in cell], f"cell{i}."))
            recorder.replay = [t.detach() for t in recorder.samples]
        model.eval()
        with torch.no_grad():
            logits_eval = model(x, discrete=discrete)
    finally:
        if recorder is not None:
            torch.nn.functional.gumbel_softmax = recorder.real

    write_safetensors(folder / "inputs.safetensors", inputs)
    (folder / "case.json").write_text(json.dumps(case, indent=1))
    run_ours(binary, "forward", folder)
    ours = read_safetensors(folder / "ours.safetensors")
    structure = json.loads((folder / "ours.json").read_text())

    grads = {our_name(k, steps): p.grad for k, p in model.named_parameters()}
    if recorder is not None:
        arch_grads = {}
        per = len(model.arch_parameters())
        for i in range(len(model.cells)):
            cell = recorder.samples[i * per:(i + 1) * per]
            arch_grads.update(arch_names([t.grad for t in cell], f"cell{i}."))
    elif discrete:
        arch_grads = {}
    else:
        arch_grads = arch_names([a.grad for a in model.arch_parameters()])
    return compare(model, mapped, structure, loss, logits, logits_eval, grads, arch_grads, ours)


def max_diff(ours, theirs, prefix):
    """Largest |difference| and largest |value| over the named gradients (an undefined gradient
    counts as zero: tch leaves it undefined where PyTorch 2 also has none or zeros)."""
    worst, scale, diff_sq, norm_sq = 0.0, 0.0, 0.0, 0.0
    for name, g in theirs.items():
        g = torch.zeros(0) if g is None else g
        o = ours.get(f"{prefix}{name}")
        if o is None:
            o = torch.zeros_like(g)
        if g.numel() == 0:
            g = torch.zeros_like(o)
        worst = max(worst, (o - g).abs().max().item() if o.numel() else 0.0)
        scale = max(scale, g.abs().max().item() if g.numel() else 0.0)
        if o.numel():
            diff_sq += (o - g).double().square().sum().item()
            norm_sq += g.double().square().sum().item()
    extra = [k for k in ours if k.startswith(prefix) and k[len(prefix):] not in theirs]
    if extra:
        raise SystemExit(f"nb1s1 reports gradients the original has no parameter for: {extra[:5]}")
    return worst, scale, (diff_sq / norm_sq) ** 0.5 if norm_sq else 0.0


def compare(model, mapped, structure, loss, logits, logits_eval, grads, arch_grads, ours):
    params = list(model.parameters())
    # The architecture logits live outside parameters() in the original, as in nb1s1.
    shapes = Counter(tuple(p.shape) for p in params)
    our_shapes = Counter(tuple(s) for _, s in structure["parameters"])
    our_vars = {n for n, _ in structure["parameters"]} | {n for n, _ in structure["buffers"]}
    if set(mapped) != our_vars:
        missing = sorted(our_vars - set(mapped))[:5]
        extra = sorted(set(mapped) - our_vars)[:5]
        raise SystemExit(f"name mapping incomplete: ours only {missing}, original only {extra}")
    grad_diff, grad_scale, grad_rel = max_diff(ours, grads, "grad.")
    arch_diff, arch_scale, arch_rel = (max_diff(ours, arch_grads, "grad_arch.") if arch_grads
                                       else (None, None, None))
    lt, le = ours["logits_train"], ours["logits_eval"]
    return {
        "params_original": sum(p.numel() for p in params),
        "params_ours": structure["num_parameters"],
        "shapes_equal": shapes == our_shapes,
        "loss_original": loss.item(),
        "loss_ours": ours["loss"].item(),
        "loss_diff": abs(loss.item() - ours["loss"].item()),
        "loss_bit_identical": bool(torch.equal(loss.detach().reshape(()), ours["loss"].reshape(()))),
        "logits_train_max_diff": (lt - logits.detach()).abs().max().item(),
        "logits_eval_max_diff": (le - logits_eval).abs().max().item(),
        "pred_train_agree": int((lt.argmax(1) == logits.argmax(1)).sum()),
        "pred_eval_agree": int((le.argmax(1) == logits_eval.argmax(1)).sum()),
        "batch": int(lt.shape[0]),
        "grad_max_diff": grad_diff,
        "grad_max_abs": grad_scale,
        "arch_grad_max_diff": arch_diff,
        "arch_grad_max_abs": arch_scale,
        # ‖Δ‖ / ‖grad‖ over all entries: tells rounding spread everywhere from a few flips.
        "grad_rel_norm": grad_rel,
        "arch_grad_rel_norm": arch_rel,
    }


# --- discretization -----------------------------------------------------------------------------

def weight_settings(space, ss, count, rng):
    """count settings of [alphas_mixed_op, alphas_output, *alphas_inputs] as the original stores
    them: half at the initialization scale 1e-3, half at scale 1; plus tied settings apart."""
    steps = ss.num_intermediate_nodes
    begin = 3 if space == 1 else 2
    shapes = [(steps, 3), (1, steps + 1)] + [(1, k) for k in range(begin, steps + 1)]
    random_ = [[(1e-3 if i < count // 2 else 1.0) * rng.standard_normal(s).astype(np.float32)
                for s in shapes] for i in range(count)]
    # Ties: values from {0, 1}, so several candidates often share the top value.
    tied = [[rng.integers(0, 2, s).astype(np.float32) for s in shapes] for _ in range(count // 10)]
    return random_, tied


def discretize_original(orig, space, settings, folder):
    """The original's eval_one_shot_model on each setting; returns its NB-101 cells and the
    parent sets and ops it chose (recorded from its create_nasbench_adjacency_matrix call)."""
    cls = orig.spaces[space]
    real = cls.create_nasbench_adjacency_matrix
    chosen = []

    def recording(self, parents, **kwargs):
        chosen.append({k: sorted(int(p) for p in v) for k, v in parents.items()})
        return real(self, parents, **kwargs)

    cls.create_nasbench_adjacency_matrix = recording
    table = _RecordingTable()
    try:
        for i, s in enumerate(settings):
            path = folder / f"weights_{i}.obj"
            with open(path, "wb") as f:
                pickle.dump(s, f)
            orig.evaluation.eval_one_shot_model({"search_space": str(space)}, str(path), table)
            path.unlink()
    finally:
        cls.create_nasbench_adjacency_matrix = real
    return [{"matrix": spec.matrix, "ops": spec.ops, "parents": p}
            for spec, p in zip(table.specs, chosen)]


def discretize_case(orig, binary, space, settings, folder):
    folder.mkdir(parents=True, exist_ok=True)
    ss = orig.spaces[space]()
    original = discretize_original(orig, space, settings, folder)
    tensors = {}
    for i, s in enumerate(settings):
        tensors.update(arch_names([torch.from_numpy(a) for a in s], f"{i}."))
    write_safetensors(folder / "disc.safetensors", tensors)
    disc = {"space": space, "count": len(settings),
            "original": [{"matrix": o["matrix"], "ops": o["ops"]} for o in original]}
    (folder / "disc.json").write_text(json.dumps(disc))
    run_ours(binary, "discretize", folder)
    ours = json.loads((folder / "disc_ours.json").read_text())
    steps = ss.num_intermediate_nodes
    agree_ops = agree_parents = agree_hash = 0
    first_bad = None
    for i, (o, us) in enumerate(zip(original, ours)):
        arch = us["architecture"]
        ops_ok = arch["ops"] == o["ops"][1:1 + steps]
        parents_ok = all(arch["parents"][k - 1] == o["parents"][str(k)] for k in range(1, steps + 2))
        hash_ok = us["hash"] == us["original_hash"]
        agree_ops += ops_ok
        agree_parents += parents_ok
        agree_hash += hash_ok
        if first_bad is None and not (ops_ok and parents_ok and hash_ok):
            first_bad = {"setting": i, "original": o, "ours": us}
    return {"settings": len(settings), "ops": agree_ops, "parents": agree_parents,
            "hash": agree_hash, "first_disagreement": first_bad}


# --- the report ---------------------------------------------------------------------------------

def fmt(v):
    return "—" if v is None else (f"{v:.3g}" if v else "0")


def print_tables(forward, disc, n_images, source, channels_last):
    layout = "channels-last" if channels_last else "channels_last = false"
    print(f"\n### Supernets ({n_images} {source} images, nb1s1 {layout}; one training-mode "
          "forward/backward, then evaluation mode)\n")
    print("| space | optimizer | parameters (original / nb1s1) | shapes | loss (original) | "
          "max \\|Δ loss\\| | bit-identical | max \\|Δ logit\\| train / eval | predictions agree "
          "train / eval | max \\|Δ grad\\| (max \\|grad\\|) | max \\|Δ arch grad\\| (max) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (space, opt), r in forward.items():
        print(f"| {space} | {LABEL[opt]} | {r['params_original']:,} / {r['params_ours']:,} | "
              f"{'equal' if r['shapes_equal'] else 'DIFFER'} | {r['loss_original']:.6f} | "
              f"{fmt(r['loss_diff'])} | {'yes' if r['loss_bit_identical'] else 'no'} | "
              f"{fmt(r['logits_train_max_diff'])} / {fmt(r['logits_eval_max_diff'])} | "
              f"{r['pred_train_agree']}/{r['batch']} / {r['pred_eval_agree']}/{r['batch']} | "
              f"{fmt(r['grad_max_diff'])} ({fmt(r['grad_max_abs'])}) | "
              f"{fmt(r['arch_grad_max_diff'])} ({fmt(r['arch_grad_max_abs'])}) |")
    print("\n### Discretization (the original's eval_one_shot_model vs supernet::discretize)\n")
    print("| space | weights | settings | same ops | same parent sets | same NB-101 hash |")
    print("|---|---|---|---|---|---|")
    for (space, kind), r in disc.items():
        print(f"| {space} | {kind} | {r['settings']} | {r['ops']} | {r['parents']} | {r['hash']} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--original", required=True, type=Path, help="checkout of automl/nasbench-1shot1")
    ap.add_argument("--bin", required=True, type=Path, help="the fidelity example of crates/supernet")
    ap.add_argument("--images", type=int, default=16, help="batch size (default 16)")
    ap.add_argument("--cifar", type=Path, default=ROOT.parent / "shared/data/cifar10-jpeg.tar.gz",
                    help="CIFAR-10 JPEG archive (train/ and test/ class folders)")
    ap.add_argument("--random-images", action="store_true", help="N(0, 1) images instead of CIFAR-10")
    ap.add_argument("--settings", type=int, default=1000,
                    help="random architecture-weight settings per space (default 1000)")
    ap.add_argument("--spaces", default="1,2,3")
    ap.add_argument("--optimizers", default=",".join(OPTIMIZERS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--channels-last", action="store_true",
                    help="nb1s1 in channels-last layout (other kernels: equal up to rounding)")
    ap.add_argument("--work", type=Path, help="keep the case folders here (default: a temp dir)")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    args = ap.parse_args()
    if not (args.original / "optimizers/darts/model_search.py").is_file():
        raise SystemExit(f"{args.original}: not a checkout of automl/nasbench-1shot1")
    orig = import_original(args.original.resolve())
    if args.random_images:
        batch, source = random_batch(args.images, args.seed), "random N(0, 1)"
    else:
        if not args.cifar.is_file():
            raise SystemExit(f"{args.cifar}: no CIFAR-10 archive (pass --cifar or --random-images)")
        batch, source = load_batch(args.cifar, args.images), "CIFAR-10 test"
    work = args.work or Path(tempfile.mkdtemp(prefix="nb1s1-fidelity-"))
    spaces = [int(s) for s in args.spaces.split(",")]
    forward, disc = {}, {}
    for space, opt in itertools.product(spaces, args.optimizers.split(",")):
        print(f"[fidelity] space {space} {opt}", file=sys.stderr)
        forward[(space, opt)] = run_case(orig, args.bin, opt, space, batch,
                                         work / f"s{space}-{opt}", args.seed + space,
                                         args.channels_last)
    rng = np.random.default_rng(args.seed)
    for space in spaces:
        print(f"[fidelity] space {space} discretization", file=sys.stderr)
        random_, tied = weight_settings(space, orig.spaces[space](), args.settings, rng)
        for kind, settings in [("random (½ at 1e-3, ½ at 1)", random_), ("tied (values 0/1)", tied)]:
            sub = work / f"disc-s{space}-{'tied' if kind.startswith('tied') else 'random'}"
            disc[(space, kind)] = discretize_case(orig, args.bin, space, settings, sub)
    print_tables(forward, disc, args.images, source, args.channels_last)
    if args.json:
        out = {"forward": [dict(space=s, optimizer=o, **r) for (s, o), r in forward.items()],
               "discretization": [dict(space=s, weights=k, **r) for (s, k), r in disc.items()]}
        args.json.write_text(json.dumps(out, indent=1))
    bad = [k for k, r in forward.items()
           if not r["shapes_equal"] or r["params_original"] != r["params_ours"]
           or r["pred_train_agree"] != r["batch"] or r["pred_eval_agree"] != r["batch"]
           or r["loss_diff"] > 1e-4]
    bad += [k for k, r in disc.items() if "random" in k[1] and r["hash"] != r["settings"]]
    if bad:
        print(f"\n[fidelity] FAILED: {bad}", file=sys.stderr)
        sys.exit(1)
    print("\n[fidelity] all checks passed", file=sys.stderr)


if __name__ == "__main__":
    main()
