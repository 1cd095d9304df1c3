"""The evaluation protocol of PAPER.md §3: one fixed set of (prompt, seed) pairs for every model,
generated with one scheduler, scored by AVA and ImageReward (Table I) and by automated creativity
proxies (style ambiguity under every classifier, diversity, prompt alignment).

Image i uses prompt i mod 24 and seed i; each image has its own generator, so an image does not
depend on the batch it was made in, a partial set can be completed later, and every model sees the
same starting noise. A set is stored as PNGs with a manifest whose provenance says what made it;
a set made with other settings or other weights is discarded (with a message), never mixed in.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import torch
from diffusers import DDIMScheduler, StableDiffusionPipeline
from PIL import Image
from tqdm.auto import tqdm

from clipcreate_lib import artifacts, clip_space, ddpo
from clipcreate_lib.config import EvaluationConfig
from clipcreate_lib.data import images_as_tensor
from clipcreate_lib.rewards import style_ambiguity, utility
from clipcreate_lib.tables import mean_std, t_half_width

MEDIUMS = ("painting", "art", "drawing")
SUBJECTS = (" of a man ", " of a woman ", " of nature ", " of an animal ", " of a city", " ", " of a building ",
            " of a child ")
PROMPTS = [medium + subject for medium in MEDIUMS for subject in SUBJECTS]  # the paper's 24, spaces and all
MANIFEST = "manifest.csv"
SCORES = "scores.csv"

# The paper's Table I (AVA, ImageReward: mean, std); it has no row for the untrained model.
PAPER_TABLE1 = pd.DataFrame(
    [("disc-full", 4.96, 0.5, -1.26, 1.04), ("clip-full", 4.99, 0.46, -1.59, 0.63),
     ("kmeans-full", 5.71, 0.42, 0.03, 1.35), ("disc-med", 5.12, 0.4, -1.55, 0.59),
     ("clip-med", 5.44, 0.41, 0.91, 0.89), ("kmeans-med", 5.09, 0.67, 0.77, 0.87)],
    columns=["model", "ava_mean", "ava_std", "ir_mean", "ir_std"])


def prompt(index: int) -> str:
    return PROMPTS[index % len(PROMPTS)]


# --- generation --------------------------------------------------------------------------------
def weights_record(ddpo_dir: Path, profile: str) -> dict:
    """What a trained model is, for the provenance of its images: epochs and a digest of its weights."""
    trained_file = Path(ddpo_dir) / ddpo.TRAINED
    if not trained_file.exists():
        raise FileNotFoundError(f"{ddpo_dir} holds no trained model; run notebook 04_ddpo for it first.")
    trained = json.loads(trained_file.read_text())
    if trained.get("profile") != profile:
        raise RuntimeError(f"{ddpo_dir} was trained for profile '{trained.get('profile')}', not '{profile}'; "
                           f"rerun notebook 04_ddpo.")
    digest = hashlib.sha256()
    for file in ddpo.trained_weights(ddpo_dir)[1]:
        digest.update(file.name.encode() + file.read_bytes())
    return {"epochs": trained["epochs"], "weights_sha256": digest.hexdigest()}


def generate(pipe: StableDiffusionPipeline, cfg: EvaluationConfig, out_dir: Path, made_from: dict,
             progress: bool = True) -> pd.DataFrame:
    """Images 0 .. cfg.images - 1 of one model into ``out_dir`` (PNGs and a manifest); returns the
    manifest (model, index, prompt, seed, file). Images already there with the same provenance are
    reused, missing ones made; a set with other provenance is deleted first."""
    if not isinstance(pipe.scheduler, DDIMScheduler):
        raise TypeError(f"Evaluation uses DDIM for every model, but the pipeline has {type(pipe.scheduler).__name__}.")
    out_dir = Path(out_dir)
    manifest_file = out_dir / MANIFEST
    made_from = {**made_from, "steps": cfg.steps, "guidance_scale": cfg.guidance_scale, "eta": cfg.eta,
                 "scheduler": "DDIMScheduler", "prompts": PROMPTS}
    meta = artifacts.provenance_file(manifest_file)
    if meta.exists():
        changed = artifacts.changed_keys(artifacts.read_made_from(manifest_file), made_from)
        if changed:
            print(f"{out_dir}: its images were made with other {', '.join(changed)}; making them again.")
            shutil.rmtree(out_dir / "images", ignore_errors=True)
            manifest_file.unlink(missing_ok=True)
    artifacts.mark_made_from(manifest_file, made_from)
    rows = pd.read_csv(manifest_file).to_dict("records") if manifest_file.exists() else []
    rows = [r for r in rows if (out_dir / r["file"]).exists()]
    done = {r["index"] for r in rows}
    todo = [i for i in range(cfg.images) if i not in done]
    batches = [todo[s:s + cfg.batch_size] for s in range(0, len(todo), cfg.batch_size)]
    model = made_from.get("model", out_dir.name)
    for batch in tqdm(batches, desc=f"images of {model}", unit="batch",
                      disable=not progress or not batches):
        images = pipe(prompt=[prompt(i) for i in batch], num_inference_steps=cfg.steps,
                      guidance_scale=cfg.guidance_scale, eta=cfg.eta, output_type="pil",
                      generator=[torch.Generator().manual_seed(i) for i in batch]).images
        for i, image in zip(batch, images):
            file = f"images/{i:05d}.png"
            artifacts.atomic_write(out_dir / file, lambda f, im=image: im.save(f, format="PNG"))
            rows.append({"model": model, "index": i, "prompt": prompt(i),
                         "seed": i, "file": file})
        artifacts.save_csv(manifest_file, pd.DataFrame(rows).sort_values("index"))
    manifest = pd.DataFrame(rows).sort_values("index")
    return manifest[manifest["index"] < cfg.images].reset_index(drop=True)


def load_images(out_dir: Path, manifest: pd.DataFrame) -> torch.Tensor:
    """The manifest's images as a float tensor (N, 3, H, W) in [0, 1]."""
    return images_as_tensor([Image.open(Path(out_dir) / f) for f in manifest["file"]])


