"""The public namespace: curated, sorted, importable, named, lazy where it pays, and free of
framework imports (issue 19)."""

from __future__ import annotations

import collections.abc
import dataclasses
import json
import pickle
import re
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest

import flagkit
import flagkit.codepaths
import flagkit.providers
import flagkit.testing
from flagkit import (
    ConfigError,
    ConfigIssue,
    ErrorCode,
    Evaluation,
    Exposure,
    FlagNotFoundError,
    GuardTrippedError,
    HookContext,
    ProviderStatus,
    Reason,
    SourceError,
)

REPO = Path(__file__).resolve().parent.parent

PUBLIC = [
    "CODE_DEFAULT",
    "CompiledFlag",
    "ConfigError",
    "ConfigIssue",
    "DictProvider",
    "EnvProvider",
    "ErrorCode",
    "Evaluation",
    "Exposure",
    "FileProvider",
    "FlagNotFoundError",
    "FlagSet",
    "FlagkitError",
    "Flags",
    "Guard",
    "GuardTrippedError",
    "GuardedBlock",
    "Hook",
    "HookContext",
    "HttpProvider",
    "Provider",
    "ProviderStatus",
    "Reason",
    "RedisProvider",
    "Snapshot",
    "SourceError",
    "__version__",
    "all_values",
    "configure",
    "context",
    "current_context",
    "evaluate",
    "get_client",
    "get_value",
    "is_enabled",
    "merge_usage",
    "read_usage",
    "snapshot",
    "thawed",
    "variant",
    "variants",
    "when",
]
"""What ``flagkit`` exports, on purpose. A new public name is added here and in docs/api.md."""

SUBPACKAGES = {
    flagkit.providers: [
        "DictProvider",
        "EnvProvider",
        "FileProvider",
        "HttpProvider",
        "Provider",
        "RedisProvider",
        "Report",
    ],
    flagkit.codepaths: [
        "CallContext",
        "OptionalSwitch",
        "SupportsEvaluation",
        "Switch",
        "VariantDispatcher",
        "variants",
        "when",
    ],
    flagkit.testing: ["FlagOverrides", "override_flags"],
}
"""The public subpackages and what each exports on purpose."""


def _public_names(module: types.ModuleType) -> set[str]:
    """``dir(module)`` less private names and submodules: what a reader sees as its API."""
    return {
        name
        for name in dir(module)
        if not name.startswith("_") and not isinstance(getattr(module, name), types.ModuleType)
    }


def _exports() -> list[tuple[str, object]]:
    return [(name, getattr(flagkit, name)) for name in flagkit.__all__ if not name.startswith("__")]


def test_all_is_the_intended_list_sorted() -> None:
    assert flagkit.__all__ == PUBLIC
    names = [name for name in PUBLIC if name != "__version__"]
    assert names == sorted(names), "keep __all__ sorted"


def test_public_names_equal_all() -> None:
    """httpx's test: nothing is public by accident (an import without an underscore alias)."""
    assert _public_names(flagkit) == set(PUBLIC) - {"__version__"}
    for name in PUBLIC:
        assert hasattr(flagkit, name), name


@pytest.mark.parametrize("module", list(SUBPACKAGES), ids=lambda module: module.__name__)
def test_public_subpackages_export_their_list(module: types.ModuleType) -> None:
    assert list(module.__all__) == SUBPACKAGES[module]
    assert set(module.__all__) <= _public_names(module)


@pytest.mark.parametrize("module", list(SUBPACKAGES), ids=lambda module: module.__name__)
def test_subpackages_have_no_accidental_public_name(module: types.ModuleType) -> None:
    """Each public subpackage's facade is held to the top level's rule: its public names are
    exactly its ``__all__`` (``flagkit.testing`` once showed ``Flags``, ``get_client`` and the
    default-override helpers; ``flagkit.codepaths`` its typing imports and guard helpers)."""
    assert _public_names(module) == set(SUBPACKAGES[module])


def test_every_export_names_flagkit_as_its_module() -> None:
    named = {
        name: value.__module__ for name, value in _exports() if isinstance(value, type | types.FunctionType)
    }
    assert len(named) == len(PUBLIC) - 2  # all but __version__ and the CODE_DEFAULT constant
    assert {name: module for name, module in named.items() if module != "flagkit"} == {}
    assert repr(flagkit.Flags) == "<class 'flagkit.Flags'>"
    assert repr(flagkit.HttpProvider) == "<class 'flagkit.HttpProvider'>"


def test_exported_classes_keep_resolving_their_annotations() -> None:
    """``get_type_hints`` reads string annotations in ``sys.modules[cls.__module__]``, now the
    facade: they were resolved where they were written (pydantic and cattrs need this)."""
    for _name, value in _exports():
        if isinstance(value, type | types.FunctionType):
            typing.get_type_hints(value, include_extras=True)  # raises NameError if broken
    hints = typing.get_type_hints(flagkit.Snapshot)
    assert hints["flags"] == collections.abc.Mapping[str, flagkit.CompiledFlag]
    hints = typing.get_type_hints(HookContext)
    assert {field.name: hints[field.name] for field in dataclasses.fields(HookContext)}["flag_key"] is str


