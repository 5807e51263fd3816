"""The photo fits' Adam: the same steps as torch.optim.Adam, without the 1.3-1.7 s import of
torch._dynamo that torch.optim's first optimiser costs a fresh process (the first photo)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from furrow.photo.adam import Adam

ROOT = Path(__file__).resolve().parents[2]


def _rosenbrock(p: torch.Tensor) -> torch.Tensor:
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2 + (p[2:] ** 2).sum()


def test_same_trajectory_as_torch_optim_with_per_group_rates() -> None:
    start = torch.tensor([-1.2, 1.0, 0.5, -0.3], dtype=torch.float64)
    ours_a, ours_b = start[:2].clone().requires_grad_(True), start[2:].clone().requires_grad_(True)
    ref_a, ref_b = start[:2].clone().requires_grad_(True), start[2:].clone().requires_grad_(True)
    ours = Adam([{"params": [ours_a], "lr": 0.05}, {"params": [ours_b], "lr": 0.2}])
    ref = torch.optim.Adam([{"params": [ref_a], "lr": 0.05}, {"params": [ref_b], "lr": 0.2}])
    for _ in range(200):
        for opt, a, b in ((ours, ours_a, ours_b), (ref, ref_a, ref_b)):
            opt.zero_grad()
            _rosenbrock(torch.cat([a, b])).backward()  # type: ignore[no-untyped-call]
            opt.step()
    torch.testing.assert_close(torch.cat([ours_a, ours_b]), torch.cat([ref_a, ref_b]), rtol=0, atol=1e-10)
    assert float(_rosenbrock(torch.cat([ours_a, ours_b]).detach())) < float(_rosenbrock(start))


def test_a_photo_never_loads_torch_dynamo() -> None:
    """The refinement (landmarks, fit, photometric rounds, albedo, model detail) in a fresh process."""
    code = (
        "import sys\n"
        "from furrow.heads.default import load_default_head\n"
        "from furrow.photo.pipeline import PhotoSettings, reconstruct\n"
        "from furrow.photo.samples import sample_photo\n"
        "s = PhotoSettings(albedo_resolution=256, detail_resolution=256, detail='model')\n"
        "r = reconstruct(load_default_head(), sample_photo('grace_hopper'), s)\n"
        "assert 'photometric' in r.seconds, r.seconds\n"
        "print('dynamo' if 'torch._dynamo' in sys.modules else 'clean')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "clean"
