"""What every peer of tools/bench/loader-peers shares: the corpus and its labels, the crop, the
epoch loop with its exactly-once check, and the one JSON line each peer prints.

A peer script is `PEER.py ROOT --work DIR [--epochs 3] [--batch 256] [--size 224] [--workers N]
[--seed 0]`: ROOT is the ImageFolder Loom exported (ROOT/<class>/<file>.jpg, byte-identical to
what Loom serves), DIR a scratch folder of its own for any one-time conversion. It prints one
JSON line on stdout (progress on stderr) and exits non-zero, with the reason on stderr, if it
could not run or its check failed.

The check, every epoch: the multiset of sample keys the loader yielded is exactly the corpus,
each once, and each label is the index of the image's class folder among the sorted class
folders (torchvision's ImageFolder rule, which Loom's ingest follows too). Batches must be uint8
(B, SIZE, SIZE, 3) numpy arrays. Each peer carries a key through its own loader (a path, or the index into
Corpus.samples that its conversion wrote beside the bytes) so the check sees what came out of
the loader, not what went in.
"""

import argparse
import json
import os
import platform
import random
import resource
import sys
import time
import types

SCALE = (0.08, 1.0)
RATIO = (3.0 / 4.0, 4.0 / 3.0)
EXTENSIONS = (".jpg", ".jpeg", ".JPG", ".JPEG")


def log(peer, message):
    print(f"{peer}: {message}", file=sys.stderr, flush=True)


class CheckFailed(Exception):
    pass


class Corpus:
    """The ImageFolder as the truth the checks compare against: samples[i] = (relative path, label)."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.classes = sorted(e.name for e in os.scandir(self.root) if e.is_dir())
        self.samples = []
        for label, name in enumerate(self.classes):
            for file in sorted(os.listdir(os.path.join(self.root, name))):
                if file.endswith(EXTENSIONS):
                    self.samples.append((f"{name}/{file}", label))
        if not self.samples:
            raise CheckFailed(f"no JPEGs under {self.root}")
        self.index_of = {path: i for i, (path, _) in enumerate(self.samples)}

    def __len__(self):
        return len(self.samples)

    def path(self, i):
        return os.path.join(self.root, self.samples[i][0])

    def key_of_path(self, path):
        """The sample index of an absolute or ROOT-relative path."""
        rel = os.path.relpath(path, self.root) if os.path.isabs(path) else path
        if rel not in self.index_of:
            raise CheckFailed(f"loader yielded {path!r}, which is not in the corpus")
        return self.index_of[rel]


def import_torchvision():
    """torchvision's PyPI wheel is a CUDA build: its _C.so (detection ops) cannot load beside CPU
    torch, and the import then fails in _meta_registrations. Those ops are not used here, so on
    failure drop the half-imported modules, stub that one module and import again (as
    tools/bench/torch_loader.py does; mosaic-mds.py needs it too, since mosaicml-streaming imports
    torchvision). Returns a note when the stub was needed."""
    import warnings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # image.so: the CUDA decoders, unused
            import torchvision  # noqa: F401
            from torchvision import datasets, transforms  # noqa: F401
        return None
    except Exception as error:  # noqa: BLE001
        first = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        import torchvision  # noqa: F401
        from torchvision import datasets, transforms  # noqa: F401
    return f"torchvision import failed ({first}); stubbed torchvision._meta_registrations (detection ops only)"


# torchvision's RandomResizedCrop.get_params as a PIL box, the one loader-vs-pytorch's Pillow loop
# uses (tools/bench/torch_loader.py imports nothing beyond the standard library at load time).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from torch_loader import random_resized_crop_box as crop_box  # noqa: E402


def pil_train_transform(image, size, rng=random):
    """The torchvision-free train transform for the peers that decode with PIL themselves: RGB,
    RandomResizedCrop (same parameters, bilinear, as torchvision does it on a PIL image), flip
    with p=0.5, HWC uint8. `random` is the default generator because torch's DataLoader seeds it
    in each worker; numpy's would repeat across forked workers."""
    import numpy as np
    from PIL import Image
    image = image.convert("RGB")
    image = image.resize((size, size), Image.BILINEAR, box=crop_box(image.width, image.height, rng))
    if rng.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    return np.array(image, dtype=np.uint8)  # a copy: np.asarray would be a read-only view torch warns about


def decode_pil(data):
    """JPEG bytes -> PIL image, without a temporary file."""
    import io
    from PIL import Image
    return Image.open(io.BytesIO(data))


