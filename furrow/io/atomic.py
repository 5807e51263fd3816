"""Write files so that a reader never sees a half-written one under the final name."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A fresh temporary path beside ``path``; renamed onto ``path`` when the block succeeds.

    The temporary file is created empty (respecting the umask, unlike mkstemp's
    0600) in the same folder, so the final rename is atomic. On any error the
    temporary file is removed and ``path`` keeps whatever it held before.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_paths(*paths: Path) -> Iterator[list[Path]]:
    """``atomic_path`` for several files: all are renamed into place only if the block succeeds.

    They are renamed last to first, so a file listed first (an .obj) appears only
    after the files it refers to (its .mtl).
    """
    with ExitStack() as stack:
        yield [stack.enter_context(atomic_path(p)) for p in paths]
