"""The style-bias audit (seed 002's question, turned on our own models): toward which styles does a
set of images lean, under each of the six classifiers?

Each image gets its most probable style (argmax) under ``text``, ``kmeans`` and ``disc`` for both
label sets; the counts of an image set are compared with a reference, the training data's style
frequencies (for k-means, the share of the data's images nearest each centroid) or uniform, by the
statistics of ``bias_stats``; and, when one is given, with a baseline image set (a DDPO model
against the untrained ``base``). One row per image set and classifier goes to
``figures/<profile>/style_bias.{csv,md,tex}``, every style's share to ``style_bias_shares.csv``, and
the heatmap ``style_bias.png`` is drawn from the shares.

Adding image sets from another notebook (issue 27's textual inversion, say)::

    auditor = audit.Auditor.load(cfg, clip, processor)
    base = auditor.audit("eval: base", base_images)            # any images (N, 3, H, W) in [0, 1]
    mine = auditor.audit("tokens: painting*", images, baseline=base)
    audit.record([base, mine], source="09_style_tokens", profile=cfg.profile)

``record`` replaces the rows an earlier run of the same ``source`` wrote and keeps every other
source's, so notebooks 08 and 09 can each rerun in any order; image-set names should say where the
images come from, as they share one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from clipcreate_lib import artifacts, config, figures, paths, tables
from clipcreate_lib.data import label_sets
from clipcreate_lib.evaluation import generation
from clipcreate_lib.figures import search_plots
from clipcreate_lib.models import clip_space
from clipcreate_lib.paths import search_files
from clipcreate_lib.search import bias_stats
from clipcreate_lib.styles import classifiers
from clipcreate_lib.styles.classifiers import StyleClassifier

MONTE_CARLO_DRAWS = 10_000


@dataclass
class AuditedSet:
    """One image set's style counts under every classifier, its table rows and its share rows."""

    name: str
    counts: dict[str, np.ndarray]
    rows: pd.DataFrame
    shares: pd.DataFrame


