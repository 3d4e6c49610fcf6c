"""Every public module, function, class and method of the documented packages has a docstring
(the API reference is built from them: an undocumented name would be a blank entry)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

PACKAGES = ("vedere.nn", "vedere.classify", "vedere.detect", "vedere.data")


def public_modules() -> list[str]:
    """The packages and every module under them whose dotted path has no ``_`` part."""
    names = []
    for package in PACKAGES:
        pkg = importlib.import_module(package)
        names.append(package)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return names


def defined_here(module, obj) -> bool:
    return getattr(obj, "__module__", None) == module.__name__


def is_routine(obj) -> bool:
    # Numba's dispatchers are not functions, but carry the Python function's docstring
    return inspect.isfunction(obj) or type(obj).__name__.endswith("Dispatcher")


def undocumented(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    missing = [] if (module.__doc__ or "").strip() else [f"{module_name} (the module)"]
    for name, obj in vars(module).items():
        if name.startswith("_") or not defined_here(module, obj):
            continue
        if not (inspect.isclass(obj) or is_routine(obj)):
            continue
        if not (inspect.getdoc(obj) or "").strip():
            missing.append(f"{module_name}.{name}")
        if not inspect.isclass(obj):
            continue
        for attr, member in vars(obj).items():
            if attr.startswith("_"):
                continue
            if isinstance(member, property):
                doc = member.__doc__
            elif isinstance(member, (staticmethod, classmethod)) or inspect.isfunction(member):
                doc = inspect.getdoc(getattr(obj, attr))  # an override inherits its base's
            else:
                continue
            if not (doc or "").strip():
                missing.append(f"{module_name}.{name}.{attr}")
    return missing


def test_the_documented_packages_have_modules():
    names = public_modules()
    assert {"vedere.nn.conv", "vedere.classify.trainer", "vedere.detect.haar"} <= set(names)


@pytest.mark.parametrize("module_name", public_modules())
def test_public_names_have_docstrings(module_name):
    assert undocumented(module_name) == []


def test_the_check_sees_a_missing_docstring(tmp_path, monkeypatch):
    (tmp_path / "undocumented_example.py").write_text(
        '"""A module."""\n\n\ndef f():\n    pass\n\n\nclass C:\n    """A class."""\n\n'
        "    def m(self):\n        pass\n\n    @property\n    def p(self):\n        return 1\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert undocumented("undocumented_example") == [
        "undocumented_example.f",
        "undocumented_example.C.m",
        "undocumented_example.C.p",
    ]
