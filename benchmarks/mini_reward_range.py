"""How much room each style classifier leaves the untrained mini model (the README's analysis of why the
text classifier's ambiguity does not rise in the mini profile).

Samples images from the untrained miniature Stable Diffusion as DDPO does (the training prompts, eta 1,
the profile's steps and guidance) and prints, per classifier: the style ambiguity's mean, spread and
range over the samples, the same for uniform grey images of the samples' mean colours, and for the
text classifiers the mean cosine of each image with its best-matching style text.

Needs the mini profile's notebooks 01 and 02 to have run (the miniature and the classifiers' files):

    CLIPCREATE_WORKDIR=<work folder> .venv/bin/python benchmarks/mini_reward_range.py [--images 192]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from clipcreate_lib import config, session
from clipcreate_lib.ddpo import policy
from clipcreate_lib.models import clip_space, loaders, text_encoding
from clipcreate_lib.styles import classifiers, rewards


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=192, help="samples of the untrained model")
    parser.add_argument("--seed", type=int, default=1, help="seed of the sampling noise")
    args = parser.parse_args()
    cfg = session.start("mini")  # the mini profile's folders, data/mini/ under the work folder
    settings = cfg.ddpo
    clip, processor = loaders.load_clip(cfg)
    pipe = loaders.load_stable_diffusion(cfg)
    prompts = text_encoding.encode_prompts(pipe, settings.prompts)
    negative = text_encoding.encode_prompts(pipe, [""])
    generator = torch.Generator().manual_seed(args.seed)
    index = torch.arange(args.images) % len(settings.prompts)
    with torch.no_grad():
        images = torch.cat(
            [
                policy.sample(
                    pipe,
                    prompts[rows],
                    negative,
                    settings.sample_steps,
                    settings.guidance_scale,
                    settings.eta,
                    generator,
                ).images
                for rows in index.split(settings.sample_batch_size)
            ]
        )
    grey = images.mean(dim=(1, 2, 3), keepdim=True).expand_as(images).contiguous()
    embedded = {
        "samples": clip_space.image_embeddings(images, clip, processor),
        "grey": clip_space.image_embeddings(grey, clip, processor),
    }
    pixels = {"samples": images, "grey": grey}
    print(f"{args.images} samples of the untrained mini model; k-means temperature {cfg.reward.kmeans_temperature}")
    for name in config.MODEL_NAMES:
        classifier = classifiers.load(*classifiers.split_model_name(name), cfg, clip)
        print(f"{name} (ceiling {-np.log(len(classifier.labels)):.2f})")
        for kind in ("samples", "grey"):
            logits = classifier(pixels[kind], embedded[kind])
            ambiguity = rewards.style_ambiguity(logits).cpu().numpy()
            line = (
                f"  {kind:8s} ambiguity mean {ambiguity.mean():8.2f}  std {ambiguity.std():6.2f}  "
                f"min {ambiguity.min():8.2f}  max {ambiguity.max():8.2f}"
            )
            if classifier.kind == "clip":
                cosine = (logits / clip.logit_scale.exp()).max(-1).values.mean()
                line += f"  best-matching style text: cosine {cosine:.3f}"
            print(line)


if __name__ == "__main__":
    main()
