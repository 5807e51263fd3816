"""Real face photos that ship inside pinned PyPI wheels (read in place, never copied into the repo).

- ``astronaut``: Eileen Collins, NASA portrait (public domain), in scikit-image's wheel.
- ``grace_hopper``: Grace Hopper, US Navy portrait (public domain), in matplotlib's wheel.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

SAMPLES = {
    "astronaut": ("skimage", "data/astronaut.png"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
}


def sample_photo(name: str) -> Path:
    """The path of a packaged sample photo; a ValueError names the package to install when absent."""
    if name not in SAMPLES:
        raise ValueError(f"no sample photo {name!r}; there are: {', '.join(SAMPLES)}")
    package, member = SAMPLES[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"sample photo {name!r} ships in the {package!r} package, which is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / member
    if not path.is_file():
        raise ValueError(f"sample photo {name!r}: {path} is missing from the installed {package!r}")
    return path
