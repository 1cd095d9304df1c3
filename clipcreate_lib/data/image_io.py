"""Images between the forms the stages use: undecoded dataset rows, PIL images and tensors in [0, 1]."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image


def decode_image(value: dict) -> Image.Image | None:
    """An undecoded `datasets` image (bytes or path) as RGB, or None if it cannot be read."""
    try:
        data = value.get("bytes")
        image = Image.open(io.BytesIO(data) if data is not None else value["path"])
        image.load()
        return image.convert("RGB")
    except Exception:  # PIL raises several unrelated types for broken files
        return None


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


