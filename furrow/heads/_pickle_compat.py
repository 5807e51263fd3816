"""Reading research-model pickles (FLAME, its landmark and mask files) without their libraries.

FLAME ships as Python 2 pickles (protocol 2) whose arrays are chumpy ``Ch`` objects
and whose joint regressor is a ``scipy.sparse.csc.csc_matrix`` of 2017's scipy.
chumpy does not import on current numpy, and a plain ``pickle.load`` would run any
class a downloaded file names. So a restricted unpickler maps the few classes these
files reference onto inert stand-ins that only keep the pickled state, and refuses
every other class.

What the files hold (read from chumpy's source and from loaders that print them):
a chumpy ``Ch`` pickles through ``object.__reduce_ex__(2)`` (NEWOBJ of
``chumpy.ch Ch``) with its ``__dict__`` minus ``_parents``/``_cache`` as state: the
array is under ``'x'``, next to ``_dirty_vars`` (a set), ``_itr``,
``_depends_on_deps``, ``_make_dense`` and ``_make_sparse``. Derived nodes
(``chumpy.reordering Select``/``transpose``/``reshape``, ``chumpy.ch_ops add``...)
keep their operands under ``'a'``/``'b'`` plus their own parameters. A 2017
``csc_matrix`` pickles the same way with ``data``/``indices``/``indptr`` and
``_shape`` in its state. Python 2 ``str`` (keys, raw array bytes) arrives as
``str`` with ``encoding="latin1"``, which numpy's array state accepts.
"""

from __future__ import annotations

import codecs
import collections
import copyreg
import importlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np
import numpy.typing as npt


class LegacyPickleError(ValueError):
    """The file is not a pickle we can read; the message says why (the caller adds the path)."""


class Stub:
    """An inert stand-in for a pickled object: it keeps the state and the arguments, nothing runs."""

    kind: ClassVar[str] = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.state: Any = {}

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def get(self, key: str) -> Any:
        """One entry of a dict state (or of the (dict, slots) pair some picklers write)."""
        state = getattr(self, "state", {})
        if isinstance(state, tuple) and state and isinstance(state[0], dict):
            state = state[0]
        return state.get(key) if isinstance(state, dict) else None

    def __repr__(self) -> str:
        return f"<{self.kind} stand-in>"


class ChumpyStub(Stub):
    kind = "chumpy.ch.Ch"


class SparseStub(Stub):
    kind = "scipy.sparse.csc_matrix"


class Opaque(Stub):
    """Something we deliberately do not decode (e.g. torch tensors in DECA's landmark file)."""

    kind = "opaque"


_STUB_CLASSES: dict[tuple[str, str], type[Stub]] = {}


def _stub_class(base: type[Stub], module: str, name: str) -> type[Stub]:
    key = (module, name)
    if key not in _STUB_CLASSES:
        _STUB_CLASSES[key] = type(name, (base,), {"kind": f"{module}.{name}"})
    return _STUB_CLASSES[key]


def _opaque_factory(*args: Any, **kwargs: Any) -> Opaque:
    return Opaque(*args)


def _numpy_multiarray() -> Any:
    for name in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("numpy has no multiarray module")  # pragma: no cover


_MULTIARRAY = _numpy_multiarray()
_BUILTINS: dict[str, Any] = {
    "set": set,
    "frozenset": frozenset,
    "object": object,
    "list": list,
    "dict": dict,
    "tuple": tuple,
    "int": int,
    "float": float,
    "complex": complex,
    "bool": bool,
    "slice": slice,
    "bytearray": bytearray,
    "bytes": bytes,
    "str": str,
}
_SAFE: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
    ("copy_reg", "_reconstructor"): copyreg._reconstructor,  # type: ignore[attr-defined]
    ("copyreg", "_reconstructor"): copyreg._reconstructor,  # type: ignore[attr-defined]
    ("collections", "OrderedDict"): collections.OrderedDict,
}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _SAFE[(_mod, "_reconstruct")] = _MULTIARRAY._reconstruct
    _SAFE[(_mod, "scalar")] = _MULTIARRAY.scalar
