#!/usr/bin/env python3
"""Peer: the torchvision ImageFolder + DataLoader pipeline of torchvision-pil.py, unchanged, in a
venv whose PIL is Pillow-SIMD (the drop-in fork with SIMD resize and colour conversion that fast
PyTorch input pipelines install). Refuses to run on plain Pillow, so a failed Pillow-SIMD build
cannot pass itself off as one.
"""

import os
import runpy
import sys
from importlib import metadata

try:
    simd = metadata.version("pillow-simd")
except metadata.PackageNotFoundError:
    simd = None
if simd is None:
    print("pillow-simd: error: Pillow-SIMD is not installed in this venv", file=sys.stderr)
    sys.exit(1)
try:
    metadata.version("pillow")
    print("pillow-simd: error: plain Pillow is installed beside Pillow-SIMD; which PIL loads is unclear", file=sys.stderr)
    sys.exit(1)
except metadata.PackageNotFoundError:
    pass

os.environ["LOADER_PEER_NAME"] = "pillow-simd"
runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "torchvision-pil.py"), run_name="__main__")
