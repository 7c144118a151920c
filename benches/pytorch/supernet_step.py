#!/usr/bin/env python3
"""PyTorch eager reference for the nb1s1 supernet training step (crates/supernet).

Mirrors the Rust model layer for layer (same layers, same parameter count, printed) and times
one DARTS first-order step: an architecture step (Adam on the architecture weights, on a
"valid" batch) followed by a weight step (SGD momentum 0.9, weight decay 3e-4, gradient-norm
clip 5) on a "train" batch. Prints one machine-readable line:

    RESULT impl=pytorch device=cpu threads=2 params=... median_ms=... min_ms=... cpu_ms=... steps=...

cpu_ms is the median process CPU time per step (all threads), a steadier figure than wall time
on a shared machine.

Plain PyTorch only, so that it is a fair eager baseline.
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# Parents per node 1..N+1 (output last), spec §1.1.
SPACES = {1: [1, 2, 2, 2, 2], 2: [1, 1, 2, 2, 3], 3: [1, 1, 1, 2, 2, 2]}


def has_edge_vector(parents, node):
    """A choice block has edge logits exactly when choosing its parents is a real choice."""
    return parents[node - 1] < node


class ConvBnRelu(nn.Sequential):
    def __init__(self, cin, cout, k, momentum):
        super().__init__(
            nn.Conv2d(cin, cout, k, padding=k // 2, bias=False),
            nn.BatchNorm2d(cout, eps=1e-5, momentum=momentum, affine=True),
            nn.ReLU(),
        )


class ChoiceBlock(nn.Module):
    """Mixed op over (maxpool3x3, conv3x3-bn-relu, conv1x1-bn-relu)."""

    def __init__(self, c, momentum):
        super().__init__()
        self.pool = nn.MaxPool2d(3, stride=1, padding=1)
        self.conv3 = ConvBnRelu(c, c, 3, momentum)
        self.conv1 = ConvBnRelu(c, c, 1, momentum)

    def forward(self, x, w):
        return w[0] * self.pool(x) + w[1] * self.conv3(x) + w[2] * self.conv1(x)


class Cell(nn.Module):
    def __init__(self, n, cin, c, momentum):
        super().__init__()
        self.n = n
        self.proj = nn.ModuleList([ConvBnRelu(cin, c, 1, momentum) for _ in range(n)])
        self.proj_out = ConvBnRelu(cin, n * c, 1, momentum)
        self.blocks = nn.ModuleList([ChoiceBlock(c, momentum) for _ in range(n)])

    def forward(self, x, ops, output, inputs):
        hs = []
        for i in range(self.n):
            cands = [self.proj[i](x)] + hs
            beta = inputs[i]
            if beta is None:
                s = sum(cands)
            else:
                s = sum(beta[0, j] * t for j, t in enumerate(cands))
            hs.append(self.blocks[i](s, ops[i]))
        cat = torch.cat([output[0, j + 1] * h for j, h in enumerate(hs)], dim=1)
        return output[0, 0] * self.proj_out(x) + cat


class Supernet(nn.Module):
    def __init__(self, space, c=16, layers=9, num_classes=10, momentum=0.1, pad=0):
        super().__init__()
        self.parents = SPACES[space]
        n = len(self.parents) - 1
        self.n, self.pad = n, pad
        self.stem = ConvBnRelu(3, c, 3, momentum)
        self.cells = nn.ModuleList()
        self.down = []
        cin, cc = c, c
        for i in range(layers):
            d = i in (layers // 3, 2 * layers // 3)
            if d:
                cc *= 2
            self.down.append(d)
            self.cells.append(Cell(n, cin, cc, momentum))
            cin = n * cc
        self.post = nn.Sequential(
            nn.ReLU(), nn.Conv2d(cin, cc, 1, bias=False), nn.BatchNorm2d(cc, affine=False)
        )
        self.classifier = nn.Linear(cc, num_classes)
        # Architecture weights (§2.4), not module parameters.
        self.alphas_ops = (1e-3 * torch.randn(n, 3)).requires_grad_()
        self.alphas_output = (1e-3 * torch.randn(1, n + 1)).requires_grad_()
        self.alphas_inputs = [
            (1e-3 * torch.randn(1, k)).requires_grad_() if has_edge_vector(self.parents, k) else None
            for k in range(1, n + 1)
        ]

    def arch_parameters(self):
        return [self.alphas_ops, self.alphas_output] + [a for a in self.alphas_inputs if a is not None]

    def forward(self, x):
        s = self.stem(x)
        for d, cell in zip(self.down, self.cells):
            if d:
                s = F.max_pool2d(s, 2, 2, padding=self.pad)
            # The original recomputes the softmax inside the cell loop.
            ops = F.softmax(self.alphas_ops, dim=-1)
            out = F.softmax(self.alphas_output, dim=-1)
            inp = [None if a is None else F.softmax(a, dim=-1) for a in self.alphas_inputs]
            s = cell(s, ops, out, inp)
        s = self.post(s)
        s = F.adaptive_avg_pool2d(s, 1).flatten(1)
        return self.classifier(s)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", type=int, default=3, choices=[1, 2, 3])
    ap.add_argument("--batch", type=int, default=96)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--layers", type=int, default=9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--channels-last", action="store_true")
    args = ap.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    model = Supernet(args.space, args.channels, args.layers).to(dev)
    arch = [a.detach().to(dev).requires_grad_() for a in model.arch_parameters()]
    # Re-bind the moved architecture tensors.
    model.alphas_ops, model.alphas_output = arch[0], arch[1]
    it = iter(arch[2:])
    model.alphas_inputs = [None if a is None else next(it) for a in model.alphas_inputs]
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    params = sum(p.numel() for p in model.parameters())
    print(f"pytorch supernet: space {args.space}, C={args.channels}, {args.layers} cells, "
          f"{params} weight parameters, {sum(a.numel() for a in arch)} architecture values")

    opt = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    aopt = torch.optim.Adam(arch, lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    xt = torch.randn(args.batch, 3, 32, 32, device=dev).contiguous(memory_format=fmt)
    yt = torch.randint(0, 10, (args.batch,), device=dev)
    xv = torch.randn(args.batch, 3, 32, 32, device=dev).contiguous(memory_format=fmt)
    yv = torch.randint(0, 10, (args.batch,), device=dev)
    model.train()

    def step():
        aopt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xv), yv).backward()
        aopt.step()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xt), yt)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        return loss

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(args.warmup):
        step()
    sync()
    times, cpu = [], []
    for _ in range(args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    print(f"RESULT impl=pytorch{'-channels-last' if args.channels_last else ''} device={args.device} "
          f"threads={args.threads} params={params} median_ms={statistics.median(times):.1f} "
          f"min_ms={min(times):.1f} cpu_ms={statistics.median(cpu):.1f} steps={args.steps}")


if __name__ == "__main__":
    main()
