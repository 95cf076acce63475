#!/usr/bin/env python3
"""Loom `process:` generator: Stable Diffusion (1.5, 2.1, SDXL, SDXL-turbo, ...) via diffusers.

    loom generate --dataset D --backend 'process:python3 tools/workers/sd_generator.py --model stabilityai/sdxl-turbo'

fp16 on CUDA (fp32 on CPU); one torch.Generator per image, seeded with the request's seed, so
the same (prompt, seed, steps, guidance, size) gives the same image on the same setup. Answers
PNG. Speaks the loom-worker protocol (see README.md). `--dry-run` answers the protocol without
loading any model (solid-colour stand-in PNGs, the name ends in "-dry-run"); `--self-test`
checks the protocol code and exits.
"""
import argparse
import hashlib
import io
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loom_worker  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="stable-diffusion-v1-5/stable-diffusion-v1-5", help="Hugging Face model id or local path")
    parser.add_argument("--revision", default=None, help="model revision (commit) to pin")
    parser.add_argument("--variant", default="fp16", help="weights variant to download (fp16; '' for the default)")
    parser.add_argument("--device", default=None, help="cuda, cuda:1, cpu (default: cuda when available)")
    parser.add_argument("--negative-prompt", default="", help="negative prompt (ignored by models without CFG)")
    parser.add_argument("--no-safety-checker", action="store_true", help="disable the SD 1.x safety checker")
    parser.add_argument("--dry-run", action="store_true", help="answer the protocol with stand-in images, no model")
    parser.add_argument("--self-test", action="store_true", help="check the protocol helpers and exit")
    return parser.parse_args(argv)


def params_for(args):
    params = {"model": args.model, "format": "png"}
    if args.negative_prompt:
        params["negative_prompt"] = args.negative_prompt
    if args.no_safety_checker:
        params["safety_checker"] = "off"
    return params


class Diffusion:
    def __init__(self, args):
        import torch  # lazily: --dry-run and --self-test need none of these
        from diffusers import AutoPipelineForText2Image

        self.torch = torch
        self.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = self.dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
        options = {loom_worker.dtype_keyword("diffusers", (0, 40)): dtype, "revision": args.revision}
        if args.variant and dtype == torch.float16:
            options["variant"] = args.variant
        if args.no_safety_checker:
            options["safety_checker"] = None
        try:
            pipe = AutoPipelineForText2Image.from_pretrained(os.path.expanduser(args.model), **options)
        except (OSError, ValueError):
            options.pop("variant", None)  # a repository without fp16 weights
            pipe = AutoPipelineForText2Image.from_pretrained(os.path.expanduser(args.model), **options)
        self.pipe = pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        self.negative_prompt = args.negative_prompt or None
        commit = getattr(self.pipe.config, "_commit_hash", None) if hasattr(self.pipe, "config") else None
        self.model_version = commit or args.revision or "unpinned"
        # The pipelines refuse sizes that are not multiples of the VAE's downscale factor.
        self.constraints = {"size_multiple": int(getattr(self.pipe, "vae_scale_factor", SIZE_MULTIPLE))}

    def generate(self, requests):
        # Requests of a batch may differ in size, steps or guidance: run each alike group together.
        results = [None] * len(requests)
        groups = {}
        for i, r in enumerate(requests):
            groups.setdefault((int(r["steps"]), float(r["guidance"]), int(r["width"]), int(r["height"])), []).append(i)
        for (steps, guidance, width, height), index in groups.items():
            try:
                generators = [self.torch.Generator(device=self.device).manual_seed(int(requests[i]["seed"]) % (2 ** 63)) for i in index]
                started = time.time()
                with self.torch.inference_mode():
                    images = self.pipe(
                        prompt=[requests[i]["prompt"] for i in index],
                        negative_prompt=[self.negative_prompt] * len(index) if self.negative_prompt and guidance > 1 else None,
                        num_inference_steps=steps, guidance_scale=guidance, width=width, height=height,
                        generator=generators).images
                seconds = (time.time() - started) / len(index)
                for i, image in zip(index, images):
                    buffer = io.BytesIO()
                    image.save(buffer, format="PNG")
                    results[i] = loom_worker.encode_image(buffer.getvalue(), "image/png", seconds)
            except Exception as error:
                for i in index:
                    results[i] = {"error": "%s: %s" % (type(error).__name__, error)}
        return results


# Stable Diffusion's VAE downscales by 8 (SD 1.x, 2.x, SDXL): sizes must be multiples of it.
SIZE_MULTIPLE = 8


def dry_generate(request):
    width, height = int(request["width"]), int(request["height"])
    if not (1 <= width <= 4096 and 1 <= height <= 4096):
        raise ValueError("size %dx%d is outside 1...4096" % (width, height))
    digest = hashlib.sha256(("%s|%s" % (request["prompt"], request["seed"])).encode()).digest()
    started = time.time()
    png = loom_worker.tiny_png(width, height, digest[:3])
    return loom_worker.encode_image(png, "image/png", time.time() - started)


def self_test():
    result = dry_generate({"prompt": "a red fox", "seed": 1, "steps": 1, "guidance": 0, "width": 4, "height": 3})
    assert result["media_type"] == "image/png" and result["data"]
    bad = loom_worker.per_item(dry_generate, [{"prompt": "x", "seed": 1, "width": 0, "height": 1}])
    assert "error" in bad[0]
    print("sd_generator self-test ok", file=sys.stderr)


def main(argv=None):
    args = parse_args(argv)
    loom_worker.run("generator", args, params_for(args), dry_generate, Diffusion, self_test, "sd_generator",
                    constraints={"size_multiple": SIZE_MULTIPLE})


if __name__ == "__main__":
    main()
