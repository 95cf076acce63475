#!/usr/bin/env python3
"""The PyTorch side of tools/bench/loader-vs-pytorch: a stock torchvision input pipeline over an
ImageFolder, timed per epoch.

    ImageFolder(ROOT, RandomResizedCrop(SIZE) + RandomHorizontalFlip + ToTensor)
    DataLoader(batch_size=BATCH, shuffle=True, num_workers=WORKERS)   # everything else default

Each epoch is timed from creating the iterator (worker start-up included, as in any training
loop without persistent workers) to the last batch; the time to the first batch is reported too.
Peak memory: this process's peak RSS (getrusage, what `loom bench loader` reports for its single
process) and the peak summed over this process and its workers (RSS and PSS, sampled from /proc).

If torch or torchvision cannot be imported, or with --backend pillow, it runs a Pillow-only loop
instead (same crop/flip/CHW-float maths, multiprocessing workers) and says so: "backend" in the
JSON, and a banner on stderr.

Usage: torch_loader.py ROOT [--epochs 2] [--batch 256] [--size 224] [--workers N] [--seed 0]
                            [--backend auto|torch|pillow] [--json]
       torch_loader.py --check      # import torch/torchvision, run the transforms once, print the backend
"""

import argparse
import json
import math
import os
import platform
import random
import resource
import sys
import threading
import time
import types

EXTENSIONS = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG")


def log(message):
    print(f"torch_loader: {message}", file=sys.stderr, flush=True)


def loud(message):
    bar = "!" * 78
    print(f"{bar}\n!! {message}\n{bar}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Importing torchvision on a CPU-only torch.
# --------------------------------------------------------------------------------------------

def import_torchvision():
    """Imports torch and torchvision; returns (torch, torchvision, notes).

    torchvision's PyPI wheel for torch 2.13 is a CUDA build: its _C.so (the custom ops: nms,
    roi_align, ...) needs libcudart and cannot load next to a CPU-only torch. torchvision then
    fails at import, in _meta_registrations, registering fake kernels for ops that do not exist.
    Those ops are detection-only; the transforms and datasets used here do not touch them, so
    when _C.so does not load we stub that one module and import the rest.
    """
    import importlib.util

    import torch

    notes = []
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("torchvision is not installed")
    package_dir = list(spec.submodule_search_locations)[0]
    library = next((os.path.join(package_dir, name) for name in sorted(os.listdir(package_dir))
                    if name.startswith("_C.") and name.endswith((".so", ".pyd"))), None)
    loads = False
    if library is not None:
        try:
            torch.ops.load_library(library)
            loads = True
        except (OSError, RuntimeError) as error:
            cause = error.__cause__ or error  # torch wraps the dlopen error
            reason = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
            notes.append(f"torchvision/_C.so does not load ({reason}); stubbed torchvision._meta_registrations "
                         "(detection ops only; transforms and datasets unaffected)")
    if not loads:
        sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
    import warnings
    with warnings.catch_warnings():
        # Its image.so (torchvision.io's decoders) is a CUDA build too; ImageFolder decodes with Pillow.
        warnings.simplefilter("ignore", UserWarning)
        import torchvision
        from torchvision import datasets, transforms  # noqa: F401  (fail here, not mid-run)
    return torch, torchvision, notes


def torch_transform(size):
    from torchvision import transforms
    return transforms.Compose([
        transforms.RandomResizedCrop(size),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
    ])


def check_torch(size=224):
    """Runs the transform pipeline on a synthetic photo; raises on any problem."""
    import numpy as np
    from PIL import Image
    torch, torchvision, notes = import_torchvision()
    image = Image.fromarray((np.random.default_rng(0).random((375, 500, 3)) * 255).astype("uint8"))
    tensor = torch_transform(size)(image)
    if tuple(tensor.shape) != (3, size, size) or tensor.dtype != torch.float32:
        raise RuntimeError(f"transform gave {tuple(tensor.shape)} {tensor.dtype}, expected (3, {size}, {size}) float32")
    if not (0.0 <= float(tensor.min()) and float(tensor.max()) <= 1.0):
        raise RuntimeError("ToTensor output is outside [0, 1]")
    return torch, torchvision, notes


# --------------------------------------------------------------------------------------------
# Memory: peak over this process and its children, sampled.
# --------------------------------------------------------------------------------------------

class TreeMemorySampler:
    """Samples RSS and PSS summed over this process and its descendants every `interval` s."""

    def __init__(self, interval=0.2):
        self.interval = interval
        self.peak_rss = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @staticmethod
    def _children(pid):
        found = []
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    found.extend(int(c) for c in f.read().split())
        except OSError:
            pass
        return found

    @staticmethod
    def _rollup(pid):
        rss = pss = 0
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss = int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss = int(line.split()[1]) * 1024
        except OSError:
            pass
        return rss, pss

    def sample(self):
        pids, stack = [], [os.getpid()]
        while stack:
            pid = stack.pop()
            pids.append(pid)
            stack.extend(self._children(pid))
        rss = pss = 0
        for pid in pids:
            r, p = self._rollup(pid)
            rss += r
            pss += p
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)


