"""Images between the forms the stages use: undecoded dataset rows, PIL images and tensors in [0, 1]."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image


def decode_image(value: dict) -> Image.Image | None:
    """An undecoded `datasets` image (bytes or path) as 8-bit RGB (``to_rgb``), or None if it cannot be read."""
    try:
        data = value.get("bytes")
        image = Image.open(io.BytesIO(data) if data is not None else value["path"])
        image.load()
        return to_rgb(image)
    except Exception:  # PIL raises several unrelated types for broken files
        return None


def to_rgb(image: Image.Image) -> Image.Image:
    """Any image Pillow opens as 8-bit RGB, scaled by its value range rather than clipped: 16-bit
    greyscale (I;16...) maps 0..65535 to 0..255, 32-bit integers (I) likewise when they exceed 255,
    floats (F) from [0, 1] or, past 1, from their own range; transparency (RGBA, LA, PA, P with a
    transparent colour) is laid over white, the paper's background, rather than dropped to black."""
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        return Image.fromarray(_to_bytes(np.asarray(image), image.mode)).convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _to_bytes(values: np.ndarray, mode: str) -> np.ndarray:
    """Greyscale values of a wide mode as uint8, by the range the mode (or the data) spans."""
    values = values.astype(np.float64)
    top = values.max(initial=0.0)
    if mode == "F":
        scale = 1.0 if top <= 1.0 else (top if top > 255.0 else 255.0)
    elif mode.startswith("I;16") or top > 255.0:
        scale = 65535.0 if top <= 65535.0 else top
    else:
        scale = 255.0
    return np.clip(np.round(values / scale * 255.0), 0, 255).astype(np.uint8)


def center_square(image: Image.Image, size: int) -> Image.Image:
    """Center-crop to a square and resize to ``size`` (the CAN and CLIP both want squares)."""
    w, h = image.size
    side = min(w, h)
    box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
    image = image.crop(box)
    return image if image.size == (size, size) else image.resize((size, size), Image.Resampling.BICUBIC)


def images_as_tensor(images: list[Image.Image]) -> torch.Tensor:
    """PIL images of one size -> float tensor (B, 3, H, W) in [0, 1], the form every model here takes."""
    array = np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) for im in images]) / 255.0
    return torch.from_numpy(array).permute(0, 3, 1, 2).contiguous()