@dataclass
class Auditor:
    """The six classifiers with their reference shares, and the CLIP that embeds the images."""

    classifiers: dict[str, StyleClassifier]
    references: dict[str, np.ndarray]
    reference: str  # "labels" or "uniform"
    clip: torch.nn.Module
    processor: object
    batch_size: int = 64
    seed: int = 0

    @classmethod
    def load(cls, cfg: config.Config, clip, processor) -> Auditor:
        """Every classifier of ``config.MODEL_NAMES`` and its reference (``cfg.search.audit_reference``)."""
        sets = label_sets.load_label_sets(cfg.profile)
        found, refs = {}, {}
        for name in config.MODEL_NAMES:
            kind, dataset = classifiers.split_model_name(name)
            found[name] = classifiers.load(kind, dataset, cfg, clip)
            counts = _data_counts(kind, dataset, found[name], sets[dataset])
            uniform = cfg.search.audit_reference == "uniform"
            refs[name] = np.full(len(counts), 1 / len(counts)) if uniform else bias_stats.shares_from_counts(counts)
        return cls(found, refs, cfg.search.audit_reference, clip, processor, seed=cfg.search.seed)

    @torch.inference_mode()
    def predict(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        """Each image's most probable style index under every classifier."""
        out: dict[str, list] = {name: [] for name in self.classifiers}
        for start in range(0, len(images), self.batch_size):
            x = images[start : start + self.batch_size]
            emb = clip_space.image_embeddings(x, self.clip, self.processor)
            for name, classifier in self.classifiers.items():
                out[name].append(classifier(x, emb).argmax(dim=1).cpu().numpy())
        return {name: np.concatenate(parts) for name, parts in out.items()}

    def audit(self, name: str, images: torch.Tensor, baseline: AuditedSet | None = None) -> AuditedSet:
        """The audit of the image set ``name`` (N, 3, H, W in [0, 1]), against a baseline set if given."""
        if len(images) == 0:
            raise ValueError(f"The image set '{name}' is empty; there is nothing to audit.")
        predicted = self.predict(images)
        counts = {c: np.bincount(p, minlength=len(self.references[c])) for c, p in predicted.items()}
        rows, shares = [], []
        for c, observed in counts.items():
            base = None if baseline is None else (baseline.name, baseline.counts[c])
            rows.append(self._row(name, c, observed, base))
            labels = self.classifiers[c].labels
            share = observed / observed.sum()
            shares += [
                dict(image_set=name, classifier=c, style=s, count=int(o), share=v, reference_share=r)
                for s, o, v, r in zip(labels, observed, share, self.references[c])
            ]
        return AuditedSet(name, counts, pd.DataFrame(rows), pd.DataFrame(shares))

    def _row(self, name: str, classifier: str, observed: np.ndarray, baseline: tuple | None) -> dict:
        labels, ref = self.classifiers[classifier].labels, self.references[classifier]
        n, share = int(observed.sum()), observed / observed.sum()
        g, dof, p = bias_stats.g_test(observed, ref)
        resid = bias_stats.residuals(observed, ref)
        over, under, top = int(np.argmax(resid)), int(np.argmin(resid)), int(np.argmax(observed))
        return {
            "image_set": name,
            "classifier": classifier,
            "reference": self.reference,
            "n": n,
            "styles": len(labels),
            "entropy": bias_stats.entropy(observed),
            "max_entropy": float(np.log(len(labels))),
            "g": g,
            "dof": dof,
            "p_value": p,
            "p_value_mc": bias_stats.monte_carlo_p(observed, ref, MONTE_CARLO_DRAWS, self.seed),
            "top_style": labels[top],
            "top_share": float(share[top]),
            "over_style": labels[over],
            "over_ratio": float(share[over] / ref[over]),  # its share over its reference share
            "under_style": labels[under],
            "under_ratio": float(share[under] / ref[under]),
            **_drift(observed, baseline, labels),
        }


def _drift(observed: np.ndarray, baseline: tuple | None, labels: list[str]) -> dict:
    """Against a baseline set: its name, the homogeneity p-value and the style whose share grew most."""
    if baseline is None:
        return dict(baseline="", baseline_p_value=np.nan, drift_style="", drift_change=np.nan)
    name, counts = baseline
    change = observed / observed.sum() - counts / counts.sum()
    _, p = bias_stats.homogeneity(observed, counts)
    grew = int(np.argmax(change))
    return dict(baseline=name, baseline_p_value=p, drift_style=labels[grew], drift_change=float(change[grew]))


def _data_counts(kind: str, dataset: str, classifier: StyleClassifier, ds) -> np.ndarray:
    """The training data's count per class: its labels, or for k-means its images' nearest centroids."""
    if kind != "kmeans":
        return np.bincount(np.asarray(ds["style"]), minlength=len(classifier.labels))
    emb = torch.from_numpy(np.load(paths.embeddings_file(dataset)))
    with torch.inference_mode():
        nearest = classifier(torch.empty(0), emb).argmax(dim=1).cpu().numpy()
    return np.bincount(nearest, minlength=len(classifier.labels))


def evaluation_images(model: str) -> torch.Tensor:
    """Notebook 05's evaluation images of ``model`` ('base' or a DDPO model), all its manifest holds."""
    manifest_file = paths.eval_dir(model) / generation.MANIFEST
    artifacts.require_made_from(manifest_file, "05_evaluation")
    return generation.load_images(paths.eval_dir(model), pd.read_csv(manifest_file))


def _merge(path: Path, new: pd.DataFrame, source: str) -> pd.DataFrame:
    """``path``'s table without ``source``'s old rows, with ``new`` in their place (sources in order)."""
    new = new.assign(source=source)
    old = _read(path) if Path(path).exists() else new.iloc[:0]
    kept = old[old["source"] != source] if "source" in old else old.iloc[:0]
    merged = pd.concat([kept, new], ignore_index=True)
    return merged.sort_values("source", kind="stable").reset_index(drop=True)


def record(audited: list[AuditedSet], source: str, profile: str) -> list[Path]:
    """Write ``audited`` as ``source``'s rows of the audit tables (others' kept), and redraw the heatmap."""
    stem = search_files.style_bias_stem()
    rows = _merge(stem.with_suffix(".csv"), pd.concat([a.rows for a in audited]), source)
    shares = _merge(search_files.style_bias_shares_file(), pd.concat([a.shares for a in audited]), source)
    caption = (
        "Style-bias audit: per image set and classifier, the predicted styles' entropy (nats), the G-test "
        "against the reference (asymptotic and Monte Carlo p), the most predicted style and its share, the most "
        f"over- and under-represented styles, and the drift from a baseline set. {figures.profile_note(profile)}."
    )
    files = tables.write(rows, display(rows), stem, caption, "tab:style_bias")
    files.append(artifacts.save_csv(search_files.style_bias_shares_file(), shares))
    files.append(
        artifacts.save_figure(search_files.style_bias_plot(), search_plots.style_bias(shares, profile), dpi=120)
    )
    return files


def load_rows() -> pd.DataFrame:
    """The audit table as ``record`` last wrote it, every source's rows (no baseline: empty strings)."""
    return _read(search_files.style_bias_stem().with_suffix(".csv"))


def _read(path: Path) -> pd.DataFrame:
    """An audit table as written, its text columns text (no baseline: "", not NaN)."""
    text = {"baseline": object, "drift_style": object}
    return pd.read_csv(path, dtype=text).fillna({k: "" for k in text})


def display(rows: pd.DataFrame) -> pd.DataFrame:
    """The audit table as shown in Markdown and LaTeX."""
    drift = [f"{s} ({c:+.2f}, p={p:.2g})" if pd.notna(c) else "" for s, c, p in zip(*(rows[k] for k in DRIFT))]
    return pd.DataFrame(
        {
            "image set": rows["image_set"],
            "classifier": rows["classifier"],
            "n": rows["n"],
            "entropy / max": [f"{e:.2f} / {m:.2f}" for e, m in zip(rows["entropy"], rows["max_entropy"])],
            "p (G-test, MC)": [f"{p:.2g}, {q:.2g}" for p, q in zip(rows["p_value"], rows["p_value_mc"])],
            "top style (share)": [f"{s} ({v:.2f})" for s, v in zip(rows["top_style"], rows["top_share"])],
            "most over / under": [f"{o} / {u}" for o, u in zip(rows["over_style"], rows["under_style"])],
            "drift from baseline": drift,
        }
    )


DRIFT = ("drift_style", "drift_change", "baseline_p_value")
