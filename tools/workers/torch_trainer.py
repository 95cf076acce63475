#!/usr/bin/env python3
"""Loom's PyTorch trainer: one rank of `loom train --trainer torch` (protocol loom-torch-trainer, version 1).

Loom starts one of these per rank and feeds it: the training batches come from Loom's loader
(augmentation, order, mixture weights, resume position) through a shared-memory ring per rank and
epoch (`loom_client.ShmRing`, read in place), the evaluation batches likewise. The worker owns the
model, the optimiser and the arithmetic; Loom owns the data, the catalog and the checkpoints.

Protocol (tools/workers/README.md, "The torch trainer"): JSON lines. The worker's first line is a
handshake; then Loom sends one request per line ("id", "op") and the worker answers each with one
line carrying the same "id" ("error" on failure), optionally preceded by progress lines
{"id": N, "progress": [done, total]}. Closing stdin ends the worker.

Usage (Loom runs it; by hand only for debugging):
  torch_trainer.py --rank R --world W --device auto|cpu|cuda|cuda:N [--rendezvous FILE] [--threads T]
  torch_trainer.py --self-test
"""

import argparse
import hashlib
import io
import json
import math
import os
import sys
import tarfile
import time
import traceback
import types

PROTOCOL = "loom-torch-trainer"
VERSION = 1
CHECKPOINT_KIND = "loom-torch-checkpoint-1"
# ImageNet's channel statistics: what Loom's Swift trainer (Loader.BatchView.normalizedCHW) uses.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

# The ring reader is loom_client.shm, imported from the repository rather than copied, so the
# layout has one Python implementation (it needs only numpy).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def import_torchvision():
    """torchvision, or None when it cannot load.

    PyPI's torchvision is a CUDA build: on a CPU-only torch its `_C` extension fails to load, and
    importing `torchvision._meta_registrations` (custom-op registrations, run at import) fails with
    it. The models need no custom ops, so on failure the module is replaced by an empty stub and
    the import retried.
    """
    try:
        import torchvision
        return torchvision
    except Exception as first:  # noqa: BLE001 - any import failure gets the one retry
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
        try:
            import torchvision
            print(f"torch_trainer: torchvision loaded without its custom ops ({type(first).__name__}: {first})",
                  file=sys.stderr)
            return torchvision
        except Exception as second:  # noqa: BLE001
            print(f"torch_trainer: torchvision unavailable ({type(second).__name__}: {second}); "
                  "only --model resnet-small works", file=sys.stderr)
            return None


# ---- resnet-small: Loom's CIFAR-style ResNet-8 (Sources/LoomTrain/Models/ResNet.swift), with the
# same state_dict names; tools/bench/torch_train.py imports it from here.

class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


class ResNetSmall(nn.Module):
    def __init__(self, classes, channels=3):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.stage1 = nn.Sequential(BasicBlock(16, 16, 1))
        self.stage2 = nn.Sequential(BasicBlock(16, 32, 2))
        self.stage3 = nn.Sequential(BasicBlock(32, 64, 2))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.stage3(self.stage2(self.stage1(x)))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


def build_model(name, classes, torchvision):
    """A classifier from scratch: resnet-small, or any torchvision classification model by name."""
    if name == "resnet-small":
        return ResNetSmall(classes)
    if torchvision is None:
        raise ValueError(f"model {name!r} needs torchvision, which does not import here (see stderr)")
    known = torchvision.models.list_models(module=torchvision.models)
    if name not in known:
        raise ValueError(f"unknown model {name!r}; known: resnet-small, " + ", ".join(sorted(known)))
    return torchvision.models.get_model(name, weights=None, num_classes=classes)


def learning_rate(base, warmup, total, step):
    """Linear warm-up, then cosine to 0: Loom's LearningRateSchedule, step for step."""
    if step < warmup:
        return base * (max(step, 0) + 1) / warmup
    span = total - warmup
    if span <= 0:
        return 0.0
    t = min(1.0, (step - warmup) / span)
    return base * (1 + math.cos(math.pi * t)) / 2


