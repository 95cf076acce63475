#!/usr/bin/env python3
"""The PyTorch side of tools/bench/train: full training steps of Loom's "resnet-small" on random data.

The architecture is Loom's resnet-small (Sources/LoomTrain/Models/ResNet.swift), the CIFAR ResNet-8
shape, written out here with plain torch.nn so nothing but torch is needed:

    conv3x3(C->16, no bias) + BN + ReLU
    stage1: BasicBlock(16->16, stride 1)
    stage2: BasicBlock(16->32, stride 2, 1x1 conv + BN shortcut)
    stage3: BasicBlock(32->64, stride 2, 1x1 conv + BN shortcut)
    global average pool, linear(64 -> classes)

One step is what `loom bench train` times: forward, mean softmax cross-entropy, backward, and
SGD(momentum 0.9, weight decay 5e-4), float32 NCHW on the CPU with torch.set_num_threads(THREADS).
The first WARMUP steps are not timed; the rate is the median of the per-step rates.

Usage: torch_train.py [--batch 128] [--size 32] [--classes 10] [--steps 30] [--warmup 5] [--threads 2]
Prints one JSON line: model, batch, size, classes, threads, steps, images_per_s, ms_per_step, torch.
"""

import argparse
import pathlib
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# The same resnet-small the torch trainer runs (one definition: tools/workers/torch_trainer.py).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "workers"))
from torch_trainer import ResNetSmall  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = ResNetSmall(args.classes).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    images = torch.randn(args.batch, 3, args.size, args.size, dtype=torch.float32)
    labels = torch.randint(0, args.classes, (args.batch,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss.detach()

    for _ in range(args.warmup):
        step()
    seconds = []
    for _ in range(args.steps):
        start = time.perf_counter()
        loss = step()
        loss.item()  # the step is done once the loss is read back
        seconds.append(time.perf_counter() - start)

    median = statistics.median(seconds)
    print(json.dumps({
        "model": "resnet-small", "batch": args.batch, "size": args.size, "classes": args.classes,
        "threads": torch.get_num_threads(), "steps": args.steps,
        "images_per_s": args.batch / median, "ms_per_step": median * 1000,
        "torch": torch.__version__, "mkldnn": torch.backends.mkldnn.is_available(),
    }))


if __name__ == "__main__":
    sys.exit(main())
