#!/usr/bin/env python3
"""Builds tiny random-weight models that the real workers load like hub models, for tests.

    python tools/workers/tiny_models.py --root /tmp/loom-tiny-models   # prints the folder it made

Nothing is downloaded: every config, weight and tokenizer is made here, with fixed seeds, and
saved with `save_pretrained`, so

    blip2_captioner.py --model FOLDER/blip2     # a BLIP-2: 32x32 ViT, 2-layer Q-Former and OPT
    sd_generator.py --model FOLDER/sd           # Stable Diffusion: 32/64-channel UNet, 4-block VAE
                                                #   (8x downscale, as SD's), tiny CLIP, PNDM

run the real loading and inference code paths. The weights are random: captions are byte
soup and images are noise, at the real models' shapes and protocols.

FOLDER is ROOT/<key>, where the key hashes this file and the installed versions of torch,
transformers, diffusers, tokenizers and safetensors: the same versions give the same bytes, and
a second call finds the folder made (a marker file is written last; concurrent callers build
in private folders and the first rename wins).
"""
import argparse
import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile

PACKAGES = ("torch", "transformers", "diffusers", "tokenizers", "safetensors")
MARKER = "complete.json"


def key():
    digest = hashlib.sha256()
    with open(os.path.abspath(__file__), "rb") as source:
        digest.update(source.read())
    versions = {name: importlib.metadata.version(name) for name in PACKAGES}
    digest.update(json.dumps(versions, sort_keys=True).encode())
    return digest.hexdigest()[:16], versions


def byte_alphabet():
    from tokenizers import pre_tokenizers
    return sorted(pre_tokenizers.ByteLevel.alphabet())


def build_blip2(folder):
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (Blip2Config, Blip2ForConditionalGeneration, Blip2Processor,
                              BlipImageProcessor, PreTrainedTokenizerFast)

    # OPT's ids: <pad> 1, </s> 2 (also its bos); then the image token, then one token per byte.
    specials = ["<unk>", "<pad>", "</s>", "<image>"]
    vocab = {token: i for i, token in enumerate(specials + byte_alphabet())}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", pad_token="<pad>",
                                        bos_token="</s>", eos_token="</s>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    image_processor = BlipImageProcessor(size={"height": 32, "width": 32})
    query_tokens = 8
    processor = Blip2Processor(image_processor=image_processor, tokenizer=tokenizer, num_query_tokens=query_tokens)

    config = Blip2Config(
        vision_config={"image_size": 32, "patch_size": 4, "hidden_size": 32, "intermediate_size": 37,
                       "num_hidden_layers": 2, "num_attention_heads": 4},
        qformer_config={"vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                        "intermediate_size": 37, "encoder_hidden_size": 32},
        text_config={"model_type": "opt", "vocab_size": len(vocab), "hidden_size": 16, "word_embed_proj_dim": 16,
                     "num_hidden_layers": 2, "num_attention_heads": 4, "ffn_dim": 32, "max_position_embeddings": 128,
                     "pad_token_id": 1, "bos_token_id": 2, "eos_token_id": 2},
        num_query_tokens=query_tokens, image_token_index=vocab["<image>"])
    torch.manual_seed(0)
    model = Blip2ForConditionalGeneration(config).eval()
    # Random weights may favour the end token (this seed does): zero its (tied) embedding row so
    # its logit is 0 among random ones, and ask for a few tokens at least. A caption of byte soup
    # is the point: an empty one is an error.
    with torch.no_grad():
        model.get_input_embeddings().weight[vocab["</s>"]].zero_()
    model.generation_config.min_new_tokens = 4
    model.generation_config._from_model_config = False
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


def build_sd(folder):
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    # CLIP's byte-level BPE with no merges: every byte a token, word ends marked "</w>".
    alphabet = byte_alphabet()
    tokens = alphabet + [c + "</w>" for c in alphabet] + ["<|startoftext|>", "<|endoftext|>"]
    with tempfile.TemporaryDirectory() as scratch:
        vocab_file, merges_file = os.path.join(scratch, "vocab.json"), os.path.join(scratch, "merges.txt")
        with open(vocab_file, "w", encoding="utf-8") as out:
            json.dump({token: i for i, token in enumerate(tokens)}, out, ensure_ascii=False)
        with open(merges_file, "w", encoding="utf-8") as out:
            out.write("#version: 0.2\n")
        tokenizer = CLIPTokenizer(vocab_file, merges_file, model_max_length=77)
    text_config = CLIPTextConfig(vocab_size=len(tokens), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                                 num_attention_heads=4, max_position_embeddings=77, layer_norm_eps=1e-5,
                                 bos_token_id=tokens.index("<|startoftext|>"), eos_token_id=tokens.index("<|endoftext|>"),
                                 pad_token_id=tokens.index("<|endoftext|>"))
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(text_config).eval()
    torch.manual_seed(1)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32)
    torch.manual_seed(2)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, sample_size=64, block_out_channels=(32, 32, 64, 64),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=32)
    scheduler = PNDMScheduler(skip_prk_steps=True, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder)


def build(root):
    name, versions = key()
    folder = os.path.join(root, name)
    if os.path.exists(os.path.join(folder, MARKER)):
        return folder
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.makedirs(root, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=name + ".building-", dir=root)
    try:
        build_blip2(os.path.join(scratch, "blip2"))
        build_sd(os.path.join(scratch, "sd"))
        with open(os.path.join(scratch, MARKER), "w") as out:
            json.dump({"versions": versions}, out, sort_keys=True)
        try:
            os.rename(scratch, folder)
        except OSError:
            if not os.path.exists(os.path.join(folder, MARKER)):
                raise  # not another builder's finished folder: a real failure
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=os.path.join(tempfile.gettempdir(), "loom-tiny-models"),
                        help="where the keyed model folders go (default: %(default)s)")
    args = parser.parse_args(argv)
    print(build(os.path.abspath(args.root)))


if __name__ == "__main__":
    sys.exit(main())
