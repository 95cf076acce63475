#!/usr/bin/env python3
"""Throughput check of Loom's GPU stages on this machine, with random weights (no downloads).

Run through tools/gpu/check (it finds or sets up the Python environment); see tools/gpu/README.md.
Every model is built from its published config with random weights, so the figures are throughput,
never quality. Stages, each time-boxed, with warm-up excluded and torch.cuda.synchronize() around
every timing:

  resnet50_synthetic  ResNet-50 training steps at 224 px on tensors already on the GPU (channels_last,
                      bf16 autocast, SGD): the ceiling a data feed can reach.
  sd15                SD-1.5-shaped text encoder + UNet + VAE decoder, 512 px, 50 DDIM steps with
                      classifier-free guidance (UNet batch doubled), fp16.
  blip2               BLIP-2-opt-2.7b-shaped captioning, fp16, greedy, exactly --blip2-tokens new tokens.
  resnet50_feed       tools/bench/torch-feed --gpu --json (Loom vs torchvision DataLoader feeding
                      ResNet-50), when that script and a built loom binary exist.

The model stages run one process per GPU (CUDA_VISIBLE_DEVICES), started together, and their timed
phases begin at a common barrier; the stage's img/s is the sum. One JSON file holds the results.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SCHEMA = "loom-gpu-check/1"
MODEL_STAGES = ("resnet50_synthetic", "sd15", "blip2")
ALL_STAGES = MODEL_STAGES + ("resnet50_feed",)
# Train-split sizes used for the GPU-hour estimates (ImageNette 2 full-size, ImageNet-1K ILSVRC-2012).
DATASETS = {"imagenette": 9469, "imagenet_1k": 1281167}
RESNET_EPOCHS = 200
# Parameter counts of the published models; --smoke builds the full-size ones on the meta device (no
# memory, no compute) and fails when a config drifts from these.
FULL_SIZE_PARAMS = {"resnet50": 25557032, "sd15_unet": 859520964, "blip2_opt_2.7b": 3744679936}


# ---------------------------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------------------------

def missing_packages(need_cuda):
    """What this interpreter lacks for a run: module names, plus a CUDA note when a GPU run needs one."""
    missing = []
    # The classes themselves, not just the packages: both import lazily, and a mismatched torchvision
    # (say, a CUDA wheel next to CPU torch) only breaks them at this point.
    needs = (("torch", "torch", ()), ("diffusers", "diffusers", ("UNet2DConditionModel", "AutoencoderKL")),
             ("transformers", "transformers", ("Blip2ForConditionalGeneration", "CLIPTextModel")))
    for name, module, classes in needs:
        try:
            imported = __import__(module)
            for cls in classes:
                getattr(imported, cls)
        except Exception as error:  # a broken install is as missing as an absent one
            while error.__cause__ or error.__context__:  # the lazy importers wrap the real reason
                error = error.__cause__ or error.__context__
            text = str(error).strip().splitlines()
            missing.append("%s (%s)" % (name, text[-1] if text else type(error).__name__))
    if need_cuda and not any(m.startswith("torch ") for m in missing):
        import torch
        if torch.version.cuda is None:
            missing.append("a CUDA build of torch (torch %s is CPU-only)" % torch.__version__)
        elif not torch.cuda.is_available():
            missing.append("a visible CUDA GPU (torch %s, CUDA %s: torch.cuda.is_available() is false)"
                           % (torch.__version__, torch.version.cuda))
    return missing


def environment(smoke):
    import diffusers
    import torch
    import transformers

    info = {
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__,
                     "transformers": transformers.__version__, "cuda": torch.version.cuda,
                     "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
                     "driver": None},
        "gpu": {"name": None, "count": 0, "memory_gib": None, "capability": None},
    }
    if not smoke and torch.cuda.is_available():
        count = torch.cuda.device_count()
        props = torch.cuda.get_device_properties(0)
        names = sorted({torch.cuda.get_device_name(i) for i in range(count)})
        info["gpu"] = {"name": " / ".join(names), "count": count,
                       "memory_gib": round(props.total_memory / 2 ** 30, 1),
                       "capability": "%d.%d" % (props.major, props.minor)}
        smi = shutil.which("nvidia-smi")
        if smi:
            try:
                out = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"],
                                     capture_output=True, text=True, timeout=20).stdout.split()
                info["versions"]["driver"] = out[0] if out else None
            except (OSError, subprocess.SubprocessError):
                pass
    return info


# ---------------------------------------------------------------------------------------------
# Worker side: one process, one device, one stage
# ---------------------------------------------------------------------------------------------

class Clock:
    """Synchronized wall time on one device: the GPU's queue is drained before every reading."""

    def __init__(self, torch, device):
        self.torch, self.cuda = torch, device.startswith("cuda")

    def now(self):
        if self.cuda:
            self.torch.cuda.synchronize()
        return time.perf_counter()


