"""Reading a numeric array from a ``.npy`` file without ever running code: the header is read
first (through a memory map), pickled Python objects are refused, and the size is bounded
before anything is copied."""

from __future__ import annotations

import numpy as np

#: the most numbers a --vector file may hold (a condition vector has as many as the model's
#: labels or its condition size)
MAX_VECTOR = 1_000_000


def read_vector(path: str) -> np.ndarray:
    """The float vector in the .npy file ``path`` (loaded without pickle)."""

    try:
        with open(path, "rb") as file:
            magic = file.read(6)
    except FileNotFoundError:
        raise ValueError(f"no such file: {path}") from None
    if magic != b"\x93NUMPY":
        raise ValueError(f"{path} is not a .npy array file (save one with numpy.save)")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)  # the header first
    except ValueError as error:  # numpy's advice to allow pickles is not ours to give
        if "object" in str(error).lower() or "pickle" in str(error):
            raise ValueError(
                f"{path} holds Python objects, which rnnlab never loads; save a numeric array"
            ) from None
        raise ValueError(f"{path} is not a .npy array file: {error}") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        raise ValueError(f"{path} must hold a numeric vector, got {getattr(array, 'dtype', '?')}")
    if array.size > MAX_VECTOR:
        raise ValueError(f"{path} holds {array.size:,} numbers; a condition vector is smaller")
    array = np.array(array, dtype=np.float32)
    return array[0] if array.ndim == 2 and array.shape[0] == 1 else array
