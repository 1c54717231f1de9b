"""What Kubernetes refuses in an object written out in full that runs pods, found without a cluster.

Pure. The API server's dry run tries every object before a stage applies anything, but only when there is a
cluster to ask; `python -m oam validate` and a preview have the same file:line messages for the mistakes below
without one. Only what Kubernetes itself refuses, or what keeps a pod from ever starting (an image reference that
cannot be pulled), is a problem here: the rest is left to the API server.
"""
from __future__ import annotations

from typing import Any, Optional

from oam.kit import k8s_values as kv

# Where each kind keeps its pod template.
TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("apps/v1", "Deployment"): ("spec", "template"),
    ("apps/v1", "StatefulSet"): ("spec", "template"),
    ("apps/v1", "DaemonSet"): ("spec", "template"),
    ("apps/v1", "ReplicaSet"): ("spec", "template"),
    ("batch/v1", "Job"): ("spec", "template"),
    ("batch/v1", "CronJob"): ("spec", "jobTemplate", "spec", "template"),
}


def _split(rule: str) -> tuple[str, str]:
    """A k8s_values answer ("problem; hint") as (message, hint)."""
    message, _, hint = rule.partition("; ")
    return message, hint


def _at(node: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def check_pod_object(obj: dict, where: tuple, locator) -> list:
    """The problems Kubernetes would answer ``obj`` (at ``where`` of the file) with, when it runs pods."""
    kind = (obj.get("apiVersion"), obj.get("kind"))
    if kind not in TEMPLATES or "spec" not in obj:
        return []  # without a spec: an object a take-over policy takes as the cluster has it
    problems: list = []

    def problem(path: tuple, message: str, hint: str = "") -> None:
        problems.append(locator.problem(where + path, message, hint))

    spec = obj.get("spec")
    if not isinstance(spec, dict):
        problem(("spec",), "must be a mapping", "write spec with the pod template (spec.template)")
        return problems
    replicas = spec.get("replicas")
    if replicas is not None and (isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0):
        problem(("spec", "replicas"), f"must be a whole number of pods, 0 or more (got {replicas!r})")
    path = TEMPLATES[kind]
    template = _at(obj, path)
    if not isinstance(template, dict):
        problem(path, "the pod template is missing", f"write {'.'.join(path)} with metadata.labels and spec.containers")
        return problems
    labels = _at(template, ("metadata", "labels"))
    labels = labels if isinstance(labels, dict) else {}
    if kind[0] == "apps/v1":
        _check_selector(spec.get("selector"), labels, problem)
    pod = template.get("spec")
    if not isinstance(pod, dict):
        problem(path + ("spec",), "the pod's spec is missing", "write the containers under it")
        return problems
    _check_containers(pod, path + ("spec",), problem)
    return problems


def _check_selector(selector: Any, labels: dict, problem) -> None:
    hint = "select the pods by labels that spec.template.metadata.labels gives them"
    match = selector.get("matchLabels") if isinstance(selector, dict) else None
    if not isinstance(selector, dict) or not (match or selector.get("matchExpressions")):
        problem(("spec", "selector"), "is required: Kubernetes refuses an apps/v1 object without a selector", hint)
    elif isinstance(match, dict):
        missing = [k for k, v in match.items() if labels.get(k) != v]
        if missing:
            problem(("spec", "selector", "matchLabels"),
                    f"does not select the pods of spec.template (label {missing[0]!r}): Kubernetes refuses a "
                    "selector that does not match the template's labels", hint)


def _check_containers(pod: dict, at: tuple, problem) -> None:
    containers = pod.get("containers")
    if not isinstance(containers, list) or not containers:
        problem(at + ("containers",), "a pod needs at least one container", "list the containers with name and image")
    volumes = {v.get("name") for v in pod.get("volumes") or () if isinstance(v, dict)}
    seen: dict[str, tuple] = {}
    for group in ("initContainers", "containers"):
        listed = pod.get(group)
        for i, container in enumerate(listed if isinstance(listed, list) else ()):
            here = at + (group, i)
            if not isinstance(container, dict):
                problem(here, "must be a mapping", "write the container's name and image")
                continue
            name = container.get("name")
            if not isinstance(name, str) or kv.dns_label(name, "container name"):
                problem(here + ("name",), *_split(kv.dns_label(str(name or ""), "container name")))
            elif name in seen:
                problem(here + ("name",), f"container name '{name}' is used twice in one pod", "name each once")
            else:
                seen[name] = here
            _check_container(container, here, volumes, problem)


def _check_container(container: dict, here: tuple, volumes: set, problem) -> None:
    image: Optional[Any] = container.get("image")
    if not isinstance(image, str) or kv.image(image):
        problem(here + ("image",), *_split(kv.image(image if isinstance(image, str) else "")))
    for j, port in enumerate(container.get("ports") or ()):
        number = port.get("containerPort") if isinstance(port, dict) else None
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 65535:
            problem(here + ("ports", j, "containerPort"), f"must be a port number from 1 to 65535 (got {number!r})")
        name = port.get("name") if isinstance(port, dict) else None
        if isinstance(name, str) and kv.port_name(name):
            problem(here + ("ports", j, "name"), *_split(kv.port_name(name)))
    for j, env in enumerate(container.get("env") or ()):
        name = env.get("name") if isinstance(env, dict) else None
        if not isinstance(name, str) or kv.env_name(name):
            problem(here + ("env", j, "name"), *_split(kv.env_name(str(name or ""))))
    resources = container.get("resources")
    for field in ("limits", "requests"):
        amounts = resources.get(field) if isinstance(resources, dict) else None
        for resource, value in (amounts.items() if isinstance(amounts, dict) else ()):
            if isinstance(value, str) and kv.quantity(value):
                problem(here + ("resources", field, resource), *_split(kv.quantity(value)))
    for j, mount in enumerate(container.get("volumeMounts") or ()):
        name = mount.get("name") if isinstance(mount, dict) else None
        if name not in volumes:
            problem(here + ("volumeMounts", j, "name"), f"no volume of the pod is named {name!r}",
                    "declare it under the pod's volumes, or mount one that is declared")