def wait_at_barrier(barrier, rank, procs, deadline):
    """Every worker writes its mark and waits for all: the timed phases of all GPUs then overlap."""
    if procs <= 1:
        return True
    open(os.path.join(barrier, "ready.%d" % rank), "w").close()
    while time.time() < deadline:
        if sum(name.startswith("ready.") for name in os.listdir(barrier)) >= procs:
            return True
        time.sleep(0.05)
    return False


def timed_loop(clock, step, box, deadline, at_least=1):
    """Runs step() until the box (or the absolute deadline) ends; at least at_least times."""
    stop = min(time.time() + box, deadline)
    count, started = 0, clock.now()
    while count < at_least or time.time() < stop:
        step()
        count += 1
    return count, clock.now() - started


def resnet50(nn, classes=1000):
    """torchvision's resnet50 (v1.5: stride on the 3x3 conv), written with torch.nn so that a broken or
    absent torchvision (its CUDA wheel next to CPU torch) cannot stop the check. 25,557,032 parameters."""

    class Block(nn.Module):
        def __init__(self, inplanes, planes, stride):
            super().__init__()
            width, out = planes, planes * 4
            self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, out, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(out)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or inplanes != out:
                self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.relu(self.bn2(self.conv2(y)))
            return self.relu(self.bn3(self.conv3(y)) + identity)

    layers, inplanes = [], 64
    for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        stage = []
        for i in range(blocks):
            stage.append(Block(inplanes, planes, stride if i == 0 else 1))
            inplanes = planes * 4
        layers.append(nn.Sequential(*stage))
    return nn.Sequential(
        nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1),
        *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, classes))


def check_full_size(torch, name, build):
    """--smoke only: the full-size model's parameter count, built on the meta device, against the published one."""
    with torch.device("meta"):
        count = sum(p.numel() for p in build().parameters())
    if count != FULL_SIZE_PARAMS[name]:
        raise SystemExit("%s: the full-size config builds %d parameters, the published model has %d"
                         % (name, count, FULL_SIZE_PARAMS[name]))
    return count


def stage_resnet(args, torch, device, clock, sync):
    nn = torch.nn
    size, batch = 64 if args.smoke else 224, args.resnet_batch
    model = resnet50(nn).to(device).to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(batch, 3, size, size, device=device).to(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device=device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        # bf16 on a CPU without bf16 units is slower than fp32 by far: --smoke only checks the code.
        with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=not args.smoke):
            loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    for _ in range(args.warmup_steps):
        step()
    synced = sync()
    steps, seconds = timed_loop(clock, step, args.box, args.deadline)
    params = sum(p.numel() for p in model.parameters())
    if args.smoke:
        check_full_size(torch, "resnet50", lambda: resnet50(nn))
    return {"images_per_s": batch * steps / seconds, "seconds": seconds, "steps": steps, "batch": batch,
            "size": size, "params": params, "barrier_met": synced,
            "recipe": "channels_last, %s, SGD momentum 0.9, cross-entropy, 1000 classes"
                      % ("fp32 (smoke)" if args.smoke else "bf16 autocast")}


