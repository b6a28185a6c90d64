"""Wheels of small local packages, made in a test: a dependency without reaching an index."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def make_wheel(
    directory: Path, name: str, version: str, source: str, tag: str = "py3-none-any", package: str | None = None
) -> Path:
    """A wheel of the distribution `name` holding one package (`package`, else `name`) whose `__init__.py` is
    `source`, as a build backend writes one."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{package or name}/__init__.py": source,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: {tag}\n",
    }
    records = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        records.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{dist_info}/RECORD"] = "\n".join([*records, f"{dist_info}/RECORD,,"]) + "\n"
    wheel = directory / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), text)
    return wheel


def lock_line(wheel: Path) -> str:
    """The wheel's pin as pip-compile writes it: `name==version` and the file's sha256."""
    name, version = wheel.name.split("-")[:2]
    return f"{name}=={version} \\\n    --hash=sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}\n"