def self_peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # Linux: KiB


# --------------------------------------------------------------------------------------------
# The torchvision pipeline.
# --------------------------------------------------------------------------------------------

def run_torch(args, torch, notes):
    from torch.utils.data import DataLoader
    from torchvision import datasets

    dataset = datasets.ImageFolder(args.root, transform=torch_transform(args.size))
    generator = torch.Generator()
    generator.manual_seed(args.seed)
    loader = DataLoader(dataset, batch_size=args.batch, shuffle=True, num_workers=args.workers, generator=generator)
    epochs = []
    checksum = 0.0
    for epoch in range(args.epochs):
        start = time.perf_counter()
        first = None
        images = 0
        for pixels, labels in loader:
            if first is None:
                first = time.perf_counter() - start
            if pixels.shape[1:] != (3, args.size, args.size) or labels.shape[0] != pixels.shape[0]:
                raise RuntimeError(f"unexpected batch shape {tuple(pixels.shape)}")
            images += pixels.shape[0]
            checksum += float(pixels.view(-1)[pixels.numel() // 2])  # touch the batch as a consumer would
        seconds = time.perf_counter() - start
        epochs.append(epoch_record(epoch, images, seconds, first))
        log(f"epoch {epoch}: {images} images in {seconds:.2f} s = {images / seconds:.0f} img/s, first batch {1000 * (first or 0):.0f} ms")
    return len(dataset), len(dataset.classes), epochs, checksum


# --------------------------------------------------------------------------------------------
# The Pillow-only fallback: the same work without torch.
# --------------------------------------------------------------------------------------------

def random_resized_crop_box(width, height, rng, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """torchvision's RandomResizedCrop.get_params, returning a PIL box (left, top, right, bottom)."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = rng.randint(0, height - h)
            left = rng.randint(0, width - w)
            return (left, top, left + w, top + h)
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    top, left = (height - h) // 2, (width - w) // 2
    return (left, top, left + w, top + h)


def pillow_batch(job):
    """One batch in a worker: open, RGB, random resized crop + flip, CHW float32 in [0, 1]."""
    import numpy as np
    from PIL import Image
    paths, labels, size, seed = job
    rng = random.Random(seed)
    out = np.empty((len(paths), 3, size, size), dtype=np.float32)
    for k, path in enumerate(paths):
        with open(path, "rb") as f:
            image = Image.open(f).convert("RGB")
        image = image.resize((size, size), Image.BILINEAR, box=random_resized_crop_box(image.width, image.height, rng))
        if rng.random() < 0.5:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        out[k] = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
    return out, np.asarray(labels, dtype=np.int64)


def scan_image_folder(root):
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
    samples = []
    for label, name in enumerate(classes):
        for folder, _, files in sorted(os.walk(os.path.join(root, name), followlinks=True)):
            for file in sorted(files):
                if file.endswith(EXTENSIONS):
                    samples.append((os.path.join(folder, file), label))
    return classes, samples


def run_pillow(args):
    import multiprocessing
    classes, samples = scan_image_folder(args.root)
    if not samples:
        raise RuntimeError(f"no images under {args.root}")
    epochs = []
    checksum = 0.0
    for epoch in range(args.epochs):
        start = time.perf_counter()
        order = list(range(len(samples)))
        random.Random(args.seed * 1_000_003 + epoch).shuffle(order)
        jobs = []
        for b in range(0, len(order), args.batch):
            chunk = order[b:b + args.batch]
            jobs.append(([samples[i][0] for i in chunk], [samples[i][1] for i in chunk], args.size,
                         args.seed * 1_000_003 + epoch * 65_537 + b))
        first = None
        images = 0
        with multiprocessing.get_context("fork").Pool(max(1, args.workers)) as pool:
            for pixels, labels in pool.imap(pillow_batch, jobs):
                if first is None:
                    first = time.perf_counter() - start
                images += pixels.shape[0]
                checksum += float(pixels.reshape(-1)[pixels.size // 2])
        seconds = time.perf_counter() - start
        epochs.append(epoch_record(epoch, images, seconds, first))
        log(f"epoch {epoch} (Pillow-only): {images} images in {seconds:.2f} s = {images / seconds:.0f} img/s")
    return len(samples), len(classes), epochs, checksum


# --------------------------------------------------------------------------------------------

def epoch_record(epoch, images, seconds, first):
    return {"epoch": epoch, "images": images, "seconds": seconds, "images_per_s": images / seconds,
            "first_batch_ms": 1000 * (first or 0.0)}


def versions():
    found = {"python": platform.python_version()}
    try:
        import PIL  # noqa: F401  (the Pillow-only loop imports it in its workers only)
    except ImportError:
        pass
    for name in ("torch", "torchvision", "PIL", "numpy"):
        module = sys.modules.get(name)
        if module is not None:
            found[name if name != "PIL" else "pillow"] = getattr(module, "__version__", "?")
    try:
        from PIL import features
        found["pillow_libjpeg_turbo"] = bool(features.check_feature("libjpeg_turbo"))
    except Exception:  # noqa: BLE001  (information only)
        pass
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", nargs="?", help="ImageFolder root: ROOT/<class>/<image>")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=("auto", "torch", "pillow"), default="auto",
                        help="auto: torchvision, else the Pillow-only loop (said loudly); torch: torchvision or fail")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--check", action="store_true", help="only check that torch + torchvision transforms work")
    args = parser.parse_args()

    if args.check:
        try:
            torch, torchvision, notes = check_torch(args.size)
        except Exception as error:  # noqa: BLE001
            log(f"torch/torchvision check FAILED: {type(error).__name__}: {error}")
            return 1
        for note in notes:
            log(f"workaround: {note}")
        log(f"torch {torch.__version__}, torchvision {torchvision.__version__}: RandomResizedCrop + flip + ToTensor OK")
        return 0

    if not args.root or not os.path.isdir(args.root):
        parser.error(f"ROOT must be a folder (got {args.root!r})")
    if args.epochs < 1 or args.batch < 1 or args.size < 1 or args.workers < 0:
        parser.error("--epochs, --batch and --size must be at least 1, --workers at least 0")

    notes = []
    backend = "pillow"
    torch = None
    if args.backend in ("auto", "torch"):
        try:
            torch, _, notes = check_torch(args.size)
            backend = "torchvision"
        except Exception as error:  # noqa: BLE001
            if args.backend == "torch":
                log(f"torch/torchvision unusable: {type(error).__name__}: {error}")
                return 1
            notes.append(f"torch/torchvision unusable ({type(error).__name__}: {error})")
    for note in notes:
        log(f"note: {note}")
    if backend == "pillow":
        loud("PYTORCH NOT USED: Pillow-only fallback loop (open, RGB, RandomResizedCrop + flip, CHW float32).\n"
             "!! Its numbers stand in for torchvision's DataLoader; they are NOT a torchvision measurement.")

    with TreeMemorySampler() as memory:
        if backend == "torchvision":
            images, classes, epochs, checksum = run_torch(args, torch, notes)
        else:
            images, classes, epochs, checksum = run_pillow(args)
        memory.sample()

    report = {
        "backend": backend,
        "pipeline": ("torchvision ImageFolder + DataLoader(shuffle=True), RandomResizedCrop + RandomHorizontalFlip + ToTensor"
                     if backend == "torchvision" else
                     "Pillow-only fallback (NOT torchvision): multiprocessing Pool, RandomResizedCrop + flip + CHW float32"),
        "root": args.root,
        "images": images,
        "classes": classes,
        "batch": args.batch,
        "size": args.size,
        "workers": args.workers,
        "seed": args.seed,
        "epochs": epochs,
        "peak_rss_mb": self_peak_rss_mb(),
        "peak_tree_rss_mb": memory.peak_rss / 1e6,
        "peak_tree_pss_mb": memory.peak_pss / 1e6,
        "notes": notes,
        "versions": versions(),
        "checksum": checksum,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{backend}: {images} images, {classes} classes, batch {args.batch}, {args.size}px, {args.workers} workers")
        for e in epochs:
            print(f"  epoch {e['epoch']}: {e['images_per_s']:.0f} img/s ({e['seconds']:.2f} s), first batch {e['first_batch_ms']:.0f} ms")
        print(f"  peak RSS: {report['peak_rss_mb']:.0f} MB main process, {report['peak_tree_pss_mb']:.0f} MB PSS with workers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