def sd15_configs(smoke):
    """The SD-1.5 shapes (runwayml/stable-diffusion-v1-5 unet/vae/text_encoder config.json), or tiny ones."""
    if smoke:
        unet = dict(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                    block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                    attention_head_dim=8, norm_num_groups=8)
        vae = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8,
                   block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                   up_block_types=("UpDecoderBlock2D",) * 2, sample_size=16)
        text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                    max_position_embeddings=77, vocab_size=1000, projection_dim=32)
        return unet, vae, text, 8
    unet = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, center_input_sample=False,
                block_out_channels=(320, 640, 1280, 1280),
                down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                  "DownBlock2D"),
                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
                cross_attention_dim=768, attention_head_dim=8, act_fn="silu", downsample_padding=1,
                flip_sin_to_cos=True, freq_shift=0, mid_block_scale_factor=1, norm_eps=1e-5, norm_num_groups=32)
    vae = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32,
               block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
               up_block_types=("UpDecoderBlock2D",) * 4, act_fn="silu", sample_size=512)
    text = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                max_position_embeddings=77, vocab_size=49408, hidden_act="quick_gelu", projection_dim=768)
    return unet, vae, text, 64


def stage_sd15(args, torch, device, clock, sync):
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    dtype = torch.float32 if args.smoke else torch.float16
    unet_cfg, vae_cfg, text_cfg, latent = sd15_configs(args.smoke)
    with torch.device(device):
        unet = UNet2DConditionModel(**unet_cfg).to(dtype).eval()
        vae = AutoencoderKL(**vae_cfg).to(dtype).eval()
        text_encoder = CLIPTextModel(CLIPTextConfig(**text_cfg)).to(dtype).eval()
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    scheduler.set_timesteps(args.sd_steps)
    timesteps = list(scheduler.timesteps)
    batch, guidance = args.sd_batch, 7.5
    # Random token ids stand in for tokenized prompts (no tokenizer files offline); cost is the same.
    ids = torch.randint(0, text_cfg["vocab_size"], (2 * batch, 77), device=device)
    state = {"latents": torch.randn(batch, 4, latent, latent, device=device, dtype=dtype), "t": 0}

    with torch.inference_mode():
        def encode():
            state["embeds"] = text_encoder(ids)[0]

        def denoise():
            t = timesteps[state["t"] % len(timesteps)]
            state["t"] += 1
            latents = state["latents"]
            noise = unet(torch.cat([latents, latents]), t, encoder_hidden_states=state["embeds"]).sample
            uncond, cond = noise.chunk(2)
            state["latents"] = scheduler.step(uncond + guidance * (cond - uncond), t, latents).prev_sample

        def decode():
            state["image"] = vae.decode(state["latents"] / 0.18215).sample

        encode()
        for _ in range(args.warmup_steps):
            denoise()
        decode()
        synced = sync()
        # The UNet loop is nearly all of an image's cost, so it gets most of the box.
        encodes, encode_s = timed_loop(clock, encode, 0.02 * args.box, args.deadline)
        steps, denoise_s = timed_loop(clock, denoise, 0.85 * args.box, args.deadline)
        decodes, decode_s = timed_loop(clock, decode, 0.13 * args.box, args.deadline)
    if args.smoke:
        check_full_size(torch, "sd15_unet", lambda: UNet2DConditionModel(**sd15_configs(False)[0]))
    per_batch = encode_s / encodes + args.sd_steps * denoise_s / steps + decode_s / decodes
    return {"images_per_s": batch / per_batch, "seconds": encode_s + denoise_s + decode_s, "batch": batch,
            "unet_batch": 2 * batch, "steps_per_image": args.sd_steps, "unet_steps_timed": steps,
            "unet_steps_per_s": steps / denoise_s, "text_encode_s": encode_s / encodes,
            "unet_step_s": denoise_s / steps, "vae_decode_s": decode_s / decodes, "seconds_per_batch": per_batch,
            "size": latent * 8, "dtype": str(dtype).replace("torch.", ""), "guidance": guidance,
            "scheduler": "DDIM", "barrier_met": synced,
            "unet_params": sum(p.numel() for p in unet.parameters())}


