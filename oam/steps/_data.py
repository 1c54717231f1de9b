"""What export2config and export2secret share: the data of a ConfigMap or Secret, checked as Kubernetes checks it."""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from oam.kit import k8s_values as kv

MAX_DATA_BYTES = 1024 * 1024  # the API server's limit on a ConfigMap's or Secret's data

ObjectName = Annotated[str, AfterValidator(kv.checked(kv.dns_subdomain, "name"))]  # a ConfigMap's or Secret's


def check_data(data: dict[str, str], path: tuple, app, kind: str) -> list:
    """Each key a ConfigMap or Secret may have, and no more data than the API server takes (``kind``: which)."""
    problems = []
    for key in data:
        why = kv.config_key(key)
        if why:
            problem, hint = why.split("; ", 1)
            problems.append(app.locator.problem(path + (key,), problem, hint))
    size = sum(len(v.encode()) for v in data.values())
    if size > MAX_DATA_BYTES:
        problems.append(app.locator.problem(path, f"holds {size // 1024} KiB; Kubernetes allows 1024 KiB in a {kind}",
                                            f"split it into more than one {kind}"))
    return problems
