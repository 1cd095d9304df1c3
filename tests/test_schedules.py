"""The learning-rate schedule both trainings share, against values worked out by hand."""

import math

import pytest
import torch

from clipcreate_lib import schedules


def test_the_warm_up_rises_linearly_then_holds_or_decays_along_a_cosine():
    assert [schedules.lr_factor(s, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert [schedules.lr_factor(s, 0) for s in range(3)] == [1.0, 1.0, 1.0]  # no warm-up: the full rate at once
    # warm-up 2 of 10 steps, then cos from 1 to 0 over the 8 that remain
    assert schedules.lr_factor(1, 2, 10) == 1.0
    assert schedules.lr_factor(2, 2, 10) == pytest.approx(1.0)
    assert schedules.lr_factor(6, 2, 10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))
    assert schedules.lr_factor(10, 2, 10) == pytest.approx(0.0, abs=1e-12)


def test_the_scheduler_sets_the_optimisers_rate_step_by_step():
    optimiser = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.3)
    schedule = schedules.warmup_schedule(optimiser, 3)
    rates = []
    for _ in range(4):
        rates.append(optimiser.param_groups[0]["lr"])
        optimiser.step()
        schedule.step()
    assert rates == pytest.approx([0.1, 0.2, 0.3, 0.3])
