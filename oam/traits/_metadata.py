"""Label and annotation maps given as a trait's whole properties."""
from __future__ import annotations

import re

from pydantic import ConfigDict, RootModel

_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
RESERVED = "app.oam.dev/"


class StringMap(RootModel[dict[str, str]]):
    model_config = ConfigDict(strict=True, frozen=True)


def key_problem(key: str) -> str:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _PREFIX.match(prefix)):
        return f"key prefix '{prefix}' is not a DNS subdomain"
    if not name or len(name) > 63 or not _NAME.match(name):
        return f"key '{key}' is not a valid label key"
    return ""


def check_map(trait, app, values: bool) -> list:
    problems = []
    for key, value in trait.properties.root.items():
        path = trait.path + ("properties", key)
        if key.startswith(RESERVED):
            problems.append(app.locator.problem(path, f"'{key}' is set by the application itself",
                                                f"choose a key outside {RESERVED}"))
        elif why := key_problem(key):
            problems.append(app.locator.problem(path, why, "use letters, digits, '-', '_' and '.', at most 63 characters"))
        elif values and value and (len(value) > 63 or not _NAME.match(value)):
            problems.append(app.locator.problem(path, f"'{value}' is not a valid label value",
                                                "use letters, digits, '-', '_' and '.', at most 63 characters"))
    return problems