def blip2_config(smoke):
    """The Salesforce/blip2-opt-2.7b shapes (ViT-g/14, 12-layer Q-Former, OPT-2.7b), or tiny ones."""
    from transformers import Blip2Config, Blip2QFormerConfig, Blip2VisionConfig, OPTConfig

    if smoke:
        vision = Blip2VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, image_size=28, patch_size=14)
        qformer = Blip2QFormerConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                     num_attention_heads=4, encoder_hidden_size=32)
        text = OPTConfig(hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=4,
                         vocab_size=1000, word_embed_proj_dim=32, max_position_embeddings=128,
                         bos_token_id=2, eos_token_id=2, pad_token_id=1)
        return Blip2Config(vision_config=vision.to_dict(), qformer_config=qformer.to_dict(),
                           text_config=text.to_dict(), num_query_tokens=4, image_token_index=999), 28
    vision = Blip2VisionConfig(hidden_size=1408, intermediate_size=6144, num_hidden_layers=39,
                               num_attention_heads=16, image_size=224, patch_size=14, hidden_act="gelu",
                               layer_norm_eps=1e-6, qkv_bias=True)
    qformer = Blip2QFormerConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                 num_attention_heads=12, cross_attention_frequency=2, encoder_hidden_size=1408,
                                 vocab_size=30522)
    text = OPTConfig(hidden_size=2560, ffn_dim=10240, num_hidden_layers=32, num_attention_heads=32,
                     vocab_size=50272, word_embed_proj_dim=2560, max_position_embeddings=2048,
                     do_layer_norm_before=True, activation_function="relu",
                     bos_token_id=2, eos_token_id=50118, pad_token_id=1)
    return Blip2Config(vision_config=vision.to_dict(), qformer_config=qformer.to_dict(),
                       text_config=text.to_dict(), num_query_tokens=32, image_token_index=50265), 224


def stage_blip2(args, torch, device, clock, sync):
    from transformers import Blip2ForConditionalGeneration

    dtype = torch.float32 if args.smoke else torch.float16
    config, size = blip2_config(args.smoke)
    # Built straight in the target dtype on the device: 3.9B parameters in fp32 would need 15 GiB first.
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Blip2ForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    # As from_pretrained does: the Q-Former and its query tokens stay fp32.
    for name in getattr(model, "_keep_in_fp32_modules", None) or ():
        part = getattr(model, name, None)
        if isinstance(part, torch.nn.Parameter):
            part.data = part.data.float()
        elif part is not None:
            part.float()
    model.eval()
    batch, tokens = args.blip2_batch, args.blip2_tokens
    pixels = torch.randn(batch, 3, size, size, device=device, dtype=dtype)
    # min_new_tokens = max_new_tokens: random weights would otherwise stop at a random EOS, and every
    # call should cost the same fixed token budget.
    options = dict(max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, num_beams=1)
    state = {}

    with torch.inference_mode():
        def caption():
            state["out"] = model.generate(pixel_values=pixels, **options)

        caption()
        synced = sync()
        calls, seconds = timed_loop(clock, caption, args.box, args.deadline)
    if args.smoke:
        check_full_size(torch, "blip2_opt_2.7b", lambda: Blip2ForConditionalGeneration(blip2_config(False)[0]))
    new_tokens = state["out"].shape[1] - (config.num_query_tokens + 1)
    return {"images_per_s": batch * calls / seconds, "seconds": seconds, "batch": batch, "calls": calls,
            "max_new_tokens": tokens, "new_tokens_seen": int(new_tokens),
            "tokens_per_s": batch * new_tokens * calls / seconds, "size": size,
            "dtype": str(dtype).replace("torch.", ""), "decoding": "greedy", "barrier_met": synced,
            "params": sum(p.numel() for p in model.parameters())}


def worker(args):
    import torch

    device = "cpu" if args.smoke else "cuda:0"  # CUDA_VISIBLE_DEVICES gives each worker one GPU
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, args.procs)))
    torch.manual_seed(args.rank)
    clock = Clock(torch, device)
    started = time.time()

    def sync():
        return wait_at_barrier(args.barrier, args.rank, args.procs, args.deadline)

    run = {"resnet50_synthetic": stage_resnet, "sd15": stage_sd15, "blip2": stage_blip2}[args.worker]
    result = run(args, torch, device, clock, sync)
    result["wall_seconds"] = time.time() - started
    if device.startswith("cuda"):
        result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2 ** 30, 2)
    with open(args.result, "w") as f:
        json.dump(result, f)


