"""In-tree PEP 517 build backend of the telering Python package (standard library only).

build_wheel configures the checkout's top-level CMake project for the running interpreter
(-DPython3_EXECUTABLE=sys.executable), builds the telering_python target and packs
telering/*.py, the stubs and the extension into a wheel. It needs no package from an index:
pip's isolated build environment stays empty (requires = []), so `pip install writer/python`
works offline.

config_settings / environment: TELERING_CMAKE_ARGS (extra -D options), TELERING_BUILD_JOBS
(parallel jobs, default 2).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # writer/python
REPO = os.path.dirname(os.path.dirname(HERE))                          # the checkout
NAME, VERSION = "telering", "0.1.0"
DIST_INFO = f"{NAME}-{VERSION}.dist-info"


def _tag() -> str:
    impl = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{impl}-{impl}-{platform}"


def _metadata() -> str:
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    return (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n"
            "Summary: Lock-free shared-memory telemetry for trading bots (the seed's health-check and "
            "error-recovery APIs)\nRequires-Python: >=3.8\nDescription-Content-Type: text/markdown\n\n" + readme)


def _wheel_file() -> str:
    return f"Wheel-Version: 1.0\nGenerator: telering_build\nRoot-Is-Purelib: false\nTag: {_tag()}\n"


def get_requires_for_build_wheel(config_settings=None):
    """Nothing to install: the backend uses the standard library, cmake and a compiler."""
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    """Writes <name>-<version>.dist-info with METADATA and WHEEL."""
    path = os.path.join(metadata_directory, DIST_INFO)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata())
    with open(os.path.join(path, "WHEEL"), "w", encoding="utf-8") as f:
        f.write(_wheel_file())
    return DIST_INFO


def _build_extension(build_dir: str) -> str:
    cmake = shutil.which("cmake")
    if cmake is None:
        raise RuntimeError("telering: building the native module needs cmake (apt-get install cmake g++ libboost-dev "
                           "python3-dev, or scripts/setup.sh)")
    args = [cmake, "-S", REPO, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release", "-DTELERING_BUILD_TESTS=OFF",
            "-DTELERING_BUILD_BENCH=OFF", "-DTELERING_BUILD_READER=OFF", "-DTELERING_BUILD_PYTHON=ON",
            f"-DPython3_EXECUTABLE={sys.executable}"]
    args += shlex.split(os.environ.get("TELERING_CMAKE_ARGS", ""))
    subprocess.run(args, check=True, stdout=sys.stderr)
    jobs = os.environ.get("TELERING_BUILD_JOBS", "2")
    subprocess.run([cmake, "--build", build_dir, "--target", "telering_python", "-j", jobs], check=True,
                   stdout=sys.stderr)
    package = os.path.join(build_dir, "python", NAME)
    for name in os.listdir(package):
        if name.startswith("_native") and name.endswith(".so"):
            return os.path.join(package, name)
    raise RuntimeError(f"telering: the build produced no _native extension in {package}")


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    """Builds the extension for this interpreter and writes the wheel; returns its name."""
    wheel_name = f"{NAME}-{VERSION}-{_tag()}.whl"
    with tempfile.TemporaryDirectory(prefix="telering-build-") as build_dir:
        extension = _build_extension(build_dir)
        files = {f"{NAME}/{os.path.basename(extension)}": extension}
        source = os.path.join(HERE, NAME)
        for name in sorted(os.listdir(source)):
            if name.endswith((".py", ".pyi")) or name == "py.typed":
                files[f"{NAME}/{name}"] = os.path.join(source, name)
        records = []
        path = os.path.join(wheel_directory, wheel_name)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
            def add(arcname: str, data: bytes) -> None:
                wheel.writestr(arcname, data)
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                records.append((arcname, f"sha256={digest}", str(len(data))))

            for arcname, file_path in files.items():
                with open(file_path, "rb") as f:
                    add(arcname, f.read())
            add(f"{DIST_INFO}/METADATA", _metadata().encode())
            add(f"{DIST_INFO}/WHEEL", _wheel_file().encode())
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerows(records)
            writer.writerow((f"{DIST_INFO}/RECORD", "", ""))
            wheel.writestr(f"{DIST_INFO}/RECORD", out.getvalue())
    return wheel_name


def build_sdist(sdist_directory, config_settings=None):
    """Not offered: the package builds from the checkout (pip install writer/python)."""
    raise RuntimeError("telering: no sdist; install from a checkout with: pip install <checkout>/writer/python")
