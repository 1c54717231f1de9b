"""Label and annotation keys and values, checked as Kubernetes checks them, and the keys that are not the user's."""
from __future__ import annotations

import re
from typing import Optional

from pydantic import ConfigDict, RootModel

from oam.kit.k8s_values import MAX_ANNOTATIONS_BYTES

_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
RESERVED = "app.oam.dev/"
# Keys the Kubernetes provider reads to change how it awaits or applies an object (skipAwait,
# timeoutSeconds, patchForce...): set by a user they would switch off the Ready waits that
# every ordering edge relies on.
ENGINE_DOMAIN = "pulumi.com"


class StringMap(RootModel[dict[str, str]]):
    model_config = ConfigDict(strict=True, frozen=True)


class PatchMap(RootModel[dict[str, Optional[str]]]):
    """A map merged into another as a JSON merge patch: a key given null is deleted."""

    model_config = ConfigDict(strict=True, frozen=True)


def engine_key(key: str) -> bool:
    """Whether ``key`` is one the Kubernetes provider reads (under pulumi.com/ or a subdomain of it)."""
    prefix = key.rpartition("/")[0]
    return prefix == ENGINE_DOMAIN or prefix.endswith("." + ENGINE_DOMAIN)


def key_problem(key: str) -> str:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _PREFIX.match(prefix)):
        return f"key prefix '{prefix}' is not a DNS subdomain"
    if not name or len(name) > 63 or not _NAME.match(name):
        return f"key '{key}' is not a valid label key"
    return ""


def check_keys(items: dict[str, str], path: tuple, locator, values: bool) -> list:
    """Problems of a label (``values``) or annotation map, one per key, at ``path + (key,)``."""
    problems = []
    size = sum(len(k.encode()) + len((v or "").encode()) for k, v in items.items())
    if not values and size > MAX_ANNOTATIONS_BYTES:
        problems.append(locator.problem(path, f"annotations take {size // 1024} KiB; Kubernetes allows 256 KiB in all",
                                        "keep large data in a ConfigMap, not in annotations"))
    for key, value in items.items():
        where = path + (key,)
        if key.startswith(RESERVED):
            problems.append(locator.problem(where, f"'{key}' is set by the application itself",
                                            f"choose a key outside {RESERVED}"))
        elif engine_key(key):
            problems.append(locator.problem(where, f"'{key}' changes how Pulumi awaits or applies the object, "
                                                   "which the safe ordering of every stage relies on",
                                            f"remove it; keys under {ENGINE_DOMAIN}/ are not the application's "
                                            "(use the readyTimeout config key for how long to wait)"))
        elif why := key_problem(key):
            problems.append(locator.problem(where, why, "use letters, digits, '-', '_' and '.', at most 63 characters"))
        elif values and value and (len(value) > 63 or not _NAME.match(value)):
            problems.append(locator.problem(where, f"'{value}' is not a valid label value",
                                            "use letters, digits, '-', '_' and '.', at most 63 characters"))
    return problems


def patch_into(values: dict[str, str], removed: set[str], patch: dict[str, Optional[str]]) -> None:
    """Apply ``patch`` as a JSON merge patch: a key given null is deleted, from what others set too (``removed``)."""
    for key, value in patch.items():
        if value is None:
            values.pop(key, None)
            removed.add(key)
        else:
            values[key] = value
            removed.discard(key)


def check_map(trait, app, values: bool) -> list:
    """A labels or annotations trait: its whole properties are the map."""
    return check_keys(trait.properties.root, trait.path + ("properties",), app.locator, values)