# ---------------------------------------------------------------------------------------------
# Orchestrator side
# ---------------------------------------------------------------------------------------------

def tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:]).strip()
    except OSError:
        return ""


def run_model_stage(args, stage, box, limit):
    """Starts one worker per device, waits at most `limit` seconds, and sums their img/s."""
    scratch = tempfile.mkdtemp(prefix="gpu-check-%s-" % stage)
    barrier = os.path.join(scratch, "barrier")
    os.mkdir(barrier)
    started = time.time()
    # Timing stops by this instant in every worker; the kill comes a little after, for the teardown.
    deadline = started + limit - 15
    procs = []
    for rank in range(args.procs):
        env = dict(os.environ)
        if not args.smoke:
            env["CUDA_VISIBLE_DEVICES"] = str(args.devices[rank])
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", stage, "--rank", str(rank),
               "--procs", str(args.procs), "--barrier", barrier, "--box", str(box), "--deadline", str(deadline),
               "--result", os.path.join(scratch, "result.%d.json" % rank)] + args.passthrough
        log = open(os.path.join(scratch, "log.%d" % rank), "w")
        procs.append((subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True), log))
    failures = []
    try:
        # Polled together: when one worker dies (out of memory, say), the others would otherwise sit at
        # the barrier until the deadline.
        while any(proc.poll() is None for proc, _ in procs):
            if any(proc.returncode not in (None, 0) for proc, _ in procs):
                break
            if time.time() >= started + limit:
                failures.append("passed the stage's %d s limit and was killed" % limit)
                break
            time.sleep(0.2)
        for rank, (proc, log) in enumerate(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()
            if proc.returncode not in (0, -signal.SIGKILL):
                failures.append("worker %d exited %d: %s" % (rank, proc.returncode,
                                                             tail(os.path.join(scratch, "log.%d" % rank))))
    finally:
        # Workers have their own sessions (for the kill above), so Ctrl-C does not reach them: on any
        # way out, none is left holding a GPU.
        for proc, _ in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    results = []
    for rank in range(args.procs):
        try:
            with open(os.path.join(scratch, "result.%d.json" % rank)) as f:
                results.append(json.load(f))
        except (OSError, ValueError):
            pass
    wall = time.time() - started
    shutil.rmtree(scratch, ignore_errors=True)
    if failures or len(results) != args.procs:
        return {"status": "failed", "reason": "; ".join(failures) or "a worker wrote no result", "wall_seconds": wall}
    total = sum(r["images_per_s"] for r in results)
    summary = {k: v for k, v in results[0].items() if k not in ("images_per_s", "seconds", "wall_seconds")}
    summary.update({"status": "ok", "images_per_s": total, "images_per_s_per_gpu": total / len(results),
                    "per_process_images_per_s": [r["images_per_s"] for r in results], "processes": len(results),
                    "seconds": max(r["seconds"] for r in results), "wall_seconds": wall,
                    "barrier_met": all(r.get("barrier_met", True) for r in results)})
    return summary


def find_loom():
    candidates = [os.environ.get("LOOM"), os.path.join(REPO, ".build", "release", "loom"), shutil.which("loom")]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def run_feed_stage(args, limit, ceiling):
    script = os.path.join(REPO, "tools", "bench", "torch-feed")
    if not (os.path.isfile(script) and os.access(script, os.X_OK)):
        return {"status": "skipped", "reason": "tools/bench/torch-feed is not in this checkout"}
    loom = find_loom()
    if loom is None:
        return {"status": "skipped", "reason": "no built loom binary (LOOM, .build/release/loom or loom on PATH);"
                                               " build one with `tools/setup --release`"}
    if args.smoke:
        return {"status": "skipped", "reason": "--smoke runs no GPU feed (torch-feed --gpu needs CUDA)"}
    import importlib.util
    lacking = [m for m in ("torchvision", "numpy", "PIL") if importlib.util.find_spec(m) is None]
    if lacking:
        return {"status": "skipped", "reason": "tools/bench/torch-feed trains torchvision's ResNet-50 and needs %s,"
                                               " which %s lacks" % (", ".join(lacking), sys.executable)}
    env = dict(os.environ, LOOM=loom)
    if os.access(os.path.join(sys.prefix, "bin", "python"), os.X_OK):
        env["VENV"] = sys.prefix  # torch-feed runs VENV/bin/python: the environment this check runs in
    started = time.time()
    # Its own session, so a timeout takes down the whole tree (loom, python), not just the bash script.
    proc = subprocess.Popen([script, "--gpu", "--json"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"status": "failed", "reason": "tools/bench/torch-feed --gpu --json ran past %d s" % limit,
                "wall_seconds": time.time() - started}
    wall = time.time() - started
    if proc.returncode != 0:
        return {"status": "failed", "wall_seconds": wall,
                "reason": "tools/bench/torch-feed exited %d: %s" % (proc.returncode, stderr.strip()[-1500:])}
    lines = [line for line in stdout.strip().splitlines() if line.strip()]
    try:
        result = json.loads(stdout) if stdout.strip().startswith("{") else json.loads(lines[-1])
    except (ValueError, IndexError):
        return {"status": "failed", "wall_seconds": wall,
                "reason": "tools/bench/torch-feed printed no JSON: %s" % stdout.strip()[-500:]}
    summary = {"status": "ok", "wall_seconds": wall, "loom": loom, "result": result}
    # torch-feed's JSON (tools/bench/torch_feed.py) is kept verbatim; its headline figures are lifted out.
    loom_rate = (result.get("loom") or {}).get("images_per_s")
    if not isinstance(loom_rate, (int, float)):
        return {"status": "failed", "wall_seconds": wall, "result": result,
                "reason": "tools/bench/torch-feed's JSON has no loom.images_per_s"}
    summary.update({"images_per_s": loom_rate, "images_per_s_per_gpu": loom_rate, "batch": result.get("batch"),
                    "seconds": (result.get("loom") or {}).get("seconds"),
                    "dataloader_images_per_s": (result.get("torchvision_dataloader") or {}).get("images_per_s"),
                    "loom_over_dataloader": result.get("ratio_loom_over_torchvision")})
    if ceiling:
        summary["fraction_of_synthetic_ceiling"] = loom_rate / ceiling
    return summary


def estimates(stages, smoke):
    """GPU-hours per stage and dataset: work items / (img/s per GPU) / 3600."""
    def per_gpu(name):
        stage = stages.get(name, {})
        return stage.get("images_per_s_per_gpu") if stage.get("status") == "ok" else None

    feed = stages.get("resnet50_feed", {})
    # torch-feed trains on one GPU, so its img/s is already per GPU.
    feed_rate = feed.get("images_per_s_per_gpu") if feed.get("status") == "ok" else None
    # (rate, passes over the train split, where the rate comes from)
    rows = {"captions": (per_gpu("blip2"), 1, "blip2"),
            "sd_images": (per_gpu("sd15"), 1, "sd15 (1 image per caption)"),
            "resnet50_%d_epochs" % RESNET_EPOCHS: (feed_rate, RESNET_EPOCHS, "resnet50_feed (Loom-fed)")
            if feed_rate else (per_gpu("resnet50_synthetic"), RESNET_EPOCHS, "resnet50_synthetic (GPU ceiling)")}
    out = {}
    for dataset, images in DATASETS.items():
        block = {"train_images": images}
        for label, (rate, passes, basis) in rows.items():
            if smoke or not rate:
                block[label] = {"gpu_hours": None, "basis": "not measured" + (" (--smoke)" if smoke else "")}
            else:
                block[label] = {"gpu_hours": round(images * passes / rate / 3600, 3), "images": images * passes,
                                "images_per_s_per_gpu": rate, "basis": basis}
        out[dataset] = block
    return out


def print_table(report):
    gpu = report["gpu"]
    print("gpu-check: %s x%d, driver %s, CUDA %s, torch %s, diffusers %s, transformers %s" % (
        gpu["name"] or "cpu (smoke)", gpu["count"], report["versions"]["driver"], report["versions"]["cuda"],
        report["versions"]["torch"], report["versions"]["diffusers"], report["versions"]["transformers"]))
    print("%-20s %-8s %12s %12s %7s %8s" % ("stage", "status", "img/s", "img/s/GPU", "batch", "timed s"))
    for name, stage in report["stages"].items():
        def cell(key, fmt):
            value = stage.get(key)
            return fmt % value if isinstance(value, (int, float)) else "-"
        print("%-20s %-8s %12s %12s %7s %8s" % (name, stage["status"], cell("images_per_s", "%.2f"),
                                                cell("images_per_s_per_gpu", "%.2f"), cell("batch", "%d"),
                                                cell("seconds", "%.1f")))
        if stage["status"] != "ok":
            print("    %s" % stage["reason"].strip().splitlines()[-1][:200])  # a traceback's last line says most
    feed = report["stages"].get("resnet50_feed", {})
    if isinstance(feed.get("loom_over_dataloader"), (int, float)):
        print("resnet50_feed: Loom / DataLoader = %.2f" % feed["loom_over_dataloader"])
    if "fraction_of_synthetic_ceiling" in feed:
        print("resnet50_feed: Loom-fed / synthetic ceiling = %.2f" % feed["fraction_of_synthetic_ceiling"])
    print("GPU-hours estimate (images / img/s per GPU / 3600):")
    for dataset, block in report["estimates"].items():
        cells = ["%s %s" % (label, "%.2f h" % row["gpu_hours"] if row["gpu_hours"] is not None else row["basis"])
                 for label, row in block.items() if label != "train_images"]
        print("  %-12s %s" % (dataset, "; ".join(cells)))


def orchestrate(args):
    missing = missing_packages(need_cuda=not args.smoke)
    if missing:
        print("gpu-check: missing: %s" % "; ".join(missing), file=sys.stderr)
        return 2
    begun = time.time()
    info = environment(args.smoke)
    gpus = info["gpu"]["count"]
    # Workers get one entry each of what this process sees, so a CUDA_VISIBLE_DEVICES set by the user holds.
    visible = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    args.devices = [] if args.smoke else (visible[:gpus] if len(visible) >= gpus else [str(i) for i in range(gpus)])
    if args.procs is None:
        args.procs = 1 if args.smoke else gpus
    elif not args.smoke and args.procs > gpus:
        print("gpu-check: --procs %d but only %d GPU(s) visible" % (args.procs, gpus), file=sys.stderr)
        return 2
    wanted = args.stages.split(",") if args.stages else list(ALL_STAGES)
    unknown = [s for s in wanted if s not in ALL_STAGES]
    if unknown:
        print("gpu-check: --stages: unknown %s (known: %s)" % (", ".join(unknown), ",".join(ALL_STAGES)),
              file=sys.stderr)
        return 2
    # Stage: (timed box, setup allowance for imports, building the model and warm-up).
    plan = {"resnet50_synthetic": (args.resnet_box, 75), "sd15": (args.sd_box, 120), "blip2": (args.blip2_box, 150)}
    if args.smoke:
        plan = {k: (min(box, 2.0), 120) for k, (box, _) in plan.items()}
    stages = {}
    for name in ALL_STAGES:
        remaining = args.budget - (time.time() - begun)
        if name not in wanted:
            stages[name] = {"status": "skipped", "reason": "not in --stages"}
            continue
        if remaining < 30:
            stages[name] = {"status": "skipped", "reason": "the %d s budget was spent by earlier stages" % args.budget}
            continue
        print("gpu-check: %s ..." % name, file=sys.stderr, flush=True)
        if name == "resnet50_feed":
            ceiling = stages.get("resnet50_synthetic", {}).get("images_per_s_per_gpu")
            stages[name] = run_feed_stage(args, int(min(args.feed_limit, remaining - 5)), ceiling)
        else:
            box, setup = plan[name]
            limit = min(box + setup, remaining - 5)
            stages[name] = run_model_stage(args, name, min(box, max(1.0, limit - setup)), limit)
    report = {"schema": SCHEMA, "mode": "smoke" if args.smoke else "gpu",
              "started_at": datetime.datetime.fromtimestamp(begun, datetime.timezone.utc).isoformat(),
              "seconds": round(time.time() - begun, 1), "budget_seconds": args.budget,
              "host": info["host"], "python": info["python"], "gpu": info["gpu"], "versions": info["versions"],
              "stages": stages, "estimates": estimates(stages, args.smoke)}
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print_table(report)
    print("gpu-check: wrote %s (%.0f s)" % (args.out, report["seconds"]))
    return 0 if all(s["status"] != "failed" for s in stages.values()) else 1


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="gpu-check.json", help="the JSON report (default gpu-check.json)")
    p.add_argument("--smoke", action="store_true", help="tiny shapes, a few steps, on the CPU")
    p.add_argument("--stages", default=None, help="comma-separated subset of %s" % ",".join(ALL_STAGES))
    p.add_argument("--procs", type=int, default=None, help="processes (GPUs) per model stage (default: all GPUs)")
    p.add_argument("--budget", type=int, default=450, help="seconds for the whole check (default 450)")
    # Defaults in brackets are the --smoke ones.
    p.add_argument("--resnet-batch", type=int, default=None, help="ResNet-50 batch (256 [4])")
    p.add_argument("--resnet-box", type=float, default=25, help="timed seconds of the ResNet-50 stage")
    p.add_argument("--sd-batch", type=int, default=None, help="images per SD batch, UNet batch twice this (8 [1])")
    p.add_argument("--sd-steps", type=int, default=None, help="denoising steps per image (50 [4])")
    p.add_argument("--sd-box", type=float, default=60, help="timed seconds of the SD stage")
    p.add_argument("--blip2-batch", type=int, default=None, help="images per captioning call (16 [2])")
    p.add_argument("--blip2-tokens", type=int, default=None, help="new tokens per caption, min = max (30 [3])")
    p.add_argument("--blip2-box", type=float, default=45, help="timed seconds of the BLIP-2 stage")
    p.add_argument("--feed-limit", type=int, default=200, help="seconds allowed for tools/bench/torch-feed")
    p.add_argument("--warmup-steps", type=int, default=None, help="untimed steps first (10 [1])")
    # Internal: one worker process of a model stage.
    p.add_argument("--worker", choices=MODEL_STAGES, help=argparse.SUPPRESS)
    p.add_argument("--rank", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--barrier", help=argparse.SUPPRESS)
    p.add_argument("--box", type=float, help=argparse.SUPPRESS)
    p.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name in ("procs", "budget", "resnet_batch", "sd_batch", "sd_steps", "blip2_batch", "blip2_tokens",
                 "feed_limit"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error("--%s must be at least 1, not %s" % (name.replace("_", "-"), value))
    if args.warmup_steps is not None and args.warmup_steps < 0:
        p.error("--warmup-steps must be at least 0")
    for name in ("resnet_box", "sd_box", "blip2_box"):
        if not getattr(args, name) > 0:
            p.error("--%s must be positive" % name.replace("_", "-"))
    defaults = {"resnet_batch": (256, 4), "sd_batch": (8, 1), "sd_steps": (50, 4), "blip2_batch": (16, 2),
                "blip2_tokens": (30, 3), "warmup_steps": (10, 1)}
    for name, (full, smoke) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, smoke if args.smoke else full)
    # What every worker must see as the orchestrator did.
    args.passthrough = ["--resnet-batch", str(args.resnet_batch), "--sd-batch", str(args.sd_batch),
                        "--sd-steps", str(args.sd_steps), "--blip2-batch", str(args.blip2_batch),
                        "--blip2-tokens", str(args.blip2_tokens), "--warmup-steps", str(args.warmup_steps)]
    if args.smoke:
        args.passthrough.append("--smoke")
    return args


def main():
    args = parse_args()
    if args.worker:
        worker(args)
        return 0
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