# --- scoring -----------------------------------------------------------------------------------
def score(images: torch.Tensor, prompts: Sequence[str], clip, processor,
          aesthetic: Callable[[torch.Tensor], torch.Tensor],
          image_reward: Callable[[torch.Tensor, Sequence[str]], torch.Tensor],
          classifiers: dict, batch_size: int) -> tuple[pd.DataFrame, torch.Tensor]:
    """Per image: AVA (``ava``), ImageReward (``ir``), CLIP prompt alignment (``alignment``) and style
    ambiguity under each classifier (``ambiguity_<name>``); also the CLIP image embeddings (N, D)."""
    columns: dict[str, list[torch.Tensor]] = {}
    embeddings = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x, p = images[start:start + batch_size], list(prompts[start:start + batch_size])
            emb = clip_space.image_embeddings(x, clip, processor)
            embeddings.append(emb.cpu())
            terms = {"ava": aesthetic(emb.float()),
                     "ir": image_reward(x, p),
                     "alignment": utility(emb, clip_space.text_embeddings(p, clip, processor))}
            for name, classifier in classifiers.items():
                terms[f"ambiguity_{name}"] = style_ambiguity(classifier(x, emb))
            for key, value in terms.items():
                columns.setdefault(key, []).append(value.float().cpu())
    return pd.DataFrame({k: torch.cat(v).numpy() for k, v in columns.items()}), torch.cat(embeddings)


def diversity(embeddings: torch.Tensor) -> float:
    """Mean cosine distance 1 - cos(e_i, e_j) over all pairs i < j of L2-normalised embeddings."""
    e = torch.nn.functional.normalize(embeddings.double(), dim=-1)
    n = len(e)
    if n < 2:
        raise ValueError("Diversity needs at least two images.")
    cos = e @ e.T
    return float(1 - (cos.sum() - cos.diagonal().sum()) / (n * (n - 1)))


