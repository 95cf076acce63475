#!/usr/bin/env python3
"""The Python side of tools/bench/torch-feed: one torchvision model trained for N steps, fed (a) by Loom's
loader through the shared-memory ring (`loom stream --shm`, read in place by loom_client.ShmRing), and
(b) by torchvision's ImageFolder + DataLoader, with the same images, batch, size, augmentation kind
(RandomResizedCrop + flip), decode workers, model, optimiser and device, in the same process.

Prints one JSON object: settings, img/s of each side (timed steps only, after --warmup untimed steps),
and loom / torchvision. Usage: see tools/bench/torch-feed (which sets up the images, the store and loom).
"""

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tools", "workers"))
sys.path.insert(0, os.path.join(REPO, "tools", "python"))

import torch  # noqa: E402
import torch_trainer  # noqa: E402  (the model zoo, the torchvision import work-around, the normalisation)
from loom_client.shm import ShmRing  # noqa: E402


def loom_batches(args, device, log):
    """Batches of `loom stream --shm` epoch after epoch, the next epoch's stream started just ahead."""
    def start(epoch):
        name = f"loom-torch-feed-{os.getpid()}-{uuid.uuid4().hex[:6]}-e{epoch}"
        command = [args.loom, "stream", "--store", args.store, "--selection", "bench:train", "--batch", str(args.batch),
                   "--size", str(args.size), "--augment", "train", "--seed", "0", "--epoch", str(epoch),
                   "--workers", str(args.workers), "--drop-last", "--no-cache", "--shm", name, "--shm-slots", "4"]
        return name, subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)

    mean = torch.tensor(torch_trainer.MEAN, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(torch_trainer.STD, device=device).view(1, 3, 1, 1) * 255
    upcoming = start(0)
    try:
        for epoch in itertools.count():
            name, process = upcoming
            upcoming = None
            with ShmRing(name, open_timeout=120) as ring:
                for done, (pixels, labels) in enumerate(ring, 1):
                    if upcoming is None and done >= len(ring) - 4:
                        # The next epoch's stream starts as this one's last slots are read: it
                        # overlaps the epoch boundary, not the whole epoch (on few cores it competes).
                        upcoming = start(epoch + 1)
                    x = torch.from_numpy(pixels).to(device, non_blocking=False)
                    x = ((x.permute(0, 3, 1, 2).float() - mean) / std).contiguous(memory_format=torch.channels_last)
                    yield x, torch.from_numpy(labels.copy()).to(device)
            process.wait()
    finally:
        if upcoming is not None:
            name, process = upcoming
            process.kill()
            process.wait()
            try:
                os.unlink("/dev/shm/" + name)
            except FileNotFoundError:
                pass


def torchvision_batches(args, device, torchvision):
    """ImageFolder + DataLoader: the standard torchvision input pipeline, epoch after epoch."""
    from torchvision import datasets, transforms
    transform = transforms.Compose([
        transforms.RandomResizedCrop(args.size), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
        transforms.Normalize(torch_trainer.MEAN, torch_trainer.STD)])
    dataset = datasets.ImageFolder(os.path.join(args.images, "train"), transform=transform)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch, shuffle=True, num_workers=args.workers, drop_last=True,
        pin_memory=device.type == "cuda", persistent_workers=args.workers > 0,
        prefetch_factor=4 if args.workers > 0 else None)
    while True:
        for x, y in loader:
            yield (x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last),
                   y.to(device, non_blocking=True))


def train(args, device, torchvision, batches):
    """Images per second over the timed steps (data wait included: that is what is measured)."""
    torch.manual_seed(0)
    model = torch_trainer.build_model(args.model, args.classes, torchvision).to(device, memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-5, nesterov=True)
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    amp, scaler = None, None
    if device.type == "cuda":
        amp = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None

    def step(x, y):
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            loss = criterion(model(x), y)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        return loss

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(args.warmup):
        step(*next(batches))
    sync()
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step(*next(batches))
    loss.item()
    sync()
    seconds = time.perf_counter() - start
    batches.close()
    return args.batch * args.steps / seconds, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loom", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--images", required=True, help="the ImageFolder root (ROOT/train/<class>/*.jpg)")
    parser.add_argument("--classes", type=int, required=True)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--log", required=True, help="loom stream's stderr goes here")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torchvision = torch_trainer.import_torchvision()
    with open(args.log, "a") as log:
        loom_rate, loom_seconds = train(args, device, torchvision, loom_batches(args, device, log))
    tv_rate, tv_seconds = train(args, device, torchvision, torchvision_batches(args, device, torchvision))
    print(json.dumps({
        "benchmark": "torch-feed", "model": args.model, "device": str(device), "size": args.size, "batch": args.batch,
        "steps": args.steps, "warmup": args.warmup, "workers": args.workers, "threads": args.threads,
        "torch": torch.__version__, "torchvision": getattr(torchvision, "__version__", None),
        "loom": {"images_per_s": loom_rate, "seconds": loom_seconds},
        "torchvision_dataloader": {"images_per_s": tv_rate, "seconds": tv_seconds},
        "ratio_loom_over_torchvision": loom_rate / tv_rate,
    }))


if __name__ == "__main__":
    sys.exit(main())
