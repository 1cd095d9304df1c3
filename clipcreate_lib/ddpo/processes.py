"""One DDPO model trained by several processes at once (``accelerate launch``), as data parallelism.

The settings stay those of an epoch, whatever the number of processes N: the epoch's
``sample_batches`` are split into N contiguous shares, one per process, and every process still
draws every batch's prompts and noise from the run's two generators (skipping the noise of the
batches it does not sample), so image j of an epoch has the same prompt and noise for any N and
every process ends the epoch with the same generator states. The samples, log-probs and rewards
are then gathered, so every process holds the whole epoch: the per-prompt stat tracker sees all of
it, and the update's shuffled train batches are the single process's; each process scores its
slice of every train batch through the DDP-wrapped UNet, whose backward averages the gradients
(forward through the bare UNet and every process keeps its own: ddpo-pytorch's bug before its
commit 5955244). Decisions (a non-finite loss, an empty epoch) are taken on gathered values, so
every process takes the same branch and none waits for a collective the others skipped; only the
main process writes, and the others wait for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import gather


class Processes:
    """This process's place among the N processes training one model (N = 1 without a launcher)."""

    def __init__(self, device: torch.device):
        self.state = PartialState(cpu=device.type == "cpu")  # gloo on CPUs, NCCL on GPUs
        self.count, self.index = self.state.num_processes, self.state.process_index
        self.is_main = self.state.is_main_process
        launched = int(os.environ.get("WORLD_SIZE", "1"))
        if launched != self.count:  # each process would train the whole model alone, into the same files
            raise RuntimeError(
                f"This process is one of {launched} launched, but accelerate's state counts {self.count}: "
                "it was set up before the trainer, without cpu=True on a CPU; create "
                "clipcreate_lib.ddpo.processes.Processes(device) before anything else uses accelerate."
            )

    def share(self, batches: int) -> range:
        """The sampling batches of an epoch this process samples (``batch_share``)."""
        return batch_share(batches, self.count, self.index)

    def rows(self, rows: torch.Tensor) -> tuple[torch.Tensor, float]:
        """This process's slice of a train batch and the weight of its loss (``row_slice``)."""
        return row_slice(rows, self.count, self.index)

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Every process's ``tensor``, concatenated along the first dimension in process order, on this
        process's device (NCCL gathers GPU tensors only; the prompts' indices are drawn on the CPU)."""
        return gather(tensor.to(self.state.device)) if self.count > 1 else tensor

    def all_finite(self, value: torch.Tensor) -> bool:
        """Whether ``value`` is finite in every process (a read-back, the same answer everywhere)."""
        return bool(self.gather(torch.isfinite(value).reshape(1).float()).all())  # float: any backend gathers it

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of a scalar over the processes."""
        return self.gather(value.reshape(1)).mean() if self.count > 1 else value

    def wrap(self, unet: torch.nn.Module) -> torch.nn.Module:
        """The module the training forward must run through: DDP around ``unet`` (accelerate's
        ``prepare_model``, left on its device) when there are several processes, else ``unet``."""
        if self.count == 1:
            return unet
        return Accelerator(cpu=unet.device.type == "cpu", mixed_precision="no").prepare_model(
            unet, device_placement=False
        )

    def on_main(self, write: Callable[[], object]) -> None:
        """``write`` on the main process only, then every process waits until it is done."""
        if self.is_main:
            write()
        self.state.wait_for_everyone()


def batch_share(batches: int, count: int, index: int) -> range:
    """The sampling batches of an epoch that process ``index`` of ``count`` samples: its contiguous
    1/count of them."""
    if batches % count:
        raise ValueError(
            f"ddpo.sample_batches ({batches}) must be a multiple of the number of processes "
            f"({count}), so that every process samples as many batches."
        )
    size = batches // count
    return range(index * size, (index + 1) * size)


def row_slice(rows: torch.Tensor, count: int, index: int) -> tuple[torch.Tensor, float]:
    """Process ``index``'s slice of a train batch's ``rows`` and the weight of its mean loss, ``count``
    times its share of the batch, so that DDP's average over the processes is the batch's mean. A
    process left without rows scores one with weight 0: every process takes part in every backward."""
    mine = rows.tensor_split(count)[index]
    if not len(mine):
        return rows[:1], 0.0
    return mine, count * len(mine) / len(rows)
