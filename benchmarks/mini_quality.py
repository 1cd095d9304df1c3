"""Quality of the mini profile's miniature world at its real settings (issue 7): trains the tiny CLIP and the
tiny Stable Diffusion as ``miniature.build`` does, then prints the targets.

* CLIP: zero-shot style accuracy on held-out images over the 27 styles (goal >= 0.85) and the adjusted Rand
  index of k-means (k = 27) on their image embeddings against the styles (goal >= 0.6), after <= 3 minutes.
* Stable Diffusion: the fraction of images whose zero-shot CLIP style is the prompted one (goal >= 0.7;
  chance 1/27), prompts being held-out captions that name their style, after <= 8 minutes.

Seconds are of this machine and thread count; they are reported, never asserted.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mini_quality.py [--profile tiny] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch
import yaml

from clipcreate_lib import config
from clipcreate_lib.models import miniature, miniature_training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="tiny", help="params/<profile>.yaml whose miniature section is used")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="override miniature settings (YAML values), e.g. diffusion_steps=300",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a small CPU)")
    parser.add_argument("--skip-diffusion", action="store_true", help="train and check the CLIP only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}
    cfg = config.load(args.profile, miniature=overrides).miniature
    print("settings:", dataclasses.asdict(cfg))

    train, held_out = miniature_training.embedded_split(cfg)
    start = time.perf_counter()
    clip, processor, _ = miniature_training.train_clip(cfg, train)
    clip_seconds = time.perf_counter() - start
    print(f"CLIP: {sum(p.numel() for p in clip.parameters()) / 1e6:.2f}M parameters, {clip_seconds:.0f} s")
    print(
        f"zero-shot style accuracy (held out, {len(held_out.captions)} images): "
        f"{miniature.zero_shot_accuracy(held_out, clip, processor):.3f}  (goal >= 0.85)"
    )
    print(f"k-means ARI (k = 27): {miniature.kmeans_ari(held_out, clip, processor, cfg.seed):.3f}  (goal >= 0.6)")
    if args.skip_diffusion:
        return

    start = time.perf_counter()
    pipe, _ = miniature_training.train_diffusion(cfg, train, clip, processor)
    diffusion_seconds = time.perf_counter() - start
    print(
        f"Stable Diffusion: UNet {sum(p.numel() for p in pipe.unet.parameters()) / 1e6:.2f}M parameters, "
        f"{diffusion_seconds:.0f} s"
    )
    prompts = [
        miniature_training.styled_caption(c, label) for c, label in zip(held_out.captions, held_out.labels.tolist())
    ]
    start = time.perf_counter()
    rate = miniature.style_recognition_rate(
        pipe, prompts, held_out.labels, clip, processor, cfg.check_steps, cfg.check_guidance_scale, cfg.seed
    )
    print(
        f"style recognition of generated images ({len(prompts)} prompts, {cfg.check_steps} DDIM steps, guidance "
        f"{cfg.check_guidance_scale}): {rate:.3f}  (goal >= 0.7; chance {1 / 27:.3f}), "
        f"sampled in {time.perf_counter() - start:.0f} s"
    )
    print(f"seconds: CLIP {clip_seconds:.0f} (goal <= 180), Stable Diffusion {diffusion_seconds:.0f} (goal <= 480)")


if __name__ == "__main__":
    main()
