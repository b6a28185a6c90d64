"""The function's own third-party packages: one hashed lock, installed at synth for what Lambda runs (Python 3.14 on
arm64) without Docker, cached by the lock's digest, and bundled beside the service package in its asset.

pip installs wheels for another platform with `--platform --python-version --implementation --only-binary=:all:`
(pip "pip install": "--platform"), so no container is needed; a package with no such wheel is refused in one line.
`--no-compile`: the build machine's bytecode would not be the runtime's (docs/local.md says what that costs).
With nothing pinned, nothing runs and the asset is the service package alone, as before this module existed.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The API function's own packages, apart from the tools' (requirements.lock): its own directory, so Dependabot
# regenerates each lock from its own list (dependabot-core #8365: a second .in beside pyproject.toml hides it).
LOCK = ROOT / "dependencies" / "requirements.lock"  # pip-compile's output from requirements.in beside it
BUILD = ROOT / ".build"  # the installed packages and assembled assets, by digest (gitignored)
# What Lambda runs (prod_serverless/lambdas.py RUNTIME and ARCHITECTURE): pip's names for it.
PLATFORM = "manylinux2014_aarch64"
PYTHON_VERSION = "3.14"
# Lambda quotas: "Deployment package (.zip file archive) size: 50 MB (zipped, when uploading through the Lambda
# API or SDKs) ... 250 MB (unzipped)"; Lambda API "AccountLimit": CodeSizeZipped is the limit "when it's uploaded
# directly to Lambda. Use Amazon S3 for larger files." CDK uploads through the bootstrap bucket (S3).
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
MAX_DIRECT_ZIPPED_BYTES = 50 * 1024 * 1024
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", re.MULTILINE)
NO_WHEEL = re.compile(r"No matching distribution found for ([A-Za-z0-9._-]+)")
# Written by the platform's installer but not needed at run time: console scripts (their shebang names the build
# machine's Python) and RECORD (the uninstaller's list, which names those scripts); both would differ by machine.
NOT_SHIPPED = ("bin",)


class BundleError(Exception):
    """The function's dependencies cannot be bundled; the message is one line naming the package and what to do."""


@dataclass(frozen=True)
class Dependencies:
    """The lock's packages installed for Lambda: where, what exactly (pip's install report), and their size."""

    directory: Path
    lock_digest: str
    installed: tuple[dict[str, str], ...]  # name, version, the wheel's file name and sha256: what the SBOM lists
    unzipped_bytes: int
    zipped_bytes: int


def pins(lock: Path) -> dict[str, str]:
    """The lock's packages and their exact versions; an absent lock pins nothing."""
    text = lock.read_text() if lock.exists() else ""
    return {name.lower(): version for name, version in PIN.findall(text)}


def shown(lock: Path) -> str:
    """The lock as a message names it: from the project's root, where it is in the project."""
    return lock.relative_to(ROOT).as_posix() if lock.is_relative_to(ROOT) else lock.name


def lock_digest(lock: Path) -> str:
    return hashlib.sha256(lock.read_bytes()).hexdigest()


def _tree_sizes(directory: Path) -> tuple[int, int]:
    """(unzipped, deflated) bytes of the files under `directory`: what Lambda counts, and about what the zip holds."""
    raw = packed = 0
    for path in directory.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            raw += len(data)
            packed += len(zlib.compress(data, 6)) + 30 + 2 * len(path.name)  # a zip entry's headers, roughly
    return raw, packed


def _refusal(stderr: str, lock: Path) -> str:
    missing = NO_WHEEL.search(stderr)
    if missing:
        return (
            f"{missing[1]} (in {shown(lock)}) has no wheel for Lambda's Python {PYTHON_VERSION} on arm64 "
            f"({PLATFORM}): pin a version that publishes one, or choose a package that does; a source-only package "
            "would need a Docker build, which this project does not do"
        )
    errors = [line.removeprefix("ERROR: ") for line in stderr.splitlines() if line.startswith("ERROR:")]
    return f"pip could not install {shown(lock)} for Lambda: {(errors or [stderr.strip() or 'no reason given'])[0]}"


def install(lock: Path = LOCK, *, cache: Path | None = None, find_links: Path | None = None) -> Dependencies | None:
    """The lock's packages installed for Lambda's platform under `cache`, reused while the lock is unchanged;
    None when it pins nothing. `find_links`: a directory of wheels to install from instead of the index (tests)."""
    if not pins(lock):
        return None
    cache = cache or BUILD  # read at the call, not bound at import: a test points BUILD elsewhere
    digest = lock_digest(lock)
    directory = cache / f"dependencies-{digest[:16]}"
    manifest = directory.with_suffix(".json")
    if not manifest.exists():
        _install(lock, directory, manifest, find_links)
    recorded = json.loads(manifest.read_text())
    return Dependencies(
        directory=directory,
        lock_digest=digest,
        installed=tuple(recorded["installed"]),
        unzipped_bytes=recorded["unzipped_bytes"],
        zipped_bytes=recorded["zipped_bytes"],
    )


