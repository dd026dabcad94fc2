"""The build files agree with each other, and the package stays light to import."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"redis-py": "redis"}


def _split(spec: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", spec)
    assert m, spec
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def _pyproject_specs() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    specs = list(data["project"]["dependencies"])
    for extra in data["project"]["optional-dependencies"].values():
        specs.extend(extra)
    out: dict[str, str] = {}
    for spec in specs:
        name, ver = _split(spec)
        assert out.get(name, ver) == ver, f"{name} pinned two ways in pyproject.toml"
        out[name] = ver
    return out


def _conda_specs() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out: dict[str, str] = {}
    for dep in env["dependencies"]:
        if not isinstance(dep, str):
            continue
        name, ver = _split(dep)
        if name in {"python", "pip"}:
            continue
        out[CONDA_TO_PYPI.get(name, name)] = ver
    return out


def test_environment_yml_matches_pyproject() -> None:
    assert _conda_specs() == _pyproject_specs()


def test_python_floor_agrees() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert data["project"]["requires-python"] == ">=3.11"
    assert "python>=3.11" in env["dependencies"]


def test_import_llmkit_does_not_load_pandas_or_matplotlib() -> None:
    code = (
        "import sys, llmkit; "
        "heavy = sorted(m for m in ('pandas', 'matplotlib', 'numpy', 'yaml', 'vcr', "
        "'opentelemetry') "
        "if m in sys.modules); print(','.join(heavy))"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter, a fixed snippet
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"import llmkit pulled in: {out}"


def test_py_typed_ships() -> None:
    assert (ROOT / "llmkit" / "py.typed").exists()


def test_a_users_script_outside_the_clone_type_checks(tmp_path: Path) -> None:
    # setuptools' default editable install is an import hook that type checkers cannot follow
    # (mypy: import-not-found); the Makefile installs path-based (editable_mode=compat).
    script = tmp_path / "my_app.py"
    script.write_text(
        "import llmkit\n"
        "from llmkit.errors import LLMError\n\n\n"
        "def ask(client: llmkit.Client) -> str:\n"
        "    try:\n"
        "        reply = client.chat(model='m', messages=[{'role': 'user', 'content': 'hi'}])\n"
        "    except LLMError as exc:\n"
        "        return exc.kind\n"
        "    return reply.text\n"
    )
    proc = subprocess.run(  # noqa: S603 - the venv's own mypy on a fixed file
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", script.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert "import-not-found" not in proc.stdout, proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_notebooks_open_as_notebooks_in_jupyterlab() -> None:
    from jupytext.config import (  # type: ignore[import-untyped]
        find_jupytext_configuration_file,
        load_jupytext_configuration_file,
    )

    # jupytext pairs each py:percent file with an (uncommitted) .ipynb twin ...
    found = find_jupytext_configuration_file(str(ROOT / "notebooks"))
    assert found is not None
    assert Path(found) == ROOT / "jupytext.toml"
    assert load_jupytext_configuration_file(found).formats == ["ipynb,py:percent"]
    assert "notebooks/*.ipynb" in (ROOT / ".gitignore").read_text().splitlines()
    # ... and the venv `make` builds makes JupyterLab open them as notebooks on double-click
    makefile = (ROOT / "Makefile").read_text()
    assert "LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json" in makefile
    assert "jupytext-config --settings-file $(LAB_SETTINGS) set-default-viewer python" in makefile
