"""A real (tiny) PyTorch one-shot search recorded with nb1s1.Recorder, then ingested and reported.

The supernet is a toy on vectors, not the CIFAR-10 supernet: each choice block of search space 3
mixes three operations (max-pooling, a "3x3" and a "1x1" layer) with softmax weights, each node
mixes its inputs with softmax edge weights, and the output mixes the nodes; the weights and the
architecture parameters are trained first-order DARTS style (alternating steps on a training and
a validation half of a synthetic classification task). What matters is the interface: the
list ``model.arch_parameters()`` (operations (5, 3), output (1, 6), the inputs (1, k) of nodes
2..5) goes to ``Recorder.record`` as torch tensors, once per epoch, in the original's layout.

Needs torch, numpy and the nb1s1 wheel; the ``nb1s1`` binary for ingest and report (--nb1s1).

    python examples/torch_recorder.py --out runs/torch-example [--nb101 FILE] [--nb1s1 BIN]

Without --nb101 it writes a SYNTHETIC NB-101 table of every unique cell of space 3 (results on
it are not real: use the official nasbench_only108.tfrecord or nasbench_full.tfrecord).
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import nb1s1

SPACE = 3
BLOCKS = 5  # choice blocks of space 3
EDGE_NODES = [2, 3, 4, 5]  # nodes whose parents are chosen by an edge-weight vector
DIM = 16


class MixedOp(nn.Module):
    """The three candidate operations in the original's PRIMITIVES order."""

    def __init__(self):
        super().__init__()
        self.conv3x3 = nn.Linear(DIM, DIM)
        self.conv1x1 = nn.Linear(DIM, DIM, bias=False)

    def forward(self, x, w):
        pool = F.max_pool1d(x.unsqueeze(1), 3, stride=1, padding=1).squeeze(1)
        return w[0] * pool + w[1] * F.relu(self.conv3x3(x)) + w[2] * F.relu(self.conv1x1(x))


class ToySupernet(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.stem = nn.Linear(DIM, DIM)
        self.ops = nn.ModuleList(MixedOp() for _ in range(BLOCKS))
        self.head = nn.Linear(DIM, classes)
        self.alphas_mixed_op = nn.Parameter(1e-3 * torch.randn(BLOCKS, 3))
        self.alphas_output = nn.Parameter(1e-3 * torch.randn(1, BLOCKS + 1))
        self.betas = nn.ParameterList(nn.Parameter(1e-3 * torch.randn(1, k)) for k in EDGE_NODES)

    def arch_parameters(self):
        """The original's layout: operations, output, then the inputs of each edge node."""
        return [self.alphas_mixed_op, self.alphas_output, *self.betas]

    def weights(self):
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def forward(self, x):
        nodes = [self.stem(x)]
        ops = F.softmax(self.alphas_mixed_op, dim=-1)
        for k in range(1, BLOCKS + 1):
            if k == 1:
                inp = nodes[0]  # node 1's only parent is the input
            else:
                b = F.softmax(self.betas[k - 2], dim=-1)[0]
                inp = sum(b[j] * nodes[j] for j in range(k))
            nodes.append(self.ops[k - 1](inp, ops[k - 1]))
        out = F.softmax(self.alphas_output, dim=-1)[0]
        return self.head(sum(out[j] * nodes[j] for j in range(BLOCKS + 1)))


def task(seed, n=2048, classes=10):
    """A synthetic classification task: labels from a random two-layer teacher."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, DIM, generator=g)
    teacher = torch.randn(DIM, 32, generator=g), torch.randn(32, classes, generator=g)
    y = (torch.tanh(x @ teacher[0]) @ teacher[1]).argmax(-1)
    half = n // 2
    return (x[:half], y[:half]), (x[half:], y[half:])


def synthetic_table(path):
    space = nb1s1.SearchSpace(SPACE)
    cells = [space.to_nb101(a) for _, a in space.unique_models()]
    nb1s1.generate_from_specs(path, np.stack([c[0] for c in cells]), [c[1] for c in cells])
    print("SYNTHETIC NB-101 table of %d cells: %s" % (len(cells), path))


def search(nb101, run_dir, seed, epochs):
    torch.manual_seed(seed)
    (xt, yt), (xv, yv) = task(seed)
    model = ToySupernet(classes=10)
    w_opt = torch.optim.SGD(model.weights(), lr=0.05, momentum=0.9)
    a_opt = torch.optim.Adam(model.arch_parameters(), lr=3e-2, betas=(0.5, 0.999))
    settings = {"lr": 0.05, "arch_lr": 3e-2, "batch": 64, "epochs": epochs, "toy": True}
    with nb1s1.Recorder(SPACE, nb101, run_dir, "toy-darts-torch", seed=seed,
                        settings=settings, epochs=epochs) as rec:
        for epoch in range(rec.next_epoch, epochs):
            perm = torch.randperm(len(xt))
            loss_sum, right = 0.0, 0
            for i in range(0, len(xt), 64):
                idx = perm[i:i + 64]
                a_opt.zero_grad()  # architecture step on a validation batch (first order)
                F.cross_entropy(model(xv[idx]), yv[idx]).backward()
                a_opt.step()
                w_opt.zero_grad()  # weight step on a training batch
                logits = model(xt[idx])
                loss = F.cross_entropy(logits, yt[idx])
                loss.backward()
                w_opt.step()
                loss_sum += loss.item() * len(idx)
                right += (logits.argmax(-1) == yt[idx]).sum().item()
            with torch.no_grad():
                one_shot = (model(xv).argmax(-1) != yv).float().mean().item()
            r = rec.record(epoch, model.arch_parameters(), {
                "train_loss": loss_sum / len(xt), "train_accuracy": right / len(xt),
                "one_shot_valid_error": one_shot, "lr": 0.05,
            })
            regret = r["test_regret"]
            print("seed %d epoch %d: loss %.3f one-shot error %.3f -> %s test regret %s" % (
                seed, epoch, loss_sum / len(xt), one_shot, r["nb101_hash"],
                "%.4f" % regret if regret is not None else "none (invalid cell)"))
        rec.finish()


def run(cmd):
    print("$ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/torch-example")
    ap.add_argument("--nb101", help="NB-101 file (default: a SYNTHETIC table written into --out)")
    ap.add_argument("--nb1s1", default="nb1s1", help="the nb1s1 binary, for ingest and report")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=8)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    nb101 = a.nb101
    if nb101 is None:
        nb101 = os.path.join(a.out, "synthetic-space3.tfrecord")
        if not os.path.exists(nb101):
            synthetic_table(nb101)
    print("torch %s, nb1s1 wheel %s" % (torch.__version__, nb1s1.__version__))
    for seed in range(a.seeds):
        search(nb101, os.path.join(a.out, "recorded", "toy-darts-torch-s%d" % seed), seed, a.epochs)
    # Black-box baselines on the same table, so the report compares methods.
    run([a.nb1s1, "blackbox", "--optimizer", "rs,re", "--space", str(SPACE), "--seeds", "0..3",
         "--queries", "300", "--nb101", nb101, "--out", os.path.join(a.out, "blackbox")])
    db = os.path.join(a.out, "results.sqlite")
    run([a.nb1s1, "results", "ingest", a.out, "--db", db])
    run([a.nb1s1, "results", "query", "final-regret", "--db", db])
    run([a.nb1s1, "report", "--results", db, "--out", os.path.join(a.out, "report")])


if __name__ == "__main__":
    sys.exit(main())
