"""DDPO against DRaFT-K on the same reward: images sampled (and wall seconds) to reach the style ambiguity
DDPO ends at, both curves against images seen, and the final models' diversity.

Needs notebook 04's DDPO runs of the models compared (in the work root); trains (or resumes, or
reuses) their DRaFT runs into data/<profile>/draft/<model>/ with the profile's ``draft`` section and
``--set`` overrides, generates the first ``--images`` evaluation images (prompt i mod 24, seed i, the
profile's evaluation sampler) of the untrained model and of both trained ones, and writes
figures/<profile>/optimisers.{png,csv,md}. Ends with one ``ratio:`` line per model (DDPO's images to
its final ambiguity / DRaFT's).

    CLIPCREATE_WORKDIR=/tmp/mini nice -n 15 .venv/bin/python benchmarks/optimisers.py --profile mini \\
        --models clip-full kmeans-full --set draft.steps=1 --set draft.epochs=20
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch

from clipcreate_lib import artifacts, config, paths, session, tables
from clipcreate_lib.ddpo import optimisers, records, runs, weights
from clipcreate_lib.evaluation import generation, scoring
from clipcreate_lib.figures import profile_note
from clipcreate_lib.models import clip_space, loaders
from clipcreate_lib.styles import classifiers, rewards


def run_logs(folder) -> tuple[pd.DataFrame, pd.DataFrame]:
    if not (folder / records.METRICS).exists():
        raise SystemExit(f"No run in {folder}: run notebook 04_ddpo for this model first.")
    return pd.read_csv(folder / records.METRICS), pd.read_csv(folder / records.TIMINGS)


def final_images(cfg, name: str, method: str, count: int, clip, processor) -> dict:
    """Diversity, own-classifier ambiguity and alignment of ``count`` evaluation images of a model."""
    pipe = loaders.load_stable_diffusion(cfg)
    folder_model = name if method != "base" else "untrained"  # one set of untrained images for every model
    made_from = {"model": folder_model, "method": method, "profile": cfg.profile}
    if method != "base":
        folder = (paths.ddpo_dir if method == "ddpo" else paths.draft_dir)(name)
        weights.load_trained(pipe, folder)
        made_from.update(weights.weights_record(folder, cfg.profile))
    out_dir = paths.optimisers_images_dir(method, folder_model)
    evaluation = dataclasses.replace(cfg.evaluation, images=count)
    manifest = generation.generate(pipe, evaluation, out_dir, made_from, progress=False)
    images = generation.load_images(out_dir, manifest)
    classifier = classifiers.load(*classifiers.split_model_name(name), cfg, clip)
    texts = clip_space.text_embeddings(list(manifest["prompt"]), clip, processor)
    with torch.inference_mode():
        embeddings = clip_space.image_embeddings(images, clip, processor)
        ambiguity = rewards.style_ambiguity(classifier(images, embeddings))
        alignment = rewards.utility(embeddings, texts)
    return {
        "eval_ambiguity": float(ambiguity.mean()),
        "diversity": scoring.diversity(embeddings),
        "alignment": float(alignment.mean()),
    }


def epoch_seconds(cfg, name: str, clip, processor, repeats: int) -> dict[str, float]:
    """Median seconds of one epoch of each optimiser from the untrained model, in this process and
    alternated (the runs' own seconds come from whatever else shared the machine at the time)."""
    one = dataclasses.replace(
        cfg, ddpo=dataclasses.replace(cfg.ddpo, epochs=1), draft=dataclasses.replace(cfg.draft, epochs=1)
    )
    seconds = {"ddpo": [], "draft": []}
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(repeats):
            for method in seconds:
                out_dir = Path(scratch) / f"{method}{repeat}"
                runs.train(one, name, clip, processor, progress=False, out_dir=out_dir, draft=method == "draft")
                seconds[method].append(float(pd.read_csv(out_dir / records.TIMINGS)["seconds"].iloc[0]))
    return {method: float(pd.Series(values).median()) for method, values in seconds.items()}


def plot(curves: dict[str, dict[str, pd.DataFrame]], targets: dict[str, float], profile: str):
    """Per model, ambiguity (mean +- std of each epoch's samples) against images seen and against seconds."""
    fig, axes = plt.subplots(2, len(curves), figsize=(4.6 * len(curves), 6.2), squeeze=False)
    for column, (name, by_optimiser) in enumerate(curves.items()):
        for row, x in enumerate(("images", "seconds")):
            ax = axes[row, column]
            for optimiser, points in by_optimiser.items():
                mean, std = points["ambiguity_mean"], points["ambiguity_std"]
                ax.plot(points[x], mean, marker=".", label=optimiser)
                ax.fill_between(points[x], mean - std, mean + std, alpha=0.12)
            ax.axhline(targets[name], color="grey", linestyle="--", linewidth=0.8, label="DDPO's final level")
            ax.set_xlabel("images sampled" if x == "images" else "wall seconds of training", fontsize=8)
            ax.set_ylabel("style ambiguity (training samples)", fontsize=8)
            ax.set_title(name, fontsize=9)
            ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"DDPO and DRaFT on the same reward\n{profile_note(profile)}", fontsize=9)
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="mini")
    parser.add_argument("--models", nargs="+", default=["clip-full", "kmeans-full"])
    parser.add_argument("--set", action="append", default=[], help="section.key=value, over the profile")
    parser.add_argument("--images", type=int, default=96, help="evaluation images per model for diversity")
    parser.add_argument("--timing-repeats", type=int, default=1, help="epochs of each optimiser timed side by side")
    args = parser.parse_args()
    overrides = config.parse_sets(args.set)
    overrides["draft"] = {**overrides.get("draft", {}), "models": args.models}
    cfg = session.start(args.profile, overrides)
    for name in args.models:
        run_logs(paths.ddpo_dir(name))  # refuse before training anything
    runs.train_all(cfg, args.models, draft=True)
    clip, processor = loaders.load_clip(cfg)
    per_epoch, label = cfg.ddpo.sample_batches * cfg.ddpo.sample_batch_size, f"DRaFT-{cfg.draft.steps}"
    rows, curves, targets = [], {}, {}
    base = {name: final_images(cfg, name, "base", args.images, clip, processor) for name in args.models}
    timed = epoch_seconds(cfg, args.models[0], clip, processor, args.timing_repeats)
    print(
        f"seconds per epoch, timed side by side on {args.models[0]}: "
        f"DDPO {timed['ddpo']:.1f}, {label} {timed['draft']:.1f}"
    )
    for name in args.models:
        logs = {"DDPO": run_logs(paths.ddpo_dir(name)), label: run_logs(paths.draft_dir(name))}
        table = optimisers.comparison(logs, per_epoch, runs.rise_window(len(logs["DDPO"][0])))
        finals = [final_images(cfg, name, method, args.images, clip, processor) for method in ("ddpo", "draft")]
        table["epoch_seconds"] = [timed["ddpo"], timed["draft"]]  # timed side by side, not the runs' own
        table["compute_to_target"] = table["epochs_to_target"] * table["epoch_seconds"]
        table["compute_speedup"] = table["compute_to_target"].iloc[0] / table["compute_to_target"]
        rows += [{"model": name, **row, **final} for row, final in zip(table.to_dict("records"), finals)]
        rows.append({"model": name, "optimiser": "untrained", **base[name]})
        curves[name] = {o: optimisers.curve(m, t, per_epoch) for o, (m, t) in logs.items()}
        targets[name] = float(table["target"].iloc[0])
        print(f"{name}: ratio: {table['sample_speedup'].iloc[1]:.2f} (DDPO's images to target / {label}'s)")
    numbers = pd.DataFrame(rows)
    write_outputs(numbers, curves, targets, cfg, args.images)


