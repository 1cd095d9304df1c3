"""CLIP embeddings of images and texts, through one preprocessing path.

The k-means centroids (notebook 02) and the reward (DDPO) must see images exactly the same way, or
the distances the reward measures are between points of two different spaces. The reference code
embedded centroids through a processor that skipped the 1/255 rescaling of PIL images; here every
image, from the dataset or from the diffusion model, is first a float tensor in [0, 1] and then goes
through ``clip_pixel_values``, which follows the CLIP image processor's resize, crop and normalise.
It sits with the models, below the stages, because the models use it themselves: the miniature CLIP
trains through it and the ImageReward port preprocesses with ``resize_crop_normalise``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from transformers import CLIPModel, CLIPProcessor

from clipcreate_lib.data.image_io import images_as_tensor
from clipcreate_lib.progress import bar


def clip_pixel_values(images: torch.Tensor, processor: CLIPProcessor) -> torch.Tensor:
    """Images (B, 3, H, W) in [0, 1] -> the pixel values of ``processor``'s image processor. Differentiable."""
    ip = processor.image_processor
    return resize_crop_normalise(
        images, ip.size["shortest_edge"], (ip.crop_size["height"], ip.crop_size["width"]), ip.image_mean, ip.image_std
    )


def resize_crop_normalise(
    images: torch.Tensor, short: int, crop: tuple[int, int], mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """Shortest side resized to ``short`` (bicubic, antialiased, as PIL does), center crop, then
    (x - mean) / std per channel: CLIP's preprocessing, and ImageReward's (same mean and std)."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"Expected images of shape (batch, 3, height, width), got {tuple(images.shape)}.")
    h, w = images.shape[-2:]
    if min(h, w) != short:
        scale = short / min(h, w)
        size = (max(short, round(h * scale)), max(short, round(w * scale)))
        images = F.interpolate(images, size=size, mode="bicubic", antialias=True, align_corners=False)
        images = images.clamp(0.0, 1.0)
    ch, cw = crop
    top, left = (images.shape[-2] - ch) // 2, (images.shape[-1] - cw) // 2
    images = images[..., top : top + ch, left : left + cw]
    mean = torch.tensor(mean, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    std = torch.tensor(std, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    return (images - mean) / std


def image_embeddings(images: torch.Tensor, model: CLIPModel, processor: CLIPProcessor) -> torch.Tensor:
    """L2-normalised CLIP image embeddings (B, D) of images in [0, 1], on the model's device."""
    param = next(model.parameters())
    pixels = clip_pixel_values(images.to(param.device, torch.float32), processor).to(param.dtype)
    features = model.get_image_features(pixel_values=pixels).pooler_output
    return F.normalize(features.float(), dim=-1)


def text_embeddings(texts: Sequence[str], model: CLIPModel, processor: CLIPProcessor) -> torch.Tensor:
    """L2-normalised CLIP text embeddings (N, D), each text encoded on its own. A text's embedding then
    depends on the text alone, not on the batch it came in: batched, its last bits moved with the
    batch's size, and so did the rewards of a run resumed with its cache of prompts refilled."""
    param = next(model.parameters())
    rows = []
    for text in texts:
        tokens = processor.tokenizer([text], truncation=True, return_tensors="pt").to(param.device)
        rows.append(model.get_text_features(**tokens).pooler_output)
    return F.normalize(torch.cat(rows).float(), dim=-1)


@torch.inference_mode()
def embed_dataset(
    dataset, model: CLIPModel, processor: CLIPProcessor, batch_size: int, desc: str = "CLIP embeddings"
) -> np.ndarray:
    """Image embeddings of every row of a saved dataset, in row order, as float32 (N, D)."""
    out = []
    for start in bar(range(0, len(dataset), batch_size), desc=desc, unit="batch"):
        images = dataset[start : start + batch_size]["image"]
        out.append(image_embeddings(images_as_tensor(images), model, processor).cpu().numpy())
    return np.concatenate(out).astype(np.float32)
