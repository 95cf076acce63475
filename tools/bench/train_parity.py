#!/usr/bin/env python3
"""The PyTorch side of tools/bench/train-parity: Loom's recipe, fed by torchvision's transforms.

Same model (resnet-small, tools/workers/torch_trainer.py's ResNetSmall, initialised as Loom's
Swift trainer does: Kaiming-normal fan-out convolutions), optimiser (SGD, momentum,
weight decay off batch norm and biases), schedule (linear warm-up then cosine, per step, Loom's
LearningRateSchedule), batch (last partial batch dropped), normalisation (ImageNet mean/std on
0-255) and epochs as `loom train`; only the pixels differ: they come from torchvision's
RandomResizedCrop(size, scale=(crop_scale, 1), ratio=(3/4, 4/3)) + RandomHorizontalFlip on PIL
images, and Resize(size / 0.875) + CenterCrop(size) for evaluation, as the papers' pipelines do.

torchvision's own transforms when it imports (its PyPI wheel is a CUDA build; the detection-op
registrations that fail next to CPU torch are stubbed), else the exact operations they run:
RandomResizedCrop.get_params on torch's generator, img.crop(box).resize((size, size), BILINEAR),
transpose(FLIP_LEFT_RIGHT) (tools/bench/transforms_reference.py checks these equal torchvision's).

Usage: train_parity.py --train DIR --val DIR [--epochs 4] [--size 32] [--batch 128] [--seed 0]
       [--crop-scale 0.08] [--lr 0.1] [--momentum 0.9] [--weight-decay 5e-4] [--warmup-epochs 1]
       [--label-smoothing 0] [--threads 2]
DIR: ImageFolder (DIR/<class>/*). Prints one JSON line: eval_top1, train_top1, loss, backend, seconds.
"""

import argparse
import json
import math
import os
import pathlib
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "workers"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from torch_trainer import MEAN, STD, ResNetSmall, learning_rate  # noqa: E402
from transforms_reference import eval_geometry, load_torchvision  # noqa: E402


def image_folder(root):
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    items = []
    for label, name in enumerate(classes):
        for file in sorted(os.listdir(os.path.join(root, name))):
            with Image.open(os.path.join(root, name, file)) as img:
                items.append((img.convert("RGB"), label))
    return classes, items


def random_resized_crop_params(width, height, scale, ratio):
    """torchvision's RandomResizedCrop.get_params, on torch's global generator."""
    area = height * width
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(scale[0], scale[1]).item()
        aspect_ratio = math.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1]).item())
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            i = torch.randint(0, height - h + 1, size=(1,)).item()
            j = torch.randint(0, width - w + 1, size=(1,)).item()
            return i, j, h, w
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


class Transforms:
    def __init__(self, size, crop_scale):
        self.size, self.scale, self.ratio = size, (crop_scale, 1.0), (3.0 / 4.0, 4.0 / 3.0)
        loaded = load_torchvision()
        if loaded:
            torchvision, _ = loaded
            import torchvision.transforms as T
            self.train_t = T.Compose([T.RandomResizedCrop(size, scale=self.scale, ratio=self.ratio,
                                                          interpolation=T.InterpolationMode.BILINEAR),
                                      T.RandomHorizontalFlip()])
            self.eval_t = T.Compose([T.Resize(int(size / 0.875), interpolation=T.InterpolationMode.BILINEAR),
                                     T.CenterCrop(size)])
            self.backend = f"torchvision {torchvision.__version__} transforms (PIL)"
        else:
            self.train_t = self.eval_t = None
            self.backend = "exact operations torchvision runs (get_params, PIL crop + resize BILINEAR, flip)"

    def train(self, img):
        if self.train_t:
            return np.asarray(self.train_t(img))
        top, left, h, w = random_resized_crop_params(img.width, img.height, self.scale, self.ratio)
        out = img.crop((left, top, left + w, top + h)).resize((self.size, self.size), Image.BILINEAR)
        if torch.rand(1).item() < 0.5:
            out = out.transpose(Image.FLIP_LEFT_RIGHT)
        return np.asarray(out)

    def eval(self, img):
        if self.eval_t:
            return np.asarray(self.eval_t(img))
        rw, rh, left, top = eval_geometry(img.width, img.height, self.size)
        return np.asarray(img.resize((rw, rh), Image.BILINEAR).crop((left, top, left + self.size, top + self.size)))


def normalise(batch):
    x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float()
    mean = torch.tensor(MEAN).view(1, 3, 1, 1) * 255
    std = torch.tensor(STD).view(1, 3, 1, 1) * 255
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", required=True)
    p.add_argument("--val", required=True)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--crop-scale", type=float, default=0.08)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    start = time.monotonic()
    classes, train = image_folder(a.train)
    val_classes, val = image_folder(a.val)
    if val_classes != classes:
        raise SystemExit(f"{a.val} has classes {val_classes}, {a.train} has {classes}")
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    transforms = Transforms(a.size, a.crop_scale)
    model = ResNetSmall(len(classes))
    # Loom's initialisation (Sources/LoomTrain/Layers/Initialization.swift, torchvision's ResNet
    # recipe): Kaiming-normal fan-out convolutions; batch norm 1/0 and nn.Linear's default as built.
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    model = model.to(memory_format=torch.channels_last)
    decay = [q for q in model.parameters() if q.ndim > 1]
    no_decay = [q for q in model.parameters() if q.ndim <= 1]
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": a.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                                lr=a.lr, momentum=a.momentum)
    criterion = nn.CrossEntropyLoss(label_smoothing=a.label_smoothing)
    steps_per_epoch = len(train) // a.batch
    if steps_per_epoch < 1:
        raise SystemExit(f"{len(train)} training images make no batch of {a.batch}")
    warmup, total = int(round(a.warmup_epochs * steps_per_epoch)), steps_per_epoch * a.epochs
    step, loss_sum, correct, seen = 0, 0.0, 0, 0
    for epoch in range(a.epochs):
        model.train()
        order = torch.randperm(len(train)).tolist()
        loss_sum, correct, seen = 0.0, 0, 0
        for b in range(steps_per_epoch):
            chosen = order[b * a.batch:(b + 1) * a.batch]
            x = normalise([transforms.train(train[i][0]) for i in chosen])
            y = torch.tensor([train[i][1] for i in chosen])
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(a.lr, warmup, total, step)
            optimizer.zero_grad(set_to_none=True)
            logits = model(x)
            loss = criterion(logits, y)
            loss.backward()
            optimizer.step()
            step += 1
            loss_sum += loss.item() * len(chosen)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(chosen)
    model.eval()
    hits = 0
    with torch.no_grad():
        for b in range(0, len(val), 256):
            chunk = val[b:b + 256]
            logits = model(normalise([transforms.eval(img) for img, _ in chunk]))
            hits += int((logits.argmax(1) == torch.tensor([label for _, label in chunk])).sum())
    print(json.dumps({"eval_top1": hits / len(val), "train_top1": correct / max(seen, 1), "loss": loss_sum / max(seen, 1),
                      "seed": a.seed, "backend": transforms.backend, "torch": torch.__version__,
                      "seconds": time.monotonic() - start}))


if __name__ == "__main__":
    main()
