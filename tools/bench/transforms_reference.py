#!/usr/bin/env python3
"""torchvision's pixels for the crop boxes and flips Loom chose, and how far Loom's are from them.

    transforms_reference.py compare MANIFEST.json   -> one JSON object on stdout
    transforms_reference.py fmnist OUT COUNT        -> COUNT Fashion-MNIST train images as grey PNGs
                                                       in OUT/<label>/NNNNN.png (from the IDX files)

MANIFEST: {"size": S, "pixels": "loom.rgb" (N x S x S x 3 bytes, Loom's output in order),
           "samples": [{"image": path, "group": name, "augment": "train"|"eval",
                        "top": t, "left": l, "height": h, "width": w, "flip": bool}, ...]}
(the fields of `loom stream --json --explain`'s crops). Every sample is rendered twice:

  pil:    torchvision's PIL path, F.resized_crop(img, top, left, h, w, size, BILINEAR) + F.hflip;
          eval: F.resize(img, size / 0.875) + F.center_crop(size)
  tensor: torchvision's tensor path on uint8 CHW, the same calls with antialias=True

With torchvision importable those are its own functions. Without it (the project venv has none:
the PyPI wheel for torch 2.13 is a CUDA build), the exact operations they run stand in:
img.crop((left, top, left + w, top + h)).resize((S, S), Image.BILINEAR) for PIL, and
torch.nn.functional.interpolate(crop, (S, S), mode="bilinear", antialias=True, align_corners=False)
on the uint8 crop for tensors. Checked bit-identical to torchvision 0.28.0's F.resized_crop on
both paths (PIL image and uint8 tensor) on 2560x1600 photos.

Prints {"backend": ..., "groups": {group: {"samples": n, "pil": stats, "tensor": stats}}}, where
stats = {"mean": mean absolute difference, "p999": 99.9th percentile, "max": ...} in grey levels.
"""
import gzip
import json
import os
import sys
import types
import warnings

import numpy as np
from PIL import Image


def load_torchvision():
    """torchvision's functional API, or None. Its PyPI wheel's _C.so is a CUDA build that fails to
    register detection-op fakes next to CPU torch; those ops are not used here, so stub that module."""
    try:
        import importlib.util
        if importlib.util.find_spec("torchvision") is None:
            return None
        sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import torchvision
            import torchvision.transforms.v2.functional as F
        return torchvision, F
    except Exception as error:  # an unusable torchvision: fall back to the exact operations
        print(f"transforms_reference: torchvision unusable ({error}); using the operations it runs", file=sys.stderr)
        return None


def eval_geometry(width, height, size):
    """torchvision Resize(int(size / 0.875)) + CenterCrop(size): resized size and crop offset."""
    short = int(size / 0.875)
    if width <= height:
        rw, rh = short, int(short * height / width)
    else:
        rw, rh = int(short * width / height), short
    return rw, rh, int(round((rw - size) / 2.0)), int(round((rh - size) / 2.0))


