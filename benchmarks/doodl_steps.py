"""DOODL's update rules on one profile, against the untrained model on notebook 05's protocol: the
paired ambiguity rise under the guiding classifier (95% t interval), prompt alignment, seconds and UNet
evaluations per image, for each variant of the profile's guidance settings.

Why it exists: the k-means rewards are so curved that a fixed DOODL step overshoots (docs/guidance.md);
this measures fixed steps against ``doodl_backtrack`` at equal UNet cost, and adds for each classifier
the ceiling: the rise and interval if every image were as ambiguous as the classifier allows. Needs
notebook 05's untrained images and scores and notebooks 02-03's classifiers in the work root; makes
the first ``--images`` protocol images (prompt i mod 24, seed i) of every variant in memory, quantised
to 8 bits as the PNGs notebook 07 stores, and writes figures/<profile>/doodl_steps.{csv,md,tex}. Ends
with one ``ratio:`` line per classifier (the best variant's rise over the first variant's).

    CLIPCREATE_WORKDIR=/work/mini-run .venv/bin/python benchmarks/doodl_steps.py --profile mini \\
        --variant fixed:doodl_backtrack=false --variant backtrack:doodl_backtrack=true
"""

from __future__ import annotations

import argparse
import math

import pandas as pd
import torch
import yaml

from clipcreate_lib import paths, session, tables
from clipcreate_lib.evaluation import generation, results, scoring
from clipcreate_lib.guidance import runs
from clipcreate_lib.models import clip_space, loaders
from clipcreate_lib.styles import classifiers, rewards


def variant(text: str) -> tuple[str, dict]:
    """'name:key=value,key=value' -> (name, guidance settings); the values are read as YAML."""
    name, _, settings = text.partition(":")
    pairs = [item.split("=", 1) for item in settings.split(",") if item]
    return name, {key: yaml.safe_load(value) for key, value in pairs}


def guided_scores(cfg, guided, classifier, count: int, clip, processor) -> tuple[pd.DataFrame, int]:
    """Per image: index, the guiding classifier's ambiguity and the prompt alignment of the 8-bit image;
    and the classifier's number of classes."""
    style, rows = classifiers.load(*classifiers.split_model_name(classifier), cfg, clip), []
    for start in range(0, count, cfg.guidance.batch_size):
        indices = list(range(start, min(start + cfg.guidance.batch_size, count)))
        prompts = [generation.prompt(i) for i in indices]
        generators = [torch.Generator().manual_seed(i) for i in indices]
        images = guided.images(prompts, cfg.evaluation.steps, cfg.evaluation.guidance_scale, generators)
        images = (images.float() * 255).round() / 255
        with torch.inference_mode():
            embeddings = clip_space.image_embeddings(images, clip, processor)
            texts = clip_space.text_embeddings(prompts, clip, processor)
            logits = style(images, embeddings)
            ambiguity = rewards.style_ambiguity(logits)
            alignment = rewards.utility(embeddings, texts)
        rows += [
            {"index": i, f"ambiguity_{classifier}": float(a), "alignment": float(u)}
            for i, a, u in zip(indices, ambiguity, alignment)
        ]
    return pd.DataFrame(rows), logits.shape[-1]


def ceiling_row(classifier: str, classes: int, indices: pd.Series, base: pd.DataFrame) -> dict:
    """The rise if every image reached the classifier's most ambiguous value, -log(classes) (uniform
    probabilities), with its interval: no method can show more on these images."""
    column = f"ambiguity_{classifier}"
    at_ceiling = pd.DataFrame({"index": indices, column: -math.log(classes)})
    rise = results.paired_rise(at_ceiling, base, column, 0.95, "the ceiling")
    interval = {key: rise[key] for key in ("rise", "low", "high")}
    return {"classifier": classifier, "variant": "ceiling", "settings": f"every image at -log {classes}", **interval}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="mini")
    parser.add_argument("--classifiers", nargs="+", default=["kmeans-full", "kmeans-med"])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--variant", action="append", type=variant, required=True, help="name:key=value,...")
    args = parser.parse_args()
    cfg = session.start(args.profile, {})
    clip, processor = loaders.load_clip(cfg)
    pipe = loaders.load_stable_diffusion(cfg)
    base = pd.read_csv(paths.eval_dir("base") / scoring.SCORES)
    rows = []
    for classifier in args.classifiers:
        for name, settings in args.variant:
            guided = runs.guided_pipeline(cfg, pipe, "doodl", classifier, clip, processor, **settings)
            scored, classes = guided_scores(cfg, guided, classifier, args.images, clip, processor)
            rise = results.paired_rise(scored, base, f"ambiguity_{classifier}", 0.95, name)
            aligned = scored.merge(base[["index", "alignment"]], on="index", suffixes=("", "_base"))
            rows.append(
                {
                    "classifier": classifier,
                    "variant": name,
                    "settings": ", ".join(f"{k}={v}" for k, v in settings.items()) or "profile's",
                    "images": len(scored),
                    "rise": rise["rise"],
                    "low": rise["low"],
                    "high": rise["high"],
                    "alignment": scored["alignment"].mean(),
                    "alignment_base": aligned["alignment_base"].mean(),
                    **guided.cost.per_image(),
                }
            )
            print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
        rows.append({**ceiling_row(classifier, classes, scored["index"], base), "images": len(scored)})
    table = pd.DataFrame(rows)
    shown = table.assign(**{"rise [95% CI]": results.interval_cells(table)}).drop(columns=["rise", "low", "high"])
    caption = f"DOODL's update rules, {cfg.profile} profile: the paired ambiguity rise over the untrained model"
    tables.write(table, shown.round(3), paths.figures_dir() / "doodl_steps", caption, "tab:doodl-steps")
    print(shown.to_string(index=False))
    for classifier, group in table[table["variant"] != "ceiling"].groupby("classifier", sort=False):
        first = group.iloc[0]
        best = group.loc[group["rise"].idxmax()]
        print(f"ratio: {best['rise'] / first['rise']:.2f} ({classifier}: {best['variant']} over {first['variant']})")


if __name__ == "__main__":
    main()
