"""`loom-client` (or `python -m loom_client`): command-line helpers over a running `loom serve`."""

import argparse
import json
import os
import sys

from .client import LoomClient, LoomError


def main(argv=None):
    parser = argparse.ArgumentParser(prog="loom-client")
    commands = parser.add_subparsers(dest="command", required=True)
    hf = commands.add_parser("ingest-hf", help="ingest a Hugging Face dataset (Parquet, save_to_disk folder, or load_dataset path)")
    hf.add_argument("path", help="a .parquet file or folder of them, a save_to_disk folder, or a datasets.load_dataset path")
    hf.add_argument("--dataset", required=True, help="the Loom dataset to ingest into")
    hf.add_argument("--url", default=os.environ.get("LOOM_URL", "http://127.0.0.1:8080"), help="loom serve (default: $LOOM_URL)")
    hf.add_argument("--token", default=os.environ.get("LOOM_TOKEN"), help="write token (default: $LOOM_TOKEN)")
    hf.add_argument("--image-column", default="image")
    hf.add_argument("--label-column", default="label", help="a ClassLabel column; its names become the class folders")
    hf.add_argument("--split", help="file every image under this split (default: from the file or split names; validation -> val)")
    hf.add_argument("--json", action="store_true", help="print the totals as JSON")
    args = parser.parse_args(argv)

    from .hf import ingest_hf

    client = LoomClient(args.url, token=args.token)
    tty = sys.stderr.isatty() and not os.environ.get("CI")
    try:
        totals = ingest_hf(client, args.path, args.dataset, image_column=args.image_column, label_column=args.label_column,
                           split=args.split,
                           progress=(lambda t: print(f"\ringest-hf {t['files']} files, {t['added']} added", end="", file=sys.stderr))
                           if tty else None)
    except (LoomError, ValueError, OSError) as error:
        print(f"loom-client ingest-hf: {error}", file=sys.stderr)
        return 1
    if tty:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(totals))
    else:
        print(f"ingested {totals['files']} files into {args.dataset}: {totals['added']} added, {totals['duplicates']} duplicates, "
              f"{totals['unchanged']} unchanged, {len(totals['rejected'])} rejected", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
