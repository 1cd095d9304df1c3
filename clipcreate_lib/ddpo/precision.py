"""The arithmetic the DDPO UNet runs in: TF32 or IEEE float32 on CUDA, bf16 autocast or float32."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch


def set_fp32_precision(device: torch.device, tf32: bool) -> None:
    """TF32 or IEEE float32 for matmuls and convolutions on CUDA (the CPU has no TF32). Process-wide,
    as PyTorch's precision flags are. Only the fp32_precision API: setting it and the legacy
    allow_tf32 flags in one process makes PyTorch raise."""
    if device.type == "cuda":
        precision = "tf32" if tf32 else "ieee"
        torch.backends.cuda.matmul.fp32_precision = precision
        torch.backends.cudnn.conv.fp32_precision = precision


def unet_compute_dtype(device: torch.device, bf16: bool, cpu_bf16: bool = False) -> torch.dtype:
    """What the UNet computes in: bfloat16 on CUDA when asked, on the CPU only when ``cpu_bf16`` asks
    too (a study of what bf16 does to learning, where learning can be run: the mini profile), else float32."""
    return torch.bfloat16 if bf16 and (device.type == "cuda" or cpu_bf16) else torch.float32


def unet_autocast(
    device: torch.device, bf16: bool, cpu_bf16: bool = False
) -> Callable[[], contextlib.AbstractContextManager]:
    """What makes the context the UNet runs in: autocast to ``unet_compute_dtype``, or nothing at float32."""
    dtype = unet_compute_dtype(device, bf16, cpu_bf16)
    if dtype == torch.float32:
        return contextlib.nullcontext
    return lambda: torch.autocast(device.type, dtype=dtype)
