"""NumPy arrays in and out of tasks, stored as ``.npy``.

A noisy signal is simulated, smoothed with a moving average, and the residual's RMS computed.
Arrays pass between tasks as they are (no copies, no conversion). In the provenance store each
array is saved in NumPy's own ``.npy`` format (exact dtype and shape, no pickle), in a
content-addressed table: the same array stored twice takes the space of one. The script
reads the smoothed signal back three ways: from the run, through ferroflow's store API, and
with nothing but ``sqlite3`` and ``numpy``.

Run: ``python examples/numpy_arrays.py``
"""

from __future__ import annotations

import io
import sqlite3
import sys
import typing as t

import numpy as np
import numpy.typing as npt
from ferroflow import load_node, load_profile, namespace, task

Signal = npt.NDArray[np.float64]


@task
def simulate(n: int, seed: int) -> Signal:
    """A 5 Hz sine sampled n times over one second, plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    time = np.linspace(0.0, 1.0, n)
    return np.sin(2 * np.pi * 5 * time) + 0.3 * rng.standard_normal(n)


@task
def smooth(signal: Signal, width: int) -> Signal:
    """Moving average over ``width`` samples."""
    return np.convolve(signal, np.ones(width) / width, mode="same")


@task
def rms(a: Signal, b: Signal) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


@task.graph
def denoise(
    n: int, seed: int, width: int
) -> t.Annotated[dict[str, t.Any], namespace(raw=np.ndarray, smoothed=np.ndarray, rms=float)]:
    raw = simulate(n=n, seed=seed).result
    smoothed = smooth(signal=raw, width=width).result
    return {"raw": raw, "smoothed": smoothed, "rms": rms(a=raw, b=smoothed).result}


def blob_count(path: str) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT count(*) FROM blob").fetchone()[0])


def main() -> int:
    profile = load_profile()
    wg = denoise.build(2000, 7, 25)
    wg.run()
    smoothed = wg.outputs.smoothed.value  # a DataNode: .value is the ndarray itself
    print(f"smoothed signal: {type(smoothed.value).__name__} {smoothed.value.dtype} "
          f"{smoothed.value.shape}, residual RMS {wg.outputs.rms.value.value:.3f}")  # fmt: skip

    # 1. Through the store API, as any later session would (pk survives the process).
    stored = load_node(smoothed.pk)
    print(f"stored node pk {stored.pk}: {stored.value_summary()}")
    assert np.array_equal(stored.value, smoothed.value)
    assert stored.value.dtype == np.float64

    # 2. With sqlite3 and numpy only: the node's blob is a plain .npy file's bytes.
    store_path = str(profile.store_path)
    with sqlite3.connect(f"file:{store_path}?mode=ro", uri=True) as db:
        codec, payload = db.execute(
            "SELECT b.codec, b.data FROM node n JOIN blob b ON b.id = n.blob_id WHERE n.pk = ?",
            (smoothed.pk,),
        ).fetchone()
    array = np.load(io.BytesIO(payload), allow_pickle=False)
    print(f"read back with sqlite3 + numpy.load: codec {codec!r}, {len(payload):,} bytes, "
          f"equal: {np.array_equal(array, smoothed.value)}")  # fmt: skip
    assert codec == "npy" and np.array_equal(array, smoothed.value)

    # 3. Same inputs, same arrays: a second run stores no second copy of them.
    before = blob_count(store_path)
    denoise.build(2000, 7, 25).run()
    after = blob_count(store_path)
    print(f"blobs in the store before / after an identical second run: {before} / {after}")
    assert after == before
    return 0


if __name__ == "__main__":
    sys.exit(main())
