"""The bento installs the versions that uv.lock pins for the development environment, and only those."""

from __future__ import annotations

import re
import tomllib

import yaml

from tests.helpers import ROOT

SERVICE_REQUIREMENTS = ROOT / "serving" / "requirements.in"
SERVICE_LOCK = ROOT / "serving" / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;]+)")
NAME_END = re.compile(r"[\s;<>=!~\[]")  # a requirement's package name ends at a version, extra or marker


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> set[tuple[str, str]]:
    """Every (package, version) that uv.lock holds, for any platform."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    return {(_normalized(p["name"]), p["version"]) for p in lock["package"]}


def _service_pins() -> dict[str, str]:
    pins = {}
    for line in SERVICE_LOCK.read_text(encoding="utf-8").splitlines():
        if pin := PIN.match(line):
            pins[_normalized(pin[1])] = pin[2]
    return pins


def test_the_bento_installs_the_service_lock() -> None:
    bentofile = yaml.safe_load((ROOT / "bentofile.yaml").read_text(encoding="utf-8"))
    assert bentofile["python"] == {"requirements_txt": "serving/requirements.lock", "lock_packages": False}


def test_the_service_lock_pins_its_packages_at_uv_locks_versions() -> None:
    pins = _service_pins()
    wanted = {
        _normalized(NAME_END.split(line.strip(), maxsplit=1)[0])
        for line in SERVICE_REQUIREMENTS.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert wanted <= pins.keys(), f"not pinned: {wanted - pins.keys()}"
    strays = set(pins.items()) - _locked()
    assert not strays, f"pinned at versions uv.lock does not hold (run make lock): {sorted(strays)}"
