"""DDPO and DRaFT on one reward, compared from their runs' logs: the style ambiguity each reaches
against the images it has sampled, and how many images (and seconds) each needs to reach the
ambiguity DDPO ends at.

DDPO's end is the mean of its last ``window`` epochs' ambiguity (one epoch's mean over 32 images
moves by about half a point between epochs on mini); a run reaches it at the first epoch whose own
mean is at or above it, the same rule for both optimisers. Images seen at epoch e are e times the
images of an epoch (every epoch samples as many for both); seconds are the run's summed epoch times.
"""

from __future__ import annotations

import math

import pandas as pd


def curve(metrics: pd.DataFrame, timings: pd.DataFrame, images_per_epoch: int) -> pd.DataFrame:
    """Per epoch: images sampled so far, seconds so far, and the epoch's mean and std ambiguity."""
    return pd.DataFrame(
        {
            "epoch": metrics["epoch"].to_numpy(),
            "images": metrics["epoch"].to_numpy() * images_per_epoch,
            "seconds": timings["seconds"].cumsum().to_numpy(),
            "ambiguity_mean": metrics["ambiguity_mean"].to_numpy(),
            "ambiguity_std": metrics["ambiguity_std"].to_numpy(),
        }
    )


def final_level(metrics: pd.DataFrame, window: int) -> float:
    """The mean ambiguity of a run's last ``window`` epochs."""
    return float(metrics["ambiguity_mean"].iloc[-window:].mean())


def to_target(points: pd.DataFrame, target: float) -> dict:
    """The epoch, images and seconds at the first epoch of ``points`` (a ``curve``) whose mean ambiguity
    is at least ``target``; NaN for all three when no epoch reaches it."""
    reached = points[points["ambiguity_mean"] >= target]
    if reached.empty:
        return {"epochs_to_target": math.nan, "images_to_target": math.nan, "seconds_to_target": math.nan}
    first = reached.iloc[0]
    return {
        "epochs_to_target": int(first["epoch"]),
        "images_to_target": int(first["images"]),
        "seconds_to_target": float(first["seconds"]),
    }


def comparison(runs: dict[str, tuple[pd.DataFrame, pd.DataFrame]], images_per_epoch: int, window: int) -> pd.DataFrame:
    """One row per optimiser of ``runs`` (name -> (metrics, timings); "DDPO" first, whose final level is
    the target): epochs and images sampled, its own final level, the target and the images, seconds
    and epochs it took to reach it, and DDPO's images to target over its own (the sample speed-up)."""
    target = final_level(runs["DDPO"][0], window)
    rows = []
    for name, (metrics, timings) in runs.items():
        points = curve(metrics, timings, images_per_epoch)
        rows.append(
            {
                "optimiser": name,
                "epochs": len(points),
                "images": int(points["images"].iloc[-1]),
                "seconds": float(points["seconds"].iloc[-1]),
                "final_ambiguity": final_level(metrics, window),
                "target": target,
                **to_target(points, target),
            }
        )
    table = pd.DataFrame(rows)
    table["sample_speedup"] = table["images_to_target"].iloc[0] / table["images_to_target"]
    return table