class Reference:
    def __init__(self):
        import torch
        self.torch = torch
        loaded = load_torchvision()
        if loaded:
            torchvision, self.F = loaded
            self.backend = f"torchvision {torchvision.__version__} (F.resized_crop, F.resize + F.center_crop)"
        else:
            self.F = None
            self.backend = ("exact operations torchvision runs (PIL crop + resize BILINEAR; "
                            "torch.nn.functional.interpolate bilinear antialias on the uint8 crop)")

    def pil(self, img, s, size):
        F = self.F
        if s["augment"] == "eval":
            rw, rh, left, top = eval_geometry(img.width, img.height, size)
            if F:
                out = F.center_crop(F.resize(img, [int(size / 0.875)], interpolation=F.InterpolationMode.BILINEAR), [size, size])
            else:
                out = img.resize((rw, rh), Image.BILINEAR).crop((left, top, left + size, top + size))
            return np.asarray(out)
        t, l, h, w = (int(s[k]) for k in ("top", "left", "height", "width"))
        if F:
            out = F.resized_crop(img, t, l, h, w, [size, size], interpolation=F.InterpolationMode.BILINEAR)
            if s["flip"]:
                out = F.horizontal_flip(out)
        else:
            out = img.crop((l, t, l + w, t + h)).resize((size, size), Image.BILINEAR)
            if s["flip"]:
                out = out.transpose(Image.FLIP_LEFT_RIGHT)
        return np.asarray(out)

    def tensor(self, img, s, size):
        torch, F = self.torch, self.F
        chw = torch.from_numpy(np.array(img)).permute(2, 0, 1).contiguous()

        def interpolate(x, hw):
            return torch.nn.functional.interpolate(x.unsqueeze(0), size=hw, mode="bilinear", antialias=True,
                                                   align_corners=False).squeeze(0)
        if s["augment"] == "eval":
            rw, rh, left, top = eval_geometry(img.width, img.height, size)
            if F:
                out = F.center_crop(F.resize(chw, [int(size / 0.875)], interpolation=F.InterpolationMode.BILINEAR,
                                             antialias=True), [size, size])
            else:
                out = interpolate(chw, (rh, rw))[:, top:top + size, left:left + size]
        else:
            t, l, h, w = (int(s[k]) for k in ("top", "left", "height", "width"))
            if F:
                out = F.resized_crop(chw, t, l, h, w, [size, size], interpolation=F.InterpolationMode.BILINEAR,
                                     antialias=True)
            else:
                out = interpolate(chw[:, t:t + h, l:l + w], (size, size))
            if s["flip"]:
                out = out.flip(-1)
        return out.permute(1, 2, 0).numpy()


def stats(diffs):
    d = np.concatenate(diffs) if diffs else np.zeros(1)
    return {"mean": float(d.mean()), "p999": float(np.percentile(d, 99.9)), "max": int(d.max())}


def compare(manifest_path):
    with open(manifest_path) as f:
        manifest = json.load(f)
    size = manifest["size"]
    loom = np.fromfile(manifest["pixels"], dtype=np.uint8).reshape(-1, size, size, 3)
    samples = manifest["samples"]
    if len(loom) != len(samples):
        raise SystemExit(f"{manifest['pixels']} holds {len(loom)} samples, the manifest lists {len(samples)}")
    ref = Reference()
    groups = {}
    images = {}
    for index, s in enumerate(samples):
        if s["image"] not in images:
            images[s["image"]] = Image.open(s["image"]).convert("RGB")
        img = images[s["image"]]
        if s["augment"] == "eval":
            rw, rh, left, top = eval_geometry(img.width, img.height, size)
            theirs = s.get("resize")
            if theirs and (theirs["width"], theirs["height"], theirs["left"], theirs["top"]) != (rw, rh, left, top):
                raise SystemExit(f"sample {index}: Loom's eval resize {theirs} is not torchvision's {(rw, rh, left, top)}")
        mine = loom[index].astype(np.int16)
        g = groups.setdefault(s["group"], {"samples": 0, "pil": [], "tensor": []})
        g["samples"] += 1
        g["pil"].append(np.abs(mine - ref.pil(img, s, size).astype(np.int16)).ravel())
        g["tensor"].append(np.abs(mine - ref.tensor(img, s, size).astype(np.int16)).ravel())
    out = {"backend": ref.backend,
           "groups": {name: {"samples": g["samples"], "pil": stats(g["pil"]), "tensor": stats(g["tensor"])}
                      for name, g in groups.items()}}
    print(json.dumps(out))


def fmnist(out, count):
    root = os.environ.get("LOOM_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")
    with gzip.open(os.path.join(root, "train-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(root, "train-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    for i in range(count):
        folder = os.path.join(out, f"c{labels[i]}")
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(images[i]).save(os.path.join(folder, f"{i:05d}.png"))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "compare":
        compare(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "fmnist":
        fmnist(sys.argv[2], int(sys.argv[3]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