for _mod in ("__builtin__", "builtins"):
    for _name, _obj in _BUILTINS.items():
        _SAFE[(_mod, _name)] = _obj


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, builtins and stand-ins for chumpy/scipy.sparse/torch; nothing else."""

    def __init__(self, file: IO[bytes]) -> None:
        super().__init__(file, encoding="latin1")

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE:
            return _SAFE[(module, name)]
        if module == "chumpy" or module.startswith("chumpy."):
            return _stub_class(ChumpyStub, module, name)
        if module.startswith("scipy.sparse") and name.endswith("_matrix"):
            return _stub_class(SparseStub, module, name)
        if module == "torch" or module.startswith("torch."):
            return _opaque_factory
        raise LegacyPickleError(f"it references {module}.{name}, which a model file should not contain")


def _translate(exc: BaseException) -> LegacyPickleError:
    text = str(exc)
    if isinstance(exc, EOFError) or "truncated" in text or "Ran out of input" in text:
        return LegacyPickleError("truncated pickle (the file ends early; download it again)")
    if isinstance(exc, pickle.UnpicklingError) and "load key" in text:
        return LegacyPickleError("not a pickle file")
    return LegacyPickleError(f"unreadable pickle ({type(exc).__name__}: {text})")


def loads_restricted(stream: IO[bytes]) -> Any:
    start = stream.tell() if stream.seekable() else None
    head = stream.read(2)
    if start is not None:
        stream.seek(start)
    try:
        return RestrictedUnpickler(stream).load()
    except LegacyPickleError:
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
    ) as exc:
        if head[:1] != b"\x80" and not isinstance(exc, EOFError):
            # every binary pickle (protocol 2 and up, as FLAME's) starts with PROTO
            raise LegacyPickleError(f"not a pickle file (it starts with {head!r})") from exc
        raise _translate(exc) from exc
    except MemoryError as exc:  # a corrupt length field
        raise LegacyPickleError("not a pickle file (corrupt length field)") from exc


def load_pickle(path: Path) -> Any:
    """The object in a (Python 2 or 3) pickle file, read with the restricted unpickler."""
    with open(path, "rb") as f:
        return loads_restricted(f)


def load_npy_or_pickle(path: Path) -> Any:
    """A ``.npy`` file (an object array is unpickled with the restricted unpickler) or a bare pickle.

    DECA's ``landmark_embedding.npy`` is ``np.save`` of a dict: a 0-d object array.
    ``np.load(allow_pickle=True)`` would unpickle it unrestricted, so the header is read
    here and the pickled payload goes through :class:`RestrictedUnpickler`.
    """
    with open(path, "rb") as f:
        head = f.read(6)
        f.seek(0)
        if head != b"\x93NUMPY":
            return loads_restricted(f)
        try:
            shape, fortran, dtype = read_npy_header(f)
        except ValueError as exc:
            raise LegacyPickleError(f"not a readable .npy header ({exc})") from exc
        if dtype.hasobject:
            arr = loads_restricted(f)
            if isinstance(arr, np.ndarray) and arr.shape == () and arr.dtype == object:
                return arr.item()
            return arr
        data = f.read()
    count = int(np.prod(shape)) if shape else 1
    if len(data) < count * dtype.itemsize:
        raise LegacyPickleError("truncated .npy file (the file ends early; download it again)")
    out = np.frombuffer(data, dtype=dtype, count=count)
    return out.reshape(shape, order="F" if fortran else "C")


def read_npy_header(f: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """(shape, fortran_order, dtype) of the .npy stream at f's position; f is left at the data."""
    fmt: Any = np.lib.format  # untyped in numpy's stubs
    version = fmt.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(f)
    else:
        shape, fortran, dtype = fmt.read_array_header_2_0(f)
    return tuple(int(s) for s in shape), bool(fortran), np.dtype(dtype)


def to_array(value: Any, what: str) -> npt.NDArray[Any]:
    """A plain numpy array from an array, a chumpy node (evaluated for the few kinds models use) or a list."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, ChumpyStub):
        return _chumpy_value(value, what)
    if isinstance(value, SparseStub):
        return np.asarray(to_sparse(value, what).toarray())
    if isinstance(value, (list, tuple, int, float)):
        return np.asarray(value)
    raise LegacyPickleError(f"{what!r} is a {type(value).__name__}, expected an array")


def _chumpy_value(node: ChumpyStub, what: str) -> npt.NDArray[Any]:
    kind = node.kind.rsplit(".", 1)[-1]
    if kind == "Ch":
        x = node.get("x")
        if x is None:
            raise LegacyPickleError(f"{what!r}: a chumpy Ch without its array ('x')")
        return np.asarray(to_array(x, what))
    a = node.get("a")
    if kind == "Select":
        src = to_array(a, what).ravel()
        out = src[np.asarray(to_array(node.get("idxs"), what), dtype=np.int64)]
        shape = node.get("preferred_shape")
        return out.reshape(shape) if shape is not None else out
    if kind == "transpose":
        axes = node.get("axes")
        return np.transpose(to_array(a, what), axes)
    if kind == "reshape":
        return to_array(a, what).reshape(node.get("newshape"))
    ops: dict[str, Callable[..., Any]] = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply}
    if kind in ops:
        return np.asarray(ops[kind](to_array(a, what), to_array(node.get("b"), what)))
    raise LegacyPickleError(f"{what!r} is a chumpy {node.kind} node, which this reader does not evaluate")


def to_sparse(value: Any, what: str) -> Any:
    """A scipy CSC matrix from a pickled 2017 ``csc_matrix`` state (or a dense array)."""
    sp: Any = importlib.import_module("scipy.sparse")  # no type stubs: untyped on purpose

    if isinstance(value, SparseStub):
        data, indices, indptr = value.get("data"), value.get("indices"), value.get("indptr")
        if data is None or indices is None or indptr is None:
            raise LegacyPickleError(f"{what!r}: a sparse matrix without data/indices/indptr")
        shape = value.get("_shape") or value.get("shape")
        data = np.asarray(data)
        indices = np.asarray(indices, dtype=np.int64)
        indptr = np.asarray(indptr, dtype=np.int64)
        csr = value.kind.rsplit(".", 1)[-1].startswith("csr")
        if shape is None:
            inner = int(indices.max()) + 1 if indices.size else 0
            shape = (indptr.size - 1, inner) if csr else (inner, indptr.size - 1)
        cls = sp.csr_matrix if csr else sp.csc_matrix
        try:
            return cls((data, indices, indptr), shape=tuple(int(s) for s in shape)).tocsc()
        except ValueError as exc:
            raise LegacyPickleError(f"{what!r}: inconsistent sparse matrix ({exc})") from exc
    if sp.issparse(value):
        return value.tocsc()
    return sp.csc_matrix(to_array(value, what))
