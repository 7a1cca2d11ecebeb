"""The compiled module runs on any Linux with glibc 2.17 or later (manylinux_2_17).

A build linked against the build machine's glibc (2.34+ here) binds Rust std's thread
functions and dlopen/dlsym to GLIBC_2.34 symbol versions; build_backend/ferroflow_backend.py
links with zig against glibc 2.17 instead. auditwheel is the judge PyPI uses: it audits the
module imported here, wrapped in a wheel made for the purpose (scripts/test.sh also audits the
real wheel).
"""

from __future__ import annotations

import base64
import hashlib
import json
import platform
import subprocess
import sys
import zipfile
from pathlib import Path

import ferroflow._core as core


def _wheel_around(so: Path, folder: Path) -> Path:
    """A minimal valid wheel holding only `so`, tagged for no particular Linux."""
    tag = f"cp310-abi3-linux_{platform.machine()}"
    wheel = folder / f"probe-0-{tag}.whl"
    files = {
        f"probe/{so.name}": so.read_bytes(),
        "probe-0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: probe\nVersion: 0\n",
        "probe-0.dist-info/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {tag}\n"
        ).encode(),
    }
    record = []
    with zipfile.ZipFile(wheel, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{name},sha256={digest.decode()},{len(data)}")
        record.append("probe-0.dist-info/RECORD,,")
        z.writestr("probe-0.dist-info/RECORD", "\n".join(record) + "\n")
    return wheel


def test_the_compiled_module_needs_glibc_217_at_most(tmp_path: Path) -> None:
    wheel = _wheel_around(Path(core.__file__ or ""), tmp_path)
    shown = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", "--json", str(wheel)],
        capture_output=True,
        text=True,
        check=True,
    )
    audit = json.loads(shown.stdout)
    assert audit["overall_tag"] == f"manylinux_2_17_{platform.machine()}", audit["overall_tag"]
    assert audit["external_libs"] == {}, "nothing outside the manylinux system libraries"
    glibc = {v for lib in audit["versioned_symbols"].values() for v in lib if "GLIBC_" in v}
    newest = max(tuple(int(p) for p in v.split("_")[1].split(".")) for v in glibc)
    assert newest <= (2, 17), sorted(glibc)