def write_outputs(numbers: pd.DataFrame, curves, targets, cfg, images: int) -> None:
    display = numbers.copy()
    for column in ("final_ambiguity", "target", "eval_ambiguity", "diversity", "alignment"):
        display[column] = display[column].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    for column in ("seconds", "seconds_to_target", "sample_speedup", "epoch_seconds", "compute_to_target"):
        display[column] = display[column].map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
    display["compute_speedup"] = display["compute_speedup"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    for column in ("epochs", "images", "epochs_to_target", "images_to_target"):
        display[column] = display[column].map(lambda v: "" if pd.isna(v) else str(int(v)))
    caption = (
        "DDPO against DRaFT on the same reward, per model: training images and wall seconds, the final level "
        "(mean epoch ambiguity of a run's last w epochs, w a quarter of DDPO's epochs, at least 2), "
        "the first epoch, image count and seconds "
        "at which each run's epoch-mean ambiguity reached DDPO's final level (target), DDPO's images to target "
        "over each run's (sample_speedup), the seconds of one epoch of each optimiser timed side by side in this "
        "benchmark's process (epoch_seconds; the runs' own seconds depend on what else shared the machine), "
        "epochs to target times that (compute_to_target) and DDPO's over each run's (compute_speedup), "
        f"and on {images} evaluation images (prompt i mod 24, seed i, DDIM eta "
        f"{cfg.evaluation.eta}, {cfg.evaluation.steps} steps, guidance {cfg.evaluation.guidance_scale}) the "
        "own-classifier ambiguity, diversity (mean pairwise CLIP cosine distance) and prompt alignment. "
        f"{profile_note(cfg.profile)}"
    )
    files = tables.write(numbers, display, paths.optimisers_stem(), caption, "tab:optimisers")
    files.append(artifacts.save_figure(paths.optimisers_plot(), plot(curves, targets, cfg.profile), dpi=150))
    print(display.to_string(index=False))
    print("outputs:", *files)


if __name__ == "__main__":
    main()
