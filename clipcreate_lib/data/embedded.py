"""The embedded stand-in for WikiArt: a small deterministic dataset for the same 27 style names.

Each style has its own palette, texture and stroke pattern and every image a BLIP-like caption, so
the mediums selection, the centroids and the CAN run unchanged on a laptop with no network.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from PIL import Image

from clipcreate_lib.config import DataConfig
from clipcreate_lib.data.wikiart import WIKIART_STYLES, Record

# The embedded dataset's look: 9 textures x 3 palette families = 27 distinct styles.
TEXTURES = ("stripes", "lines", "waves", "checks", "dots", "rings", "blots", "strokes", "gradient")
COLORS = {
    "red": (0.85, 0.1, 0.1),
    "orange": (1.0, 0.55, 0.0),
    "yellow": (0.95, 0.9, 0.1),
    "green": (0.1, 0.7, 0.2),
    "blue": (0.1, 0.25, 0.9),
    "purple": (0.55, 0.15, 0.7),
    "white": (0.97, 0.97, 0.97),
    "black": (0.05, 0.05, 0.05),
}
SUBJECTS = ("circle", "square", "man", "woman", "animal", "building")
OTHER_MEDIUMS = ("photo", "picture", "print", "image")


def iter_embedded(cfg: DataConfig) -> Iterator[Record]:
    """The embedded stand-in for WikiArt: ``images_per_style`` images for each style, same every run."""
    for index, (s, style, j) in enumerate(_embedded_slots(cfg)):
        pixels, _ = _draw(s, cfg.image_size, np.random.default_rng([cfg.seed, s, j]))
        yield Record(index, Image.fromarray(pixels), style)


def embedded_captions(cfg: DataConfig) -> list[str]:
    """BLIP-like captions for ``iter_embedded``'s images, in the same order.

    Each style names a medium word (painting, drawing, art) in its own fraction of captions, and some
    captions say "by an artist", which only the reference code's substring match counts as "art".
    """
    rates = _medium_rates(len(WIKIART_STYLES), cfg.seed)
    captions = []
    for s, _, j in _embedded_slots(cfg):
        _, color = _draw(s, cfg.image_size, np.random.default_rng([cfg.seed, s, j]))
        rng = np.random.default_rng([cfg.seed, s, j, 1])
        medium = rng.choice(cfg.medium_words) if rng.random() < rates[s] else rng.choice(OTHER_MEDIUMS)
        texture = TEXTURES[s % len(TEXTURES)]
        caption = f"{_article(medium)} {medium} of {_article(color)} {color} {rng.choice(SUBJECTS)} on {texture}"
        if rng.random() < 0.3:
            caption += " by an artist"
        captions.append(caption)
    return captions


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _embedded_slots(cfg: DataConfig) -> Iterator[tuple[int, str, int]]:
    for s, style in enumerate(WIKIART_STYLES):
        for j in range(cfg.images_per_style):
            yield s, style, j


def _medium_rates(n_styles: int, seed: int) -> np.ndarray:
    """Per-style probability that a caption names a medium word: evenly spread, shuffled by seed."""
    return np.random.default_rng([seed, 10_000]).permutation(np.linspace(0.05, 0.95, n_styles))


def _palette(s: int) -> np.ndarray:
    """Three RGB colours for style ``s``: hues spread by the golden ratio, a family per texture cycle."""
    family = s // len(TEXTURES)
    saturation, value = [(0.9, 0.95), (0.35, 1.0), (0.8, 0.45)][family % 3]
    hues = (s * 0.618034 + np.array([0.0, 0.12, 0.5])) % 1.0
    return np.stack([_hsv_to_rgb(h, saturation, value) for h in hues])


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    return v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _draw(s: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """One image of style ``s`` (uint8, size x size x 3) and the colour word of its subject.

    The image is a function of ``rng``'s seed alone, so the caption writer can replay it.
    """
    palette = _palette(s)
    texture = TEXTURES[s % len(TEXTURES)]
    y, x = np.mgrid[0:size, 0:size] / size
    freq = rng.uniform(3.0, 6.0)
    phase = rng.uniform(0.0, 2 * math.pi)
    angle = rng.uniform(-0.3, 0.3)
    u = x * math.cos(angle) + y * math.sin(angle)
    v = -x * math.sin(angle) + y * math.cos(angle)
    noise = rng.random((size // 8 + 1, size // 8 + 1))
    blurry = np.kron(noise, np.ones((8, 8)))[:size, :size]
    t = {
        "stripes": 0.5 + 0.5 * np.sign(np.sin(2 * math.pi * freq * v + phase)),
        "lines": 0.5 + 0.5 * np.sign(np.sin(2 * math.pi * freq * u + phase)),
        "waves": 0.5 + 0.5 * np.sin(2 * math.pi * freq * (u + 0.1 * np.sin(2 * math.pi * 2 * v)) + phase),
        "checks": (np.floor(freq * u) + np.floor(freq * v)) % 2,
        "dots": (np.hypot((freq * u) % 1 - 0.5, (freq * v) % 1 - 0.5) < 0.25).astype(float),
        "rings": 0.5 + 0.5 * np.sign(np.sin(2 * math.pi * freq * np.hypot(u - 0.5, v - 0.5) + phase)),
        "blots": (blurry > 0.5).astype(float),
        "strokes": ((np.sin(2 * math.pi * freq * (u + v)) > 0.6) & (blurry > 0.3)).astype(float),
        "gradient": np.clip(u * math.cos(phase) + v * math.sin(phase) + 0.3, 0.0, 1.0),
    }[texture]
    image = palette[0] * (1 - t[..., None]) + palette[1] * t[..., None]
    color = list(COLORS)[int(rng.integers(len(COLORS)))]
    cx, cy, r = rng.uniform(0.25, 0.75), rng.uniform(0.25, 0.75), rng.uniform(0.12, 0.22)
    subject = np.hypot(x - cx, y - cy) < r
    image[subject] = 0.3 * palette[2] + 0.7 * np.array(COLORS[color])
    image = image + rng.normal(0.0, 0.03, image.shape)
    return (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8), color
