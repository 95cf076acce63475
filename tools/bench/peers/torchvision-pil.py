#!/usr/bin/env python3
"""Peer: torchvision's ImageFolder + torch DataLoader, decoding with whatever PIL the venv holds
(Pillow here; pillow-simd.py runs this same file on Pillow-SIMD).

    ImageFolder(ROOT, RandomResizedCrop(SIZE, scale, ratio) + RandomHorizontalFlip + HWC uint8)
    DataLoader(batch_size=BATCH, shuffle=True, num_workers=WORKERS)   # everything else default

No one-time conversion: it reads the exported files. Each item carries its index into
ImageFolder.samples, so the check sees the path the loader really opened.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

PEER = os.environ.get("LOADER_PEER_NAME", "torchvision-pil")


def to_hwc_uint8(image):
    import numpy as np
    return np.array(image, dtype=np.uint8)  # a copy: np.asarray would be a read-only view torch warns about


def run(args, corpus):
    note = common.import_torchvision()
    import PIL
    import torch
    from PIL import features
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    class IndexedImageFolder(datasets.ImageFolder):
        def __getitem__(self, index):
            image, label = super().__getitem__(index)
            return image, label, index

    dataset = IndexedImageFolder(corpus.root, transform=transforms.Compose([
        transforms.RandomResizedCrop(args.size, scale=common.SCALE, ratio=common.RATIO),
        transforms.RandomHorizontalFlip(),
        to_hwc_uint8,
    ]))
    if dataset.classes != corpus.classes:
        raise common.CheckFailed(f"ImageFolder found classes {dataset.classes}, the corpus has {corpus.classes}")
    # Keys are corpus indices, looked up by the path ImageFolder itself opened.
    key_of = [corpus.key_of_path(path) for path, _ in dataset.samples]
    generator = torch.Generator()
    generator.manual_seed(args.seed)
    loader = DataLoader(dataset, batch_size=args.batch, shuffle=True, num_workers=args.workers, generator=generator)

    def batches(epoch):
        for pixels, labels, indices in loader:
            yield pixels.numpy(), labels.numpy(), [key_of[i] for i in indices.tolist()]

    epochs, _ = common.run_epochs(PEER, args, corpus, batches)
    simd = "post" in PIL.__version__  # Pillow-SIMD versions read like 9.5.0.post2
    return {
        "pipeline": "torchvision ImageFolder + DataLoader(shuffle=True), RandomResizedCrop + RandomHorizontalFlip -> HWC uint8, "
                    f"decoded by {'Pillow-SIMD' if simd else 'Pillow'} {PIL.__version__}",
        "epochs": epochs,
        "conversion_s": None,
        "versions": {**common.versions("torch", "torchvision", "pillow", "pillow-simd", "numpy"),
                     "PIL": PIL.__version__, "pil_libjpeg_turbo": bool(features.check_feature("libjpeg_turbo"))},
        "notes": [note] if note else [],
    }


if __name__ == "__main__":
    sys.exit(common.main(PEER, __doc__, run))
