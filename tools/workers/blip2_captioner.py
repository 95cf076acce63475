#!/usr/bin/env python3
"""Loom `process:` captioner: BLIP-2 (Salesforce/blip2-*) via Hugging Face transformers.

    loom caption --dataset D --backend 'process:python3 tools/workers/blip2_captioner.py --model Salesforce/blip2-opt-2.7b'

Prompt-free captioning, batched, fp16 on CUDA (fp32 on CPU). Speaks the loom-worker protocol
(see README.md). `--dry-run` answers the protocol without loading any model (captions are
stand-ins, the name ends in "-dry-run"); `--self-test` checks the protocol code and exits.
"""
import argparse
import io
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loom_worker  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="Salesforce/blip2-opt-2.7b", help="Hugging Face model id or local path")
    parser.add_argument("--revision", default=None, help="model revision (commit) to pin")
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--num-beams", type=int, default=1)
    parser.add_argument("--device", default=None, help="cuda, cuda:1, cpu (default: cuda when available)")
    parser.add_argument("--dry-run", action="store_true", help="answer the protocol with stand-in captions, no model")
    parser.add_argument("--self-test", action="store_true", help="check the protocol helpers and exit")
    return parser.parse_args(argv)


def params_for(args):
    return {"model": args.model, "max_new_tokens": args.max_new_tokens, "num_beams": args.num_beams,
            "prompt": ""}


class Blip2:
    def __init__(self, args):
        import torch  # lazily: --dry-run and --self-test need none of these
        from PIL import Image
        from transformers import Blip2ForConditionalGeneration, Blip2Processor

        self.torch = torch
        self.Image = Image
        self.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
        self.processor = Blip2Processor.from_pretrained(os.path.expanduser(args.model), revision=args.revision)
        dtype = {loom_worker.dtype_keyword("transformers", (4, 56)): self.dtype}
        self.model = Blip2ForConditionalGeneration.from_pretrained(
            os.path.expanduser(args.model), revision=args.revision, **dtype).to(self.device)
        self.model.eval()
        self.max_new_tokens = args.max_new_tokens
        self.num_beams = args.num_beams
        commit = getattr(self.model.config, "_commit_hash", None)
        self.model_version = commit or args.revision or "unpinned"

    def caption(self, items):
        images, index = [], []
        results = [None] * len(items)
        for i, item in enumerate(items):
            try:
                image = self.Image.open(io.BytesIO(loom_worker.decode_image(item)))
                images.append(image.convert("RGB"))
                index.append(i)
            except Exception as error:
                results[i] = {"error": "cannot decode the image: %s" % error}
        if images:
            inputs = self.processor(images=images, return_tensors="pt").to(self.device, self.dtype)
            with self.torch.inference_mode():
                ids = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, num_beams=self.num_beams)
            texts = self.processor.batch_decode(ids, skip_special_tokens=True)
            for i, text in zip(index, texts):
                text = text.strip()
                results[i] = {"caption": text} if text else {"error": "the model produced an empty caption"}
        return results


def dry_caption(item):
    data = loom_worker.decode_image(item)
    return {"caption": "dry-run stand-in caption (not a model) of a %d-byte %s" % (len(data), item.get("media_type", "image"))}


def self_test():
    import base64
    png = loom_worker.tiny_png(2, 2, (255, 0, 0))
    assert png.startswith(b"\x89PNG")
    result = dry_caption({"media_type": "image/png", "data": base64.b64encode(png).decode()})
    assert "not a model" in result["caption"]
    bad = loom_worker.per_item(lambda item: dry_caption(item), [{"data": "%%%"}])
    assert "error" in bad[0] or "caption" in bad[0]
    print("blip2_captioner self-test ok", file=sys.stderr)


def main(argv=None):
    args = parse_args(argv)
    loom_worker.run("captioner", args, params_for(args), dry_caption, Blip2, self_test, "blip2_captioner")


if __name__ == "__main__":
    main()
