"""Adam (Kingma & Ba, 2015) for the photo fits' few dozen steps.

torch.optim's optimisers import torch._dynamo when the first one is built: 1.3-1.7 s of CPU on
2 cores, holding the interpreter lock, which is more than all the optimiser work of a photo and
lands on the artist's first photo in a fresh process. This is the same update as
``torch.optim.Adam`` without weight decay or AMSGrad (tested against it), with per-group rates.
Training scripts keep torch.optim: they checkpoint its state and run for hours.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

Group = Mapping[str, Any]  # {"params": [tensors], "lr": float}


class Adam:
    """``Adam([{"params": [...], "lr": 0.1}, ...])`` or ``Adam([tensors], lr=0.1)``."""

    def __init__(
        self,
        params: Sequence[Group] | Iterable[torch.Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        items: list[Any] = list(params)
        self.groups: list[tuple[list[torch.Tensor], float]]
        if items and isinstance(items[0], Mapping):
            self.groups = [(list(g["params"]), float(g.get("lr", lr))) for g in items]
        else:
            self.groups = [(items, float(lr))]
        self.betas = betas
        self.eps = eps
        self.steps = 0
        self._moments: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for params, _ in self.groups:
            for p in params:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        b1, b2 = self.betas
        self.steps += 1
        correction1 = 1.0 - b1**self.steps
        root_correction2 = (1.0 - b2**self.steps) ** 0.5
        for params, lr in self.groups:
            for p in params:
                if p.grad is None:
                    continue
                g = p.grad
                if id(p) not in self._moments:
                    self._moments[id(p)] = (torch.zeros_like(p), torch.zeros_like(p))
                m, v = self._moments[id(p)]
                m.mul_(b1).add_(g, alpha=1.0 - b1)
                v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
                denom = (v.sqrt() / root_correction2).add_(self.eps)
                p.addcdiv_(m, denom, value=-lr / correction1)
