"""A llama.cpp build for the embedded model that runs on any machine of its kind.

llama-cpp-python ships only a source package on PyPI, and llama.cpp's default build tunes itself
to the CPU that compiles it (`GGML_NATIVE`). Such a build crashed with a general protection fault
on an AVX-512/AMX Xeon (issue 13), and pip caches the wheel, so every later install on that
machine reused it. `evalseed local install` therefore builds with native tuning off and an
instruction-set level chosen from what this CPU has (`profile()`), keeps the wheel in evalseed's
own cache under a name that says the version, the level and a hash of the build flags, and
installs that file. A wheel from pip's cache is never used: pip builds with `--no-cache-dir`.

Why a fixed level and not llama.cpp's runtime CPU dispatch (`GGML_BACKEND_DL` with
`GGML_CPU_ALL_VARIANTS`): llama-cpp-python 0.3.36 never calls `ggml_backend_load_all`, so the
loadable CPU backends would not be found, and building 14 CPU variants multiplies the build on 2
cores. docs/offline.md has the measured cost of the fixed level against a native build.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import RunAborted

#: The llama-cpp-python release evalseed builds and tests against (the server's flags in
#: local_model.server_command and the build options below are checked for this one).
LLAMA_CPP_PYTHON = "0.3.36"

_DIST = "llama_cpp_python"
# Off whatever the level: instruction sets a CPU of this kind may lack or not enable for guests
# (the Xeon's crash was in AMX/AVX-512 code), and the multimodal library the server never loads.
_ALWAYS = ["-DGGML_NATIVE=OFF", "-DGGML_AVX512=OFF", "-DGGML_AVX512_VBMI=OFF", "-DGGML_AVX512_VNNI=OFF",
           "-DGGML_AVX512_BF16=OFF", "-DGGML_AVX_VNNI=OFF", "-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF",
           "-DGGML_AMX_BF16=OFF", "-DLLAVA_BUILD=OFF"]
_X86_SETS = ("SSE42", "AVX", "AVX2", "BMI2", "FMA", "F16C")
# x86-64 levels as psABI defines them, by the /proc/cpuinfo flags ggml's options need.
_X86_LEVELS: tuple[tuple[str, set[str], set[str]], ...] = (
    ("x86-64-v3", {"sse4_2", "avx", "avx2", "bmi2", "fma", "f16c"}, set(_X86_SETS)),
    ("x86-64-v2", {"sse4_2"}, {"SSE42"}),
    ("x86-64", set(), set()),
)


@dataclass(frozen=True)
class Profile:
    """An instruction-set level and the CMake arguments that build llama.cpp for it."""

    name: str
    cmake_args: tuple[str, ...]

    @property
    def tag(self) -> str:
        """The wheel folder's name: release, level and flags, so no two builds share one."""
        digest = hashlib.sha256(" ".join(self.cmake_args).encode()).hexdigest()[:10]
        return f"llama-cpp-python-{LLAMA_CPP_PYTHON}-{self.name}-{digest}"


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux reports them (empty where /proc/cpuinfo has none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return set()
    m = re.search(r"^flags\s*:\s*(.*)$", text, re.MULTILINE)
    return set(m.group(1).split()) if m else set()


def profile(machine: str | None = None, flags: set[str] | None = None) -> Profile:
    """The most capable portable level this CPU runs: on x86-64, v3 (AVX2, FMA, F16C, BMI2) where
    all of it is there, else v2 (SSE4.2), else the baseline; elsewhere llama.cpp's own generic
    build for the architecture (native tuning off)."""
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64"):
        return Profile(machine or "generic", tuple(_ALWAYS))
    have = cpu_flags() if flags is None else flags
    for name, needs, sets in _X86_LEVELS:
        if needs <= have:
            args = [f"-DGGML_{s}={'ON' if s in sets else 'OFF'}" for s in _X86_SETS]
            return Profile(name, tuple(_ALWAYS + args))
    raise AssertionError("unreachable: the baseline level needs nothing")


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "evalseed" / "wheels"


@dataclass(frozen=True)
class Installed:
    """What llama-cpp-python this environment has, and whether `evalseed local install` made it."""

    version: str | None
    origin: str | None  # the URL pip installed it from, when pip recorded one
    profile: str | None  # the level it was built for, when it came from our cache

    @property
    def ours(self) -> bool:
        return self.profile is not None and self.version == LLAMA_CPP_PYTHON


def installed() -> Installed:
    from importlib import metadata

    try:
        dist = metadata.distribution(_DIST)
    except metadata.PackageNotFoundError:
        return Installed(None, None, None)
    origin = None
    raw = dist.read_text("direct_url.json")
    if raw:
        try:
            origin = json.loads(raw).get("url")
        except ValueError:
            origin = None
    level = None
    m = re.search(rf"/llama-cpp-python-{re.escape(dist.version)}-([A-Za-z0-9_.-]+?)-[0-9a-f]{{10}}/", origin or "")
    if m:
        level = m.group(1)
    return Installed(dist.version, origin, level)


def mismatch(current: Installed, wanted: Profile) -> str | None:
    """Why the installed llama.cpp may not run here (None when it is our build for this CPU)."""
    if current.version is None:
        return None
    if not current.ours:
        where = current.origin or "PyPI's source package, built on some machine"
        return (f"llama-cpp-python {current.version} here was not built by `evalseed local install` "
                f"(it came from {where}) and may be tuned to another CPU")
    if current.profile != wanted.name:
        return f"llama-cpp-python here was built for {current.profile}, and this CPU is {wanted.name}"
    return None


def _run(cmd: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("a", encoding="utf-8") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        code = subprocess.call(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if code != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-15:]).rstrip()
        raise RunAborted(f"`{' '.join(cmd[:5])} ...` failed with exit code {code}; the log ({log}) ends with:\n{tail}")


def install(*, rebuild: bool = False, say: Callable[[str], None] = print) -> Path:
    """Build (or take from evalseed's cache) the portable wheel and install it with the server's
    dependencies into this interpreter's environment. Returns the wheel's path."""
    prof = profile()
    folder = cache_root() / prof.tag
    wheels = sorted(folder.glob("*.whl")) if folder.is_dir() and not rebuild else []
    log = Path(tempfile.gettempdir()) / f"evalseed-local-install-{os.getpid()}.log"
    env = dict(os.environ)
    # Ours replace the user's: a GPU or native flag there is exactly what must not leak in.
    env["CMAKE_ARGS"] = " ".join(prof.cmake_args)
    env.pop("SKBUILD_CMAKE_ARGS", None)
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    if wheels:
        wheel = wheels[-1]
        say(f"llama.cpp for {prof.name}: using the wheel built earlier ({wheel})")
    else:
        say(f"building llama.cpp {LLAMA_CPP_PYTHON} for {prof.name} (portable: no native tuning); "
            f"about 5 minutes on 2 cores, log in {log}")
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=folder.parent))
        try:
            _run(pip + ["wheel", "--no-cache-dir", "--no-deps", "--no-binary", "llama-cpp-python",
                        "-w", str(tmp), f"llama-cpp-python=={LLAMA_CPP_PYTHON}"], env, log)
            built = sorted(tmp.glob("*.whl"))
            if not built:
                raise RunAborted(f"pip built no wheel for llama-cpp-python; see {log}.")
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(tmp, folder)  # whole folder or none: a half-written wheel is never found
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        wheel = sorted(folder.glob("*.whl"))[-1]
    # Replace whatever llama-cpp-python is here (perhaps a native build), then add the server's
    # dependencies; the second step finds the wheel installed and only adds what is missing.
    _run(pip + ["install", "--no-cache-dir", "--force-reinstall", "--no-deps", str(wheel)], env, log)
    _run(pip + ["install", "--no-cache-dir", f"{wheel}[server]"], env, log)
    say(f"installed {wheel.name} for {prof.name}")
    return wheel


def system_info() -> str | None:
    """llama.cpp's own account of the instruction sets its CPU backend was compiled with, read in
    a child process so that a build this CPU cannot run never takes evalseed down with it."""
    code = "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())"
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None