def pip_command(lock: Path, target: Path, report: Path, find_links: Path | None = None) -> list[str]:
    """pip's arguments: the lock's wheels for Lambda's platform into `target`, from the index unless `find_links`."""
    return [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
        "--require-hashes", "--no-deps", "--no-compile", "--only-binary=:all:",
        "--platform", PLATFORM, "--python-version", PYTHON_VERSION, "--implementation", "cp",
        "--target", str(target), "--report", str(report), "-r", str(lock),
        *(["--no-index", "--find-links", str(find_links)] if find_links else []),
    ]  # fmt: skip


def _install(lock: Path, directory: Path, manifest: Path, find_links: Path | None) -> None:
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    directory.parent.mkdir(parents=True, exist_ok=True)
    report = directory.with_name(directory.name + ".report.json")
    command = pip_command(lock, partial, report, find_links)
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our own argv
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise BundleError(_refusal(done.stderr, lock))
    for name in NOT_SHIPPED:
        shutil.rmtree(partial / name, ignore_errors=True)
    for record in partial.glob("*.dist-info/RECORD"):
        record.unlink()
    installed = [
        {
            "name": item["metadata"]["name"],
            "version": item["metadata"]["version"],
            "file": item["download_info"]["url"].rsplit("/", 1)[-1],
            "sha256": item["download_info"].get("archive_info", {}).get("hashes", {}).get("sha256", ""),
        }
        for item in json.loads(report.read_text())["install"]
    ]
    report.unlink()
    unzipped, zipped = _tree_sizes(partial)
    shutil.rmtree(directory, ignore_errors=True)
    partial.rename(directory)
    manifest.write_text(
        json.dumps({"installed": sorted(installed, key=lambda item: item["name"].lower()),
                    "unzipped_bytes": unzipped, "zipped_bytes": zipped}, indent=1)
    )  # fmt: skip


def check_size(unzipped_bytes: int, zipped_bytes: int = 0) -> str | None:
    """Lambda refuses a package over 250 MB unzipped, whichever way it is uploaded: stop synth before it does. Over
    50 MB zipped, a note (None otherwise): fine through S3, as CDK deploys it, but not for a direct upload."""
    if zipped_bytes > MAX_DIRECT_ZIPPED_BYTES and unzipped_bytes <= MAX_UNZIPPED_BYTES:
        return (
            f"note: the function's package is about {zipped_bytes / 2**20:.0f} MB zipped, over the "
            f"{MAX_DIRECT_ZIPPED_BYTES // 2**20} MB Lambda takes in a direct upload: CDK deploys it through S3, "
            "which is fine; a tool that uploads it directly would be refused"
        )
    if unzipped_bytes > MAX_UNZIPPED_BYTES:
        raise BundleError(
            f"the function's code and dependencies are {unzipped_bytes / 2**20:.0f} MB unzipped, over Lambda's "
            f"{MAX_UNZIPPED_BYTES // 2**20} MB limit: drop a dependency from dependencies/requirements.in, or move it "
            "to a container image"
        )
    return None


def assemble(package: Path, dependencies: Dependencies, *, cache: Path | None = None) -> Path:
    """A directory holding `package` (its shipped files) and the installed dependencies beside it, as Lambda's
    /var/task will: reused while neither changes; the assemblies of older inputs are removed."""
    from prod_serverless.lambdas import shipped_files  # here: lambdas imports this module

    cache = cache or BUILD  # read at the call, not bound at import: a test points BUILD elsewhere
    files = shipped_files(package)
    digest = hashlib.sha256(dependencies.lock_digest.encode())
    for path in files:
        digest.update(path.relative_to(package.parent).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    directory = cache / f"asset-{digest.hexdigest()[:16]}"
    if not directory.exists():
        partial = directory.with_name(directory.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(dependencies.directory, partial)
        for path in files:
            target = partial / path.relative_to(package.parent)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        partial.rename(directory)
    for stale in cache.glob("asset-*"):
        if stale != directory:
            shutil.rmtree(stale, ignore_errors=True)
    return directory


def sbom(dependencies: Dependencies | None, *, name: str, version: str) -> str:
    """A CycloneDX 1.6 SBOM (JSON) of exactly what the function's asset holds: the service code as the root
    component (`version`: its version fingerprint), and each wheel pip installed, with its file name and sha256.
    Reproducible: no timestamp, and a serial number derived from the content."""
    import uuid

    from cyclonedx.model import HashAlgorithm, HashType
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    root = Component(name=name, version=version, type=ComponentType.APPLICATION, bom_ref=name)
    libraries = [
        Component(
            name=item["name"],
            version=item["version"],
            type=ComponentType.LIBRARY,
            purl=PackageURL("pypi", item["name"].lower(), item["version"], qualifiers={"file_name": item["file"]}),
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=item["sha256"])],
            bom_ref=f"{item['name']}=={item['version']}",
        )
        for item in (dependencies.installed if dependencies else ())
    ]
    content = json.dumps([name, version, *(dependencies.installed if dependencies else ())], sort_keys=True)
    bom = Bom(components=libraries, serial_number=uuid.uuid5(uuid.NAMESPACE_URL, content))
    bom.metadata.component = root
    bom.metadata.timestamp = None  # type: ignore[assignment]
    bom.register_dependency(root, libraries)
    return str(JsonV1Dot6(bom).output_as_string(indent=1)) + "\n"
