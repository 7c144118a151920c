#!/usr/bin/env python3
"""PyTorch eager reference for the nb1s1 stand-alone NB-101 training step (crates/standalone).

Builds the NAS-Bench-101 network of a cell the way crates/standalone does (stem 3x3 conv-BN-ReLU,
stacks of cells with 2x2 max-pool and channel doubling between them, vertex channels, 1x1
projections of the cell input, concatenation at the output, global average pool, dense head)
and times one training step: forward, cross-entropy, backward and TensorFlow-style RMSProp
(mean square starting at 1, epsilon 1.0 under the root, momentum 0.9, L2 1e-4) on random images.
It prints the parameter count, which must equal the Rust side's. One machine-readable line:

    RESULT impl=pytorch device=cpu threads=2 batch=256 stem=128 params=... median_ms=...
           min_ms=... cpu_ms=... images_per_s=... steps=...

Plain PyTorch only, so that it is a fair eager baseline.
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

MATRIX = "0111100/0010000/0001000/0000100/0000010/0000001/0000000"
OPS = ("input,conv3x3-bn-relu,conv3x3-bn-relu,conv3x3-bn-relu,conv3x3-bn-relu,"
       "conv3x3-bn-relu,output")


def widths(cin, cout, m):
    """Channels per vertex: the output split over its interior fan-in, others the widest target."""
    n = len(m)
    ch = [0] * n
    ch[0], ch[-1] = cin, cout
    if n == 2:
        return ch
    feeders = [v for v in range(1, n - 1) if m[v][n - 1]]
    share, extra = divmod(cout, len(feeders))
    for i, v in enumerate(feeders):
        ch[v] = share + (1 if i < extra else 0)
    for v in range(n - 2, 0, -1):
        if not m[v][n - 1]:
            ch[v] = max(ch[d] for d in range(v + 1, n - 1) if m[v][d])
    return ch


def conv_bn_relu(cin, cout, k):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=k // 2, bias=False),
        nn.BatchNorm2d(cout, eps=1e-5, momentum=0.003),
        nn.ReLU(),
    )


class Cell(nn.Module):
    def __init__(self, m, ops, cin, cout):
        super().__init__()
        self.m, self.n = m, len(m)
        self.ch = widths(cin, cout, m)
        self.proj = nn.ModuleDict({
            str(v): conv_bn_relu(cin, self.ch[v], 1) for v in range(1, self.n) if m[0][v]
        })
        self.ops = nn.ModuleDict()
        for v in range(1, self.n - 1):
            op = ops[v]
            if op == "conv3x3-bn-relu":
                self.ops[str(v)] = conv_bn_relu(self.ch[v], self.ch[v], 3)
            elif op == "conv1x1-bn-relu":
                self.ops[str(v)] = conv_bn_relu(self.ch[v], self.ch[v], 1)
            else:
                self.ops[str(v)] = nn.MaxPool2d(3, stride=1, padding=1)

    def forward(self, x):
        out = self.n - 1
        vals = [x]
        cat = []
        for v in range(1, out):
            ins = [vals[s][:, : self.ch[v]] for s in range(1, v) if self.m[s][v]]
            if self.m[0][v]:
                ins.append(self.proj[str(v)](x))
            h = self.ops[str(v)](sum(ins))
            vals.append(h)
            if self.m[v][out]:
                cat.append(h)
        if not cat:
            return self.proj[str(out)](x)
        y = torch.cat(cat, 1) if len(cat) > 1 else cat[0]
        if self.m[0][out]:
            y = y + self.proj[str(out)](x)
        return y


class Network(nn.Module):
    def __init__(self, m, ops, stem=128, stacks=3, cells=3, labels=10):
        super().__init__()
        self.stem = conv_bn_relu(3, stem, 3)
        layers, c = [], stem
        for s in range(stacks):
            if s > 0:
                layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))
            cout = c if s == 0 else 2 * c
            for _ in range(cells):
                layers.append(Cell(m, ops, c, cout))
                c = cout
        self.body = nn.Sequential(*layers)
        self.dense = nn.Linear(c, labels)

    def forward(self, x):
        return self.dense(self.body(self.stem(x)).mean((2, 3)))


class TfRmsProp:
    """TensorFlow 1's RMSPropOptimizer with the L2 term folded into the gradient."""

    def __init__(self, params, lr=0.1, decay=0.9, momentum=0.9, eps=1.0, wd=1e-4):
        self.params = list(params)
        self.ms = [torch.ones_like(p) for p in self.params]
        self.mom = [torch.zeros_like(p) for p in self.params]
        self.lr, self.decay, self.momentum, self.eps, self.wd = lr, decay, momentum, eps, wd

    @torch.no_grad()
    def step(self):
        for p, ms, mom in zip(self.params, self.ms, self.mom):
            if p.grad is None:
                continue
            g = p.grad + self.wd * p
            ms.mul_(self.decay).add_(g * g * (1 - self.decay))
            mom.mul_(self.momentum).add_(self.lr * g / (ms + self.eps).sqrt())
            p.sub_(mom)
            p.grad = None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--stem", type=int, default=128)
    ap.add_argument("--cells", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--matrix", default=MATRIX)
    ap.add_argument("--ops", default=OPS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    m = [[int(c) for c in row] for row in args.matrix.split("/")]
    ops = args.ops.split(",")
    dev = torch.device(args.device)
    model = Network(m, ops, stem=args.stem, cells=args.cells).to(dev)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    opt = TfRmsProp(model.parameters())
    x = torch.randn(args.batch, 3, 32, 32, device=dev).to(memory_format=fmt)
    y = torch.randint(0, 10, (args.batch,), device=dev)
    wall, cpu = [], []
    for i in range(args.warmup + args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
        if i >= args.warmup:
            wall.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
    med = statistics.median(wall)
    print(f"RESULT impl=pytorch{'-channels-last' if args.channels_last else ''} "
          f"device={args.device} threads={args.threads} batch={args.batch} stem={args.stem} "
          f"params={params} median_ms={med:.1f} min_ms={min(wall):.1f} "
          f"cpu_ms={statistics.median(cpu):.1f} images_per_s={args.batch / (med / 1e3):.1f} "
          f"steps={args.steps}")


if __name__ == "__main__":
    main()