def to_cpu(value):
    """Optimiser / scaler state with every tensor on the CPU (a checkpoint loads on any device)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_cpu(v) for v in value)
    return value


def tar_bytes(members):
    """A tar of (name, bytes) with fixed metadata, so equal contents give equal bytes (and digests)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def read_checkpoint(path):
    """The members of a checkpoint tar: loom.json, model.safetensors, optimizer.pt."""
    with tarfile.open(path, mode="r") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    missing = {"loom.json", "model.safetensors", "optimizer.pt"} - members.keys()
    if missing:
        raise ValueError(f"{path} is not a loom torch checkpoint (missing {', '.join(sorted(missing))})")
    meta = json.loads(members["loom.json"])
    if meta.get("kind") != CHECKPOINT_KIND:
        raise ValueError(f"{path}: checkpoint kind {meta.get('kind')!r}, not {CHECKPOINT_KIND}")
    return meta, members


class Trainer:
    def __init__(self, args):
        self.rank, self.world = args.rank, args.world
        if args.threads:
            torch.set_num_threads(args.threads)
        self.device = self._device(args.device)
        self.distributed = self.world > 1
        if self.distributed:
            import torch.distributed as dist
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            dist.init_process_group(backend, init_method="file://" + args.rendezvous, rank=self.rank,
                                    world_size=self.world)
            self.dist = dist
        self.torchvision = import_torchvision()
        self.amp_dtype, self.scaler = None, None
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            if torch.cuda.is_bf16_supported():
                self.amp_dtype = torch.bfloat16
            else:
                self.amp_dtype = torch.float16
                self.scaler = torch.amp.GradScaler("cuda")
        self.model = None

    def _device(self, text):
        if text == "auto":
            text = "cuda" if torch.cuda.is_available() else "cpu"
        if text == "cpu":
            return torch.device("cpu")
        if text == "cuda" or text.startswith("cuda:"):
            if not torch.cuda.is_available():
                raise RuntimeError(f"--device {text}: torch {torch.__version__} sees no CUDA device")
            base = int(text.split(":", 1)[1]) if ":" in text else 0
            index = base + self.rank
            if index >= torch.cuda.device_count():
                raise RuntimeError(f"--device {text} with {self.world} ranks needs cuda:{index}; "
                                   f"this machine has {torch.cuda.device_count()} CUDA devices")
            torch.cuda.set_device(index)
            return torch.device("cuda", index)
        raise ValueError(f"--device must be auto, cpu, cuda or cuda:N (got {text!r})")

    def handshake(self):
        precision = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp_dtype]
        return {"protocol": PROTOCOL, "version": VERSION, "role": "trainer", "rank": self.rank, "world": self.world,
                "device": str(self.device), "torch_version": torch.__version__,
                "torchvision_version": getattr(self.torchvision, "__version__", None), "precision": precision,
                "channels_last": True}

    # ---- ops

    def setup(self, req, progress):
        """Builds the model (seeded), the optimiser and the schedule; loads a checkpoint if given."""
        self.config = req
        torch.manual_seed(int(req["seed"]))
        model = build_model(req["model"], int(req["classes"]), self.torchvision)
        self.module = model.to(self.device, memory_format=torch.channels_last)
        decay = [p for p in self.module.parameters() if p.ndim > 1]
        no_decay = [p for p in self.module.parameters() if p.ndim <= 1]
        # Loom's recipe: no weight decay on batch norm and biases.
        self.optimizer = torch.optim.SGD(
            [{"params": decay, "weight_decay": float(req["weight_decay"])}, {"params": no_decay, "weight_decay": 0.0}],
            lr=float(req["learning_rate"]), momentum=float(req["momentum"]), nesterov=bool(req["nesterov"]))
        self.criterion = nn.CrossEntropyLoss(label_smoothing=float(req["label_smoothing"]))
        answer = {"parameters": sum(p.numel() for p in self.module.parameters())}
        if req.get("checkpoint"):
            meta, members = read_checkpoint(req["checkpoint"])
            from safetensors.torch import load as load_safetensors
            self.module.load_state_dict(load_safetensors(members["model.safetensors"]))
            state = torch.load(io.BytesIO(members["optimizer.pt"]), map_location=self.device, weights_only=True)
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scaler is not None and state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
            answer.update({"epoch": meta["epoch"], "step": meta["step"], "identity": meta["identity"]})
        if self.distributed:
            from torch.nn.parallel import DistributedDataParallel
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.module, device_ids=ids)
        else:
            self.model = self.module
        return answer

    def _input(self, pixels):
        """uint8 NHWC (a view into the ring) -> normalised float NCHW in channels_last, copied off the ring."""
        x = torch.from_numpy(pixels)
        x = x.to(self.device, non_blocking=False) if self.device.type == "cuda" else x
        x = x.permute(0, 3, 1, 2).float()  # a new tensor: the ring slot may be released after this
        mean = torch.tensor(MEAN, device=self.device).view(1, 3, 1, 1) * 255
        std = torch.tensor(STD, device=self.device).view(1, 3, 1, 1) * 255
        return ((x - mean) / std).contiguous(memory_format=torch.channels_last)

    def _labels(self, labels):
        return torch.from_numpy(labels.copy()).to(self.device)

    def _autocast(self):
        if self.amp_dtype is None:
            return torch.autocast("cpu", enabled=False)
        return torch.autocast("cuda", dtype=self.amp_dtype)

    def train(self, req, progress):
        """One epoch from ring `req["ring"]`, starting at global step `req["step"]`."""
        from loom_client.shm import ShmRing
        c = self.config
        self.model.train()
        step = int(req["step"])
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        images, rate = 0, 0.0
        start = time.monotonic()
        trace = None
        if os.environ.get("LOOM_TORCH_TRACE"):
            # Debugging and tests: which samples this rank trained on (a hash of each sample's pixels).
            trace = open(os.path.join(os.environ["LOOM_TORCH_TRACE"], f"rank-{self.rank}-epoch-{req['epoch'] + 1}.txt"), "a")
        with ShmRing(req["ring"], open_timeout=120) as ring:
            total = len(ring)
            for done, (pixels, labels) in enumerate(ring, 1):
                if trace is not None:
                    trace.writelines(hashlib.sha1(p.tobytes()).hexdigest() + "\n" for p in pixels)
                x, y = self._input(pixels), self._labels(labels)
                rate = learning_rate(float(c["learning_rate"]), int(c["warmup_steps"]), int(c["total_steps"]), step)
                for group in self.optimizer.param_groups:
                    group["lr"] = rate
                self.optimizer.zero_grad(set_to_none=True)
                with self._autocast():
                    logits = self.model(x)
                    loss = self.criterion(logits, y)
                if self.scaler is not None:
                    self.scaler.scale(loss).backward()
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                else:
                    loss.backward()
                    self.optimizer.step()
                loss_sum += loss.detach().double() * y.shape[0]
                correct += (logits.detach().argmax(1) == y).sum()
                images += y.shape[0]
                step += 1
                progress(done, total)
        if trace is not None:
            trace.close()
        totals = torch.stack([loss_sum, correct.double(), torch.tensor(float(images), dtype=torch.float64, device=self.device)])
        if self.distributed:
            self.dist.all_reduce(totals)
        loss_sum, correct, images = totals.tolist()
        if not math.isfinite(loss_sum):
            raise FloatingPointError(f"the loss diverged ({loss_sum / max(images, 1)}) in epoch {req['epoch'] + 1}; lower --lr")
        return {"loss_sum": loss_sum, "correct": int(correct), "images": int(images), "step": step,
                "learning_rate": rate, "seconds": time.monotonic() - start}

    def evaluate(self, req, progress):
        """Top-1, top-5 and per-class counts over ring `req["ring"]` (this rank only, batch norm in eval mode)."""
        from loom_client.shm import ShmRing
        classes = int(self.config["classes"])
        module = self.module.eval()
        per_correct = torch.zeros(classes, dtype=torch.int64, device=self.device)
        per_total = torch.zeros(classes, dtype=torch.int64, device=self.device)
        top5 = torch.zeros((), dtype=torch.int64, device=self.device)
        k = min(5, classes)
        with torch.no_grad(), ShmRing(req["ring"], open_timeout=120) as ring:
            total = len(ring)
            for done, (pixels, labels) in enumerate(ring, 1):
                x, y = self._input(pixels), self._labels(labels)
                with self._autocast():
                    logits = module(x).float()
                hit = logits.argmax(1) == y
                per_total += torch.bincount(y, minlength=classes)
                per_correct += torch.bincount(y[hit], minlength=classes)
                top5 += (logits.topk(k, 1).indices == y[:, None]).any(1).sum()
                progress(done, total)
        return {"images": int(per_total.sum()), "top1_correct": int(per_correct.sum()), "top5_correct": int(top5),
                "per_class_correct": per_correct.tolist(), "per_class_total": per_total.tolist()}

    def checkpoint(self, req, progress):
        """Writes the checkpoint tar to `req["path"]`: model.safetensors, optimizer.pt, loom.json."""
        from safetensors.torch import save as save_safetensors
        state = {k: v.detach().cpu().contiguous() for k, v in self.module.state_dict().items()}
        model_bytes = save_safetensors(state, metadata={"kind": CHECKPOINT_KIND, "model": self.config["model"]})
        buffer = io.BytesIO()
        torch.save({"optimizer": to_cpu(self.optimizer.state_dict()),
                    "scaler": self.scaler.state_dict() if self.scaler is not None else None}, buffer)
        meta = dict(req["meta"], kind=CHECKPOINT_KIND, model=self.config["model"], world=self.world,
                    torch_version=torch.__version__)
        data = tar_bytes([("loom.json", json.dumps(meta, sort_keys=True).encode()), ("model.safetensors", model_bytes),
                          ("optimizer.pt", buffer.getvalue())])
        temporary = req["path"] + ".partial"
        with open(temporary, "wb") as out:
            out.write(data)
        os.replace(temporary, req["path"])
        return {"path": req["path"], "bytes": len(data)}


