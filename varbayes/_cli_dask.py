"""``varbayes fit --scheduler ADDRESS``: data from .npy files, fitted on a Dask cluster.

The client reads only the files' headers (shape and dtype); each file is one
row block of a ``dask.array`` that the workers load themselves, so the data
never passes through the client (the workers must see the same paths: a
shared file system or the same layout on every machine).
"""

from __future__ import annotations

import contextlib
import glob
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ._cli import CLIError, _reason

__all__ = ["dask_data", "on_cluster"]


def _import_dask() -> tuple[Any, Any]:
    try:
        import dask
        import dask.array as da
        import distributed  # noqa: F401  (the Client)
    except ImportError:
        raise CLIError("--scheduler needs Dask: pip install 'varbayes[dask]'") from None
    return dask, da


def _load_block(path: str, width: int) -> np.ndarray:
    """One file as a (rows, width) block, on a worker."""
    return np.load(path).reshape(-1, width)


def dask_data(pattern: str) -> tuple[Any, list[str]]:
    """A Dask array over the .npy files matching ``pattern`` (in sorted order), and their paths.

    Raises
    ------
    CLIError
        When nothing matches, a file is not a readable numeric .npy array, or
        the files' rows have different widths.
    """
    dask, da = _import_dask()
    paths = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
    if not paths or not Path(paths[0]).exists():
        raise CLIError(f"no .npy file matches {pattern!r}")
    blocks, width = [], None
    for path in paths:
        if Path(path).suffix.lower() != ".npy":
            raise CLIError(f"with --scheduler, DATA must be .npy files (a glob such as 'data/*.npy'), got {path!r}")
        try:
            header = np.load(path, mmap_mode="r")  # the header only: no data is read here
        except (OSError, ValueError) as exc:
            raise CLIError(f"cannot read {path!r}: {_reason(exc)}") from None
        if header.dtype.kind not in "fiub" or header.ndim == 0 or header.size == 0:
            raise CLIError(f"{path!r} does not hold a non-empty numeric array")
        rows = header.shape[0]
        cols = int(np.prod(header.shape[1:])) if header.ndim > 1 else 1
        if width is not None and cols != width:
            raise CLIError(f"{path!r} has {cols} features per row where the files before it have {width}")
        width = cols
        dtype = header.dtype if header.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        block = dask.delayed(_load_block, pure=True)(path, cols)
        blocks.append(da.from_delayed(block, shape=(rows, cols), dtype=header.dtype).astype(dtype))
    return da.concatenate(blocks), paths


@contextlib.contextmanager
def on_cluster(address: str) -> Iterator[Any]:
    """Connect to the Dask scheduler at ``address`` and make it the scheduler of the block."""
    dask, _ = _import_dask()
    from distributed import Client

    try:
        client = Client(address, timeout="5s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise CLIError(f"cannot connect to the Dask scheduler at {address!r}: {_reason(exc)}") from None
    try:
        with dask.config.set(scheduler=client):
            yield client
    finally:
        client.close()
