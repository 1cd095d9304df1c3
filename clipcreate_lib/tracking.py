"""Training runs to watch in TensorBoard, through accelerate's tracker API: each epoch's row of a run's
log as scalars and, every so many epochs, a grid of its samples captioned with their prompt (or
style) and score; ``tensorboard --logdir <run folder>`` shows them while the run trains.

The CSV beside a run stays its record. These logs are a view of it, written after the checkpoint of
each epoch: a kill can leave an epoch out of them, never put it in twice (a resumed run goes on from
the epoch after its checkpoint). Only the main process of a launch writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from accelerate.tracking import TensorBoardTracker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FOLDER = "tensorboard"  # inside the run's folder


class Tracker:
    """TensorBoard logs in ``run_dir/tensorboard/`` when ``on`` and ``main``; else it does nothing."""

    def __init__(self, run_dir: Path, on: bool, main: bool, settings: dict | None = None):
        self.board = None
        if on and main:
            self.board = TensorBoardTracker(FOLDER, run_dir)
            self.board.start()
            if settings:
                lines = "\n".join(f"    {key}: {value}" for key, value in settings.items())
                self.board.writer.add_text("settings", lines)

    def scalars(self, row: dict, step: int) -> None:
        """Every number of ``row`` (a log's row) as a scalar at ``step``."""
        if self.board is not None:
            numbers = {k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and k != "epoch"}
            self.board.log(numbers, step=step)

    def samples(self, tag: str, images: np.ndarray, captions: Sequence[str], step: int) -> None:
        """``images`` (N, H, W, 3) in [0, 1] as one captioned grid at ``step``."""
        if self.board is not None:
            self.board.log_images({tag: captioned_grid(images, captions)[None]}, step=step, dataformats="NHWC")
            self.board.writer.flush()

    def close(self) -> None:
        if self.board is not None:
            self.board.finish()


def captioned_grid(images: np.ndarray, captions: Sequence[str], per_row: int = 4) -> np.ndarray:
    """The images in rows of ``per_row``, each under its caption, as one RGB array (H, W, 3) in [0, 1]."""
    rows = -(-len(images) // per_row)
    figure = Figure(figsize=(2.2 * per_row, 2.5 * rows), dpi=100)
    FigureCanvasAgg(figure)
    for i, axis in enumerate(figure.subplots(rows, per_row, squeeze=False).flat):
        axis.axis("off")
        if i < len(images):
            axis.imshow(np.clip(images[i], 0, 1), interpolation="nearest")
            axis.set_title(captions[i], fontsize=8)
    figure.tight_layout()
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].astype(np.float32) / 255
