"""The public namespace: curated, sorted, importable, and free of framework imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import flagkit


def test_all_is_sorted_and_complete() -> None:
    names = [n for n in flagkit.__all__ if n != "__version__"]
    assert names == sorted(names, key=str.lower) or names == sorted(names)
    for name in flagkit.__all__:
        assert hasattr(flagkit, name), name
    public = {
        n for n in vars(flagkit) if not n.startswith("_") and not isinstance(getattr(flagkit, n), type(sys))
    }
    assert public <= set(flagkit.__all__), f"exported but not in __all__: {public - set(flagkit.__all__)}"


def test_import_flagkit_pulls_in_no_framework() -> None:
    code = (
        "import sys, flagkit\n"
        "bad = [m for m in ('django', 'flask', 'starlette', 'flagkit.integrations.django',"
        " 'flagkit.integrations.flask', 'flagkit.integrations.asgi', 'flagkit.cli', 'argparse', 'redis')"
        " if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_core_modules_never_import_integrations() -> None:
    root = Path(flagkit.__file__).parent
    for path in root.glob("*.py"):
        text = path.read_text()
        assert "integrations" not in "\n".join(
            line for line in text.splitlines() if line.lstrip().startswith(("import ", "from "))
        ), path


def test_py_typed_marker_ships() -> None:
    assert (Path(flagkit.__file__).parent / "py.typed").exists()
