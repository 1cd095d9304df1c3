"""A small evaluation output (manifests and PNGs, as notebook 05 writes them) and a kit built from it,
shared by the user-study, survey and browser tests."""

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from clipcreate_lib.config import UserStudyConfig
from clipcreate_lib.evaluation import generation
from clipcreate_lib.study import kit

MODELS = ["disc-full", "clip-full", "kmeans-full"]


def fake_eval_dirs(root: Path, images: int = 8) -> dict[str, Path]:
    """Per model, ``images`` 8-px PNGs whose colour encodes model and index, and a manifest."""
    dirs = {}
    for m, model in enumerate(MODELS):
        out = root / "eval" / model
        (out / "images").mkdir(parents=True)
        rows = []
        for i in range(images):
            file = f"images/{i:05d}.png"
            Image.fromarray(np.full((8, 8, 3), (40 * m, 10 * i, 200), np.uint8)).save(out / file)
            rows.append({"model": model, "index": i, "prompt": generation.prompt(i), "seed": i, "file": file})
        pd.DataFrame(rows).to_csv(out / generation.MANIFEST, index=False)
        dirs[model] = out
    return dirs


def build(root: Path, **settings) -> tuple[UserStudyConfig, dict[str, Path], pd.DataFrame]:
    """Evaluation output under ``root`` and a kit of it in root/kit, key in root/key/key.csv."""
    cfg = UserStudyConfig(models=list(MODELS), image_indices=[0, 3, 6], **settings)
    dirs = fake_eval_dirs(root)
    key = kit.build_kit(cfg, dirs, root / "kit", root / "key" / "key.csv", root / "survey.sqlite")
    return cfg, dirs, key