def test_exports_pickle_by_their_public_path() -> None:
    for name, value in _exports():
        if isinstance(value, type | types.FunctionType):
            assert pickle.loads(pickle.dumps(value)) is value, name
            assert pickle.dumps(value, protocol=0).startswith(f"cflagkit\n{name}\n".encode()), name
    instances: list[object] = [
        Evaluation("k", 3, "three", Reason.TARGETING_MATCH, rule="beta"),
        Evaluation("k", None, None, Reason.ERROR, error_code=ErrorCode.FLAG_NOT_FOUND, error_message="no"),
        Reason.SPLIT,
        ErrorCode.TYPE_MISMATCH,
        ConfigIssue("bad", path=("features", "x"), source="f.yaml", line=3),
        Exposure("k", "on", True, Reason.SPLIT, "u1", 1.0),
        HookContext("k", False, {"a": 1}, "file", "is_enabled"),
    ]
    for instance in instances:
        copy = pickle.loads(pickle.dumps(instance))
        assert copy == instance
        assert type(copy) is type(instance)
        assert repr(copy) == repr(instance)
    for error in (
        ConfigError([ConfigIssue("bad", source="f.yaml")]),
        SourceError("down", source="https://example.test/flags"),
        FlagNotFoundError("missing"),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert vars(copy) == vars(error)
    status = ProviderStatus(name="file", state="ready")
    assert pickle.loads(pickle.dumps(status)) == status


def test_reprs_name_the_public_classes() -> None:
    evaluation = Evaluation("k", 3, "three", Reason.TARGETING_MATCH)
    assert repr(evaluation).startswith("Evaluation(key='k', value=3, variant='three'")
    assert repr(Reason.SPLIT) == "<Reason.SPLIT: 'SPLIT'>"
    assert repr(FlagNotFoundError("missing")) == "FlagNotFoundError('missing')"
    assert repr(GuardTrippedError).endswith("'flagkit.GuardTrippedError'>")


def _fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


NETWORK_MODULES = (
    "http.client",
    "ssl",
    "urllib.request",
    "flagkit.providers.http",
    "flagkit.providers.redis",
    "flagkit.providers._fetch",
    "flagkit.providers._redis_wire",
)
"""What ``HttpProvider``/``RedisProvider`` need, and an application reading a file does not."""


@pytest.mark.slow
def test_import_flagkit_loads_no_network_stack() -> None:
    code = f"import sys, flagkit\nprint([m for m in {NETWORK_MODULES!r} if m in sys.modules])"
    assert _fresh(code) == "[]"


@pytest.mark.slow
def test_http_and_redis_providers_load_on_first_use() -> None:
    code = (
        "import sys, json, flagkit\n"
        "seen = {}\n"
        "seen['dir'] = 'HttpProvider' in dir(flagkit) and 'RedisProvider' in dir(flagkit.providers)\n"
        "seen['before'] = 'http.client' in sys.modules\n"
        "from flagkit import HttpProvider\n"
        "seen['http'] = ['http.client' in sys.modules, 'flagkit.providers.redis' in sys.modules]\n"
        "import flagkit.providers\n"
        "seen['same'] = flagkit.providers.HttpProvider is HttpProvider is flagkit.HttpProvider\n"
        "seen['redis'] = flagkit.providers.RedisProvider.__module__\n"
        "seen['http_module'] = HttpProvider.__module__\n"
        "seen['same_redis'] = flagkit.RedisProvider is flagkit.providers.RedisProvider\n"
        "try:\n    flagkit.NoSuchThing\nexcept AttributeError as exc:\n    seen['missing'] = str(exc)\n"
        "try:\n    from flagkit.providers import Nope\n"
        "except ImportError as exc:\n    seen['missing_provider'] = 'Nope' in str(exc)\n"
        "print(json.dumps(seen))\n"
    )
    assert json.loads(_fresh(code)) == {
        "dir": True,
        "before": False,
        "http": [True, False],
        "same": True,
        "redis": "flagkit",
        "http_module": "flagkit",
        "same_redis": True,
        "missing": "module 'flagkit' has no attribute 'NoSuchThing'",
        "missing_provider": True,
    }


@pytest.mark.slow
def test_import_flagkit_pulls_in_no_framework() -> None:
    code = (
        "import sys, flagkit\n"
        "bad = [m for m in ('django', 'flask', 'starlette', 'flagkit.integrations.django',"
        " 'flagkit.integrations.flask', 'flagkit.integrations.asgi', 'flagkit.cli', 'argparse', 'redis')"
        " if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    assert _fresh(code) == ""


def test_core_modules_never_import_integrations() -> None:
    root = Path(flagkit.__file__).parent
    for path in root.glob("*.py"):
        text = path.read_text()
        assert "integrations" not in "\n".join(
            line for line in text.splitlines() if line.lstrip().startswith(("import ", "from "))
        ), path


def test_py_typed_marker_ships() -> None:
    assert (Path(flagkit.__file__).parent / "py.typed").exists()


# Documentation names public places only, and every name it gives exists.

_REFERENCE = re.compile(r"`(flagkit(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
_NOT_PYTHON = re.compile(r"flagkit\.(?:[EW]\d{3}|schema\.json|yaml|yml)$")  # Django check ids, file names


def _references() -> list[tuple[str, str]]:
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    found = []
    for page in pages:
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            for dotted in _REFERENCE.findall(line):
                if not _NOT_PYTHON.search(dotted):
                    found.append((f"{page.relative_to(REPO)}:{number}", dotted))
    return found


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: object = __import__(".".join(parts[:cut]), fromlist=["_"])
        except ImportError:
            continue
        for attribute in parts[cut:]:
            value = getattr(value, attribute)
        return value
    raise ImportError(dotted)


def test_docs_name_only_public_paths_that_exist() -> None:
    references = _references()
    assert len(references) > 40  # the pattern still finds them
    missing, private = [], []
    for where, dotted in references:
        try:
            _resolve(dotted)
        except (ImportError, AttributeError):
            missing.append(f"{where}: {dotted}")
        if any(part.startswith("_") and not part.startswith("__") for part in dotted.split(".")):
            private.append(f"{where}: {dotted}")
    assert missing == [], "docs name what does not exist:\n" + "\n".join(missing)
    assert private == [], "docs name private modules (export the name from a public place):\n" + "\n".join(
        private
    )