class EpochCheck:
    """Collects (key, label) pairs from the batches of one epoch; finish() raises on any mismatch."""

    def __init__(self, corpus, size):
        self.corpus, self.size = corpus, size
        self.seen = [0] * len(corpus)
        self.order = []
        self.images = 0

    def batch(self, pixels, labels, keys):
        shape, dtype = tuple(pixels.shape), str(pixels.dtype)
        if len(shape) != 4 or shape[1:] != (self.size, self.size, 3) or "uint8" not in dtype:
            raise CheckFailed(f"batch is {shape} {dtype}, expected (B, {self.size}, {self.size}, 3) uint8")
        labels, keys = [int(x) for x in labels], [int(x) for x in keys]
        if not (len(labels) == len(keys) == shape[0]):
            raise CheckFailed(f"batch of {shape[0]} images came with {len(labels)} labels and {len(keys)} keys")
        for key, label in zip(keys, labels):
            if not 0 <= key < len(self.corpus):
                raise CheckFailed(f"key {key} is outside the corpus (0..{len(self.corpus) - 1})")
            want = self.corpus.samples[key][1]
            if label != want:
                raise CheckFailed(f"{self.corpus.samples[key][0]} came with label {label}, its folder says {want}")
            self.seen[key] += 1
        self.order.extend(keys)
        self.images += shape[0]

    def finish(self, epoch):
        missing = [i for i, n in enumerate(self.seen) if n == 0]
        repeated = [i for i, n in enumerate(self.seen) if n > 1]
        if missing or repeated:
            def some(ids):
                return ", ".join(self.corpus.samples[i][0] for i in ids[:3])
            raise CheckFailed(f"epoch {epoch}: {self.images} images for a corpus of {len(self.corpus)}: "
                              f"{len(missing)} never seen ({some(missing)}), {len(repeated)} more than once ({some(repeated)})")
        # Shuffled: a loader that reads in folder order would pass the multiset check.
        in_place = sum(1 for a, b in zip(self.order, self.order[1:]) if b == a + 1)
        if in_place > len(self.order) // 2:
            raise CheckFailed(f"epoch {epoch} was not shuffled: {in_place} of {len(self.order)} images followed their predecessor in folder order")


def run_epochs(peer, args, corpus, epoch_batches):
    """Times args.epochs epochs. epoch_batches(epoch) returns an iterable of (pixels, labels, keys),
    numpy arrays (a torch tensor's .numpy() view is free);
    each epoch is timed from that call (worker start-up included, as in a training loop without
    persistent workers) to its last batch, and checked."""
    epochs = []
    checksum = 0
    for epoch in range(args.epochs):
        check = EpochCheck(corpus, args.size)
        start = time.perf_counter()
        first = None
        for pixels, labels, keys in epoch_batches(epoch):
            if first is None:
                first = time.perf_counter() - start
            check.batch(pixels, labels, keys)
            checksum += int(pixels.reshape(-1)[pixels.size // 2])  # touch the batch as a consumer would
        seconds = time.perf_counter() - start
        check.finish(epoch)
        epochs.append({"epoch": epoch, "images": check.images, "seconds": seconds,
                       "images_per_s": check.images / seconds, "first_batch_ms": 1000 * (first or 0.0)})
        log(peer, f"epoch {epoch}: {check.images} images in {seconds:.2f} s = {check.images / seconds:.0f} img/s, "
                  f"first batch {1000 * (first or 0):.0f} ms, each image once with its label")
    return epochs, checksum


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("root", help="the exported ImageFolder: ROOT/<class>/<image>.jpg")
    p.add_argument("--work", required=True, help="scratch folder for this peer's one-time conversion")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--seed", type=int, default=0)
    return p


def versions(*names):
    from importlib import metadata
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def main(peer, description, run):
    """run(args, corpus) -> dict with "epochs", "conversion_s" (None if none), "pipeline", "versions",
    optional "notes". Prints the JSON line; a failed check or any error exits 1 with the reason."""
    args = parser(description).parse_args()
    os.makedirs(args.work, exist_ok=True)
    try:
        corpus = Corpus(args.root)
        result = run(args, corpus)
    except CheckFailed as error:
        log(peer, f"CHECK FAILED: {error}")
        print(json.dumps({"peer": peer, "error": f"check failed: {error}"}))
        return 1
    result = {"peer": peer, "images": len(corpus), "batch": args.batch, "size": args.size,
              "workers": args.workers, "seed": args.seed, **result,
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6,
              "peak_children_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e6}
    result.setdefault("notes", [])
    print(json.dumps(result))
    return 0