def serve(args):
    out = sys.stdout
    sys.stdout = sys.stderr  # library chatter goes to stderr, never into the protocol

    def send(obj):
        try:
            out.write(json.dumps(obj, separators=(",", ":")) + "\n")
            out.flush()
        except BrokenPipeError:
            # Loom exited (killed, or stopped after another rank failed): nobody to answer.
            print("torch_trainer: loom closed the pipe; exiting", file=sys.stderr)
            os._exit(1)

    trainer = Trainer(args)
    send(trainer.handshake())
    ops = {"setup": trainer.setup, "train": trainer.train, "evaluate": trainer.evaluate, "checkpoint": trainer.checkpoint}
    for line in sys.stdin:
        if not line.strip():
            continue
        request_id = None
        try:
            request = json.loads(line)
            request_id = request["id"]
            op = ops.get(request.get("op"))
            if op is None:
                raise ValueError(f"unknown op {request.get('op')!r}; known: {', '.join(ops)}")
            last = [0.0]

            def progress(done, total, request_id=request_id, last=last):
                now = time.monotonic()
                if now - last[0] >= 0.5 or done == total:
                    last[0] = now
                    send({"id": request_id, "progress": [done, total]})

            answer = op(request, progress)
            answer["id"] = request_id
            send(answer)
        except Exception as error:  # noqa: BLE001 - reported to Loom, which stops the run
            traceback.print_exc(file=sys.stderr)
            send({"id": request_id, "error": f"{type(error).__name__}: {error}"})
    if trainer.distributed:
        trainer.dist.destroy_process_group()


def self_test():
    assert learning_rate(0.1, 2, 10, 0) == 0.05 and learning_rate(0.1, 2, 10, 1) == 0.1
    assert abs(learning_rate(0.1, 2, 10, 6) - 0.05) < 1e-12 and learning_rate(0.1, 2, 10, 10) == 0.0
    a = tar_bytes([("b", b"2"), ("a", b"1")])
    assert a == tar_bytes([("a", b"1"), ("b", b"2")]), "the tar is deterministic"
    model = ResNetSmall(10)
    assert model(torch.zeros(2, 3, 16, 16)).shape == (2, 10)
    print("torch_trainer self-test ok", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rank", type=int, default=0)
    parser.add_argument("--world", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rendezvous", help="file for torch.distributed's FileStore (world > 1); must not exist yet")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not 0 <= args.rank < args.world:
        parser.error(f"--rank {args.rank} is outside --world {args.world}")
    if args.world > 1 and not args.rendezvous:
        parser.error("--world > 1 needs --rendezvous FILE")
    serve(args)


if __name__ == "__main__":
    sys.exit(main())