# --- tables ------------------------------------------------------------------------------------
def table1(scores: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Table I: mean and sample std of AVA and ImageReward per model, in the given order."""
    return pd.DataFrame([{"model": name, "ava_mean": s["ava"].mean(), "ava_std": s["ava"].std(),
                          "ir_mean": s["ir"].mean(), "ir_std": s["ir"].std()} for name, s in scores.items()])


def table1_display(numbers: pd.DataFrame) -> pd.DataFrame:
    """Ours beside the paper's, as 'mean (std)' strings (the paper has no row for the base model)."""
    paper = PAPER_TABLE1.set_index("model").reindex(numbers["model"])  # NaN where the paper has no row
    return pd.DataFrame([{"model": row.model, "AVA (ours)": mean_std(row.ava_mean, row.ava_std),
                          "AVA (paper)": mean_std(ref.ava_mean, ref.ava_std),
                          "IR (ours)": mean_std(row.ir_mean, row.ir_std),
                          "IR (paper)": mean_std(ref.ir_mean, ref.ir_std)}
                         for row, ref in zip(numbers.itertuples(index=False), paper.itertuples(index=False))])


def proxies(scores: dict[str, pd.DataFrame], embeddings: dict[str, torch.Tensor]) -> pd.DataFrame:
    """Automated creativity proxies per model: mean style ambiguity under each classifier (higher =
    more ambiguous; at most -log N), diversity and mean prompt alignment."""
    rows = []
    for name, s in scores.items():
        row = {"model": name}
        row.update({c: s[c].mean() for c in s.columns if c.startswith("ambiguity_")})
        row.update(diversity=diversity(embeddings[name]), alignment_mean=s["alignment"].mean(),
                   alignment_std=s["alignment"].std())
        rows.append(row)
    return pd.DataFrame(rows)


def ambiguity_rise(scored: dict[str, pd.DataFrame], confidence: float = 0.95) -> pd.DataFrame:
    """How far training moved each model's style ambiguity under its own classifier: the model's image i
    against the untrained ``base``'s image i (same prompt, same seed), the mean paired difference with
    a Student t interval over images. ``scored`` maps a model to its per-image ``index`` and
    ``ambiguity_<model>`` columns (``base`` holds every classifier's); other models are skipped."""
    if "base" not in scored:
        raise ValueError("The ambiguity rise compares each model with 'base'; add it to evaluation.models.")
    base, rows = scored["base"], []
    for name, model in scored.items():
        column = f"ambiguity_{name}"
        if name == "base" or column not in model:
            continue
        pairs = model[["index", column]].merge(base[["index", column]], on="index", suffixes=("", "_base"))
        if len(pairs) < 2:
            raise ValueError(f"{name} shares {len(pairs)} image indices with base; the rise needs at least 2.")
        rise = pairs[column] - pairs[f"{column}_base"]
        half = t_half_width(rise, confidence)
        rows.append({"model": name, "base": pairs[f"{column}_base"].mean(), "trained": pairs[column].mean(),
                     "rise": rise.mean(), "low": rise.mean() - half, "high": rise.mean() + half,
                     "images": len(rise)})
    return pd.DataFrame(rows)


def ambiguity_rise_display(numbers: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"model": numbers["model"], "base": numbers["base"].map(lambda v: f"{v:.3f}"),
                         "trained": numbers["trained"].map(lambda v: f"{v:.3f}"),
                         "rise [95% CI]": [f"{r:.3f} [{lo:.3f}, {hi:.3f}]" for r, lo, hi
                                           in zip(numbers["rise"], numbers["low"], numbers["high"])],
                         "images": numbers["images"]})


def proxies_display(numbers: pd.DataFrame) -> pd.DataFrame:
    display = pd.DataFrame({"model": numbers["model"]})
    for column in numbers.columns:
        if column.startswith("ambiguity_"):
            display[f"amb. {column.removeprefix('ambiguity_')}"] = numbers[column].map(lambda v: f"{v:.3f}")
    display["diversity"] = numbers["diversity"].map(lambda v: f"{v:.3f}")
    display["alignment"] = [mean_std(m, s, 3) for m, s in zip(numbers["alignment_mean"], numbers["alignment_std"])]
    return display
