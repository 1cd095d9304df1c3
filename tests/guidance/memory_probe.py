"""Peak resident memory of the gradient through an EDICT chain of 5 and of 20 steps, run as its own process
by tests/guidance/test_guidance.py: the reversible backward pass (``edict.chain_gradient``) and, as the
control that shows the measurement can see growth, plain autograd through the stored chain.
Prints one JSON line: how far each run's peak resident memory rose above the memory held before it,
in MiB (Linux: writing 5 to /proc/self/clear_refs resets the peak, VmHWM, to the current VmRSS)."""

import json
import re
from pathlib import Path

import torch

from clipcreate_lib.ddpo.policy import decode
from clipcreate_lib.guidance import edict
from clipcreate_lib.guidance.denoiser import Denoiser, initial_latents
from clipcreate_lib.models import builders

torch.set_num_threads(1)
pipe = builders.tiny_stable_diffusion(0)
z = initial_latents(pipe, [torch.Generator().manual_seed(0)])


def loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return decode(pipe, x).mean(dim=(1, 2, 3)) + decode(pipe, y).mean(dim=(1, 2, 3))


def status(key: str) -> float:
    return int(re.search(rf"{key}:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) / 1024


def rise(run, steps: int) -> float:
    """The peak resident memory of ``run(steps)`` above what the process held before it, in MiB."""
    Path("/proc/self/clear_refs").write_text("5")
    before = status("VmRSS")
    run(steps)
    return status("VmHWM") - before


def reversible(steps: int) -> None:
    edict.chain_gradient(Denoiser(pipe, ["painting of a man "], 1.0, steps), z, loss, 0.93)


def stored(steps: int) -> None:
    denoiser = Denoiser(pipe, ["painting of a man "], 1.0, steps)
    with torch.enable_grad():
        start = z.clone().requires_grad_(True)
        x, y = start, start
        for t in denoiser.timesteps:
            x, y = edict.step(denoiser, x, y, t, 0.93)
        torch.autograd.grad(loss(x, y).sum(), start)


reversible(5)  # the first run also pays for one-time allocations, which are not the chain's
print(
    json.dumps(
        {"reversible_5": rise(reversible, 5), "reversible_20": rise(reversible, 20), "stored_20": rise(stored, 20)}
    )
)
