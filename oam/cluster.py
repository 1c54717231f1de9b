"""What the provider cannot ask the cluster for a program: does the namespace exist, how many pods are Ready,
would the API server take this object (a dry run).

The Kubernetes provider cannot tell a program whether an object exists (a read of a missing
object fails the whole update), nor how far a Deployment got when its Ready wait failed, so
this asks the API server itself, with the same
connection settings the provider uses: the ``kubernetes:kubeconfig`` and
``kubernetes:context`` config keys, else ``KUBECONFIG``, else ``~/.kube/config``, else
the in-cluster service account. Only the standard library: no client to import.
"""
from __future__ import annotations

import base64
import functools
import http.client
import json
import os
import ssl
import subprocess
import tempfile
import threading
import urllib.parse
from pathlib import Path
from typing import Any, Optional

import yaml

from oam.kit.applied import NEVER_REPLACED

IN_CLUSTER = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ProbeError(Exception):
    """The cluster could not be asked (no configuration, unreachable, refused)."""


def namespace_labels(name: str, kubeconfig: Optional[str] = None, context: Optional[str] = None,
                     timeout: float = 10) -> Optional[dict[str, str]]:
    """The labels of namespace ``name``, or None when it does not exist."""
    body = get(f"/api/v1/namespaces/{name}", kubeconfig, context, timeout)
    return None if body is None else dict((body.get("metadata") or {}).get("labels") or {})


def plural(kind: str) -> str:
    """The resource name of a kind in API paths, as Kubernetes forms it (Ingress -> ingresses)."""
    lower = kind.lower()
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in ("a", "e", "i", "o", "u"):
        return lower[:-1] + "ies"
    return lower + "s"


def labels_by_name(api_version: str, kind: str, namespace: Optional[str], kubeconfig: Optional[str] = None,
                   context: Optional[str] = None, timeout: float = 10) -> dict[str, dict[str, str]]:
    """Name -> labels of every object of ``kind`` in ``namespace`` (None: a kind without one); {} when the
    cluster does not serve the kind."""
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    where = f"/namespaces/{namespace}" if namespace else ""
    body = get(f"{base}{where}/{plural(kind)}", kubeconfig, context, timeout) or {}
    return {str((item.get("metadata") or {}).get("name")): dict((item.get("metadata") or {}).get("labels") or {})
            for item in body.get("items") or [] if isinstance(item, dict)}


def get(path: str, kubeconfig: Optional[str] = None, context: Optional[str] = None,
        timeout: float = 10) -> Optional[dict[str, Any]]:
    """One object from the API server (``path`` like /api/v1/namespaces/x), or None when it does not exist."""
    code, reason, body = _exchange("GET", path, None, None, kubeconfig, context, timeout)
    if code == 404:
        return None
    if code >= 300:
        raise ProbeError(f"the API server answered {code} {reason}")
    if not isinstance(body, dict):
        raise ProbeError(f"the API server answered {code} with no object")
    return body


def readiness(manifest: dict, kubeconfig: Optional[str] = None, context: Optional[str] = None,
              timeout: float = 10) -> Optional[tuple[int, int, bool]]:
    """How the cluster's object that ``manifest`` names (a Deployment, StatefulSet or DaemonSet) serves now: (Ready
    pods, pods it wants, whether all of them are Ready), counted as the provider's wait counts them (pods of the
    current template, for the current generation; none left of another); None when the cluster does not hold it."""
    live = get(object_path(manifest), kubeconfig, context, timeout)
    if live is None:
        return None
    spec, status = live.get("spec") or {}, live.get("status") or {}
    if manifest.get("kind") == "DaemonSet":  # one pod a node: as many as the nodes it is scheduled to
        fields = ("desiredNumberScheduled", "updatedNumberScheduled", "numberReady")
        wanted = int(status.get(fields[0]) or 0)
    else:
        fields = ("replicas", "updatedReplicas", "readyReplicas")
        wanted = int(spec.get("replicas", 1))
    current = int(status.get("observedGeneration") or 0) >= int((live.get("metadata") or {}).get("generation") or 0)
    counts = [int(status.get(f) or 0) for f in fields]
    return (counts[2] if current else 0), wanted, current and counts == [wanted] * 3


def endpoints_serving(namespace: str, pod_labels: dict[str, str], services: list[str],
                      kubeconfig: Optional[str] = None, context: Optional[str] = None,
                      timeout: float = 10) -> tuple[int, int]:
    """(Ready pods ``pod_labels`` selects, how many of them every one of ``services`` has as a ready endpoint in its
    EndpointSlices): what a mesh routes by (istiod, kube-proxy), which the endpoint controller writes a moment
    after a pod is Ready."""
    selector = urllib.parse.quote(",".join(f"{k}={v}" for k, v in sorted(pod_labels.items())))
    pods = get(f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}", kubeconfig, context, timeout) or {}
    ready = {p["metadata"]["name"] for p in pods.get("items") or ()
             if not p["metadata"].get("deletionTimestamp")
             and any(c.get("type") == "Ready" and c.get("status") == "True"
                     for c in (p.get("status") or {}).get("conditions") or ())}
    served = len(ready)
    for service in services:
        label = urllib.parse.quote(f"kubernetes.io/service-name={service}")
        slices = get(f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices?labelSelector={label}",
                     kubeconfig, context, timeout) or {}
        listed = {(e.get("targetRef") or {}).get("name") for s in slices.get("items") or ()
                  for e in s.get("endpoints") or () if (e.get("conditions") or {}).get("ready") is not False}
        served = min(served, len(ready & listed))
    return len(ready), served


REVIEWS = "/apis/authorization.k8s.io/v1"


def access_rules(namespace: str, kubeconfig: Optional[str] = None, context: Optional[str] = None,
                 timeout: float = 10) -> Optional[tuple[list[dict[str, Any]], bool]]:
    """What the credentials may do in ``namespace``, as the API server enumerates it (a SelfSubjectRulesReview, one
    request): (its resource rules, whether the list is incomplete). The rules are those of the bindings in the
    namespace and of the cluster-wide ones; a namespace that does not exist gets the cluster-wide ones, which is
    what the API server would allow there. Incomplete: an authorizer that cannot list its rules (a webhook) may allow
    more, ask ``may`` for what the rules do not grant. None when the server does not serve the review (an old
    one); ProbeError when it cannot be asked."""
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
              "spec": {"namespace": namespace}}
    code, reason, body = _exchange("POST", f"{REVIEWS}/selfsubjectrulesreviews", review, "application/json",
                                   kubeconfig, context, timeout)
    if code in (404, 405):
        return None
    if code >= 300 or not isinstance(body, dict):
        raise ProbeError(f"the API server answered {code} {reason} to a SelfSubjectRulesReview")
    status = body.get("status") or {}
    return [r for r in status.get("resourceRules") or () if isinstance(r, dict)], bool(status.get("incomplete"))


def may(verb: str, group: str, resource: str, namespace: Optional[str], name: Optional[str] = None,
        kubeconfig: Optional[str] = None, context: Optional[str] = None, timeout: float = 10) -> Optional[bool]:
    """Whether the credentials may ``verb`` ``resource`` of API ``group`` (in ``namespace``; None: cluster-scoped;
    ``name``: that object), as the API server decides it (a SelfSubjectAccessReview, one request); None when the
    server does not serve the review. ProbeError when it cannot be asked."""
    attributes = {"verb": verb, "group": group, "resource": resource}
    if namespace:
        attributes["namespace"] = namespace
    if name:
        attributes["name"] = name
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": attributes}}
    code, reason, body = _exchange("POST", f"{REVIEWS}/selfsubjectaccessreviews", review, "application/json",
                                   kubeconfig, context, timeout)
    if code in (404, 405):
        return None
    if code >= 300 or not isinstance(body, dict):
        raise ProbeError(f"the API server answered {code} {reason} to a SelfSubjectAccessReview")
    return bool((body.get("status") or {}).get("allowed"))


def permits(rules: list[dict[str, Any]], verb: str, group: str, resource: str, name: Optional[str] = None) -> bool:
    """Whether one of ``rules`` (resource rules as RBAC writes them) allows ``verb`` on ``resource`` of ``group``
    (the object ``name``, when the request names one), matched as RBAC matches them: "*" stands for any verb, group
    or resource, a rule with resourceNames allows only requests that name one of them."""
    for rule in rules:
        if not _among(verb, rule.get("verbs")) or not _among(group, rule.get("apiGroups")):
            continue
        if not _among(resource, rule.get("resources")):
            continue
        names = rule.get("resourceNames") or ()
        if names and name not in names:
            continue
        return True
    return False


def _among(value: str, allowed) -> bool:
    allowed = allowed or ()
    return "*" in allowed or value in allowed


_local = threading.local()  # one open connection per thread and server: a TLS handshake is most of a request


def _exchange(method: str, path: str, body: Optional[dict], content_type: Optional[str],
              kubeconfig: Optional[str], context: Optional[str], timeout: float) -> tuple[int, str, Any]:
    """One request on this thread's open connection to the server: (status code, reason, parsed JSON body)."""
    server, ctx, headers = _connection(kubeconfig, context)
    url = urllib.parse.urlsplit(server)
    data = None if body is None else json.dumps(body).encode()
    sent = {**headers, **({"Content-Type": content_type} if content_type else {})}
    connections = _local.__dict__.setdefault("connections", {})
    for attempt in (1, 2):  # a kept connection the server has closed meanwhile is opened again, once
        conn = connections.get(server)
        if conn is None:
            conn = (http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=timeout)
                    if url.scheme == "https" else http.client.HTTPConnection(url.hostname, url.port, timeout=timeout))
            connections[server] = conn
        try:
            conn.request(method, url.path.rstrip("/") + path, body=data, headers=sent)
            response = conn.getresponse()
            raw = response.read()
            break
        except (http.client.HTTPException, OSError) as err:
            conn.close()
            connections.pop(server, None)
            if attempt == 2 or isinstance(err, (TimeoutError, ssl.SSLError)):
                raise ProbeError(f"cannot reach the API server at {server}: {err}") from None
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return response.status, response.reason, parsed


DRY_RUN_MANAGER = "oam-dry-run"
# A claim replaced is deleted first, and with it (under a Delete reclaim policy) its volume's data: replaced
# only when a resource-update policy asks for it.
HOLDS_DATA = ("PersistentVolumeClaim",)
SHARED_NAMESPACE = "default"  # where an object of a namespace the stage creates is tried (it cannot be tried there)


def object_path(manifest: dict, namespace: Optional[str] = None) -> str:
    """The API path of the object ``manifest`` names; of its collection when ``namespace`` is given."""
    api = manifest["apiVersion"]
    base = "/api/v1" if api == "v1" else f"/apis/{api}"
    meta = manifest.get("metadata") or {}
    ns = namespace or meta.get("namespace")
    collection = f"{base}{'/namespaces/' + ns if ns else ''}/{plural(manifest['kind'])}"
    return collection if namespace else f"{collection}/{meta['name']}"


def dry_run(manifest: dict, kubeconfig: Optional[str] = None, context: Optional[str] = None,
            timeout: float = 10, recreate: bool = False, absent: bool = False,
            namespace_missing: bool = False) -> Optional[str]:
    """Whether the API server would take ``manifest`` now, asked without changing anything: None when it would,
    else its refusal (a field it does not know, a value it refuses, an admission webhook's denial).

    The object is applied as the provider applies it (server-side apply, forced, as the field manager that
    applied it last, so that fields the new manifest drops are dropped), with ``dryRun=All`` and strict field
    validation: an unknown field is refused here where a real apply would drop it silently. A change the
    server refuses only because the field cannot change in place is no refusal: the provider replaces such an
    object. An object whose namespace does not exist yet is tried, created, in the default namespace instead.
    What the caller knows already is not asked again: ``absent``, the server holds no such object (the object is
    then tried as a new one); ``namespace_missing``, nor its namespace (it is tried in the default namespace at
    once). ProbeError when the server cannot say (unreachable, not allowed to, no dry run for a webhook).
    """
    path = object_path(manifest)
    namespace_missing = namespace_missing and bool(manifest["metadata"].get("namespace"))
    live = None if absent or namespace_missing else get(path, kubeconfig, context, timeout)
    if not namespace_missing:
        manager = DRY_RUN_MANAGER
        for entry in ((live or {}).get("metadata") or {}).get("managedFields") or ():
            if str(entry.get("manager", "")).startswith("pulumi-kubernetes") and entry.get("operation") == "Apply":
                manager = entry["manager"]
        query = f"?dryRun=All&fieldValidation=Strict&fieldManager={manager}&force=true"
        status = _send("PATCH", path + query, manifest, "application/apply-patch+yaml", kubeconfig, context, timeout)
        if status is None:
            return None
        details = status.get("details") or {}
        namespace_missing = status.get("code") == 404 and details.get("kind") == "namespaces" and live is None
    if namespace_missing:
        moved = {**manifest, "metadata": {**manifest["metadata"], "namespace": SHARED_NAMESPACE}}
        status = _send("POST", object_path(manifest, SHARED_NAMESPACE) + "?dryRun=All&fieldValidation=Strict",
                       moved, "application/json", kubeconfig, context, timeout)
        if status is None:
            return None
        if status.get("code") == 409:
            raise ProbeError(f"it cannot be tried: its namespace does not exist yet, and namespace "
                             f"'{SHARED_NAMESPACE}' holds an object of its name")
    return _refusal(status, replaced=live is not None, kind=manifest.get("kind"), recreate=recreate)


def _refusal(status: dict, replaced: bool, kind: Optional[str] = None, recreate: bool = False) -> Optional[str]:
    """The server's answer to a dry run as a refusal (None when it takes the object). ``replaced``: the object
    exists, so a field that cannot change in place means the provider would replace it; ``recreate``: a policy
    asks for that."""
    code, message = status.get("code"), str(status.get("message") or status.get("reason") or "")
    causes = (status.get("details") or {}).get("causes") or []
    if replaced and code == 422 and causes and all(
            "immutable" in str(c.get("message")) or "updates to" in str(c.get("message")) for c in causes):
        if kind in NEVER_REPLACED:
            return (f"{message}; the provider would replace the {kind}, deleting it before it is created again, "
                    "and nothing would serve in between: this program never replaces an object that runs pods or "
                    "routes to them")
        if kind in HOLDS_DATA and not recreate:
            return (f"{message}; the provider would replace the {kind}, deleting it before it is created again, "
                    "and with it, under a Delete reclaim policy, its volume's data: a resource-update policy whose "
                    "recreateFields name the field can ask for that")
        return None  # a field that cannot change in place: the provider replaces the object
    if "does not support dry run" in message:
        raise ProbeError(message)
    if "admission webhook" in message and "denied" in message:
        return message
    if code in (400, 422) or (code == 500 and "failed to create typed patch object" in message):
        return message
    raise ProbeError(f"the API server answered {code}: {message}")


def _send(method: str, path: str, body: dict, content_type: str, kubeconfig: Optional[str],
          context: Optional[str], timeout: float) -> Optional[dict]:
    """One write request; None when it succeeded, else the server's Status (with its code)."""
    code, reason, status = _exchange(method, path, body, content_type, kubeconfig, context, timeout)
    if code < 300:
        return None
    return {**status, "code": code} if isinstance(status, dict) else {"code": code, "message": reason}


def _connection(kubeconfig: Optional[str], context: Optional[str]) -> tuple[str, ssl.SSLContext, dict[str, str]]:
    """Server, TLS context and headers: worked out once a run for one configuration (loading the certificates
    is most of a request's time)."""
    return _connect(kubeconfig, context, os.environ.get("KUBECONFIG", ""))


@functools.lru_cache(maxsize=4)
def _connect(kubeconfig: Optional[str], context: Optional[str], _env: str) -> tuple[str, ssl.SSLContext,
                                                                                     dict[str, str]]:
    config = _load(kubeconfig)
    if config is None:
        return _in_cluster()
    ctx_name = context or config.get("current-context")
    ctx = _named(config, "contexts", ctx_name, "context")
    if ctx is None:
        raise ProbeError(f"kubeconfig has no context '{ctx_name}'")
    cluster = _named(config, "clusters", ctx.get("cluster"), "cluster") or {}
    user = _named(config, "users", ctx.get("user"), "user") or {}
    server = cluster.get("server")
    if not server:
        raise ProbeError(f"context '{ctx_name}' names no cluster server")
    tls = ssl.create_default_context()
    if cluster.get("insecure-skip-tls-verify"):
        tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    elif cluster.get("certificate-authority-data"):
        tls.load_verify_locations(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    elif cluster.get("certificate-authority"):
        tls.load_verify_locations(cafile=cluster["certificate-authority"])
    headers = {"Accept": "application/json"}
    if user.get("exec"):
        user = {**user, **_exec_credential(user["exec"])}
    token = user.get("token") or (Path(user["tokenFile"]).read_text().strip() if user.get("tokenFile") else None)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif user.get("username"):
        basic = base64.b64encode(f"{user['username']}:{user.get('password', '')}".encode()).decode()
        headers["Authorization"] = f"Basic {basic}"
    cert, key = _pem(user, "client-certificate"), _pem(user, "client-key")
    if cert and key:
        with tempfile.TemporaryDirectory() as tmp:
            cert_file, key_file = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
            cert_file.write_bytes(cert)
            key_file.touch(mode=0o600)
            key_file.write_bytes(key)
            tls.load_cert_chain(cert_file, key_file)
    elif user.get("auth-provider"):
        raise ProbeError(f"kubeconfig user auth-provider '{user['auth-provider'].get('name')}' is not supported here")
    return server, tls, headers


def _load(kubeconfig: Optional[str]) -> Optional[dict]:
    """The kubeconfig as the provider would read it; None when there is none (in a cluster)."""
    if kubeconfig:
        text = Path(kubeconfig).expanduser().read_text() if _is_path(kubeconfig) else kubeconfig
        return _parse([text])
    paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if not paths:
        paths = [str(Path.home() / ".kube" / "config")]
    texts = [Path(p).expanduser().read_text() for p in paths if Path(p).expanduser().is_file()]
    return _parse(texts) if texts else None


def _is_path(value: str) -> bool:
    return "\n" not in value and Path(value).expanduser().is_file()


def _parse(texts: list[str]) -> dict:
    """Merge kubeconfig files as kubectl does: the first file to set a value or a named entry wins."""
    merged: dict[str, Any] = {"current-context": None, "clusters": [], "contexts": [], "users": []}
    for text in texts:
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as err:
            raise ProbeError(f"kubeconfig does not parse: {err}") from None
        if not isinstance(data, dict):
            raise ProbeError("kubeconfig is not a mapping")
        if merged["current-context"] is None:
            merged["current-context"] = data.get("current-context")
        for section in ("clusters", "contexts", "users"):
            known = {e.get("name") for e in merged[section]}
            merged[section] += [e for e in data.get(section) or () if isinstance(e, dict) and e.get("name") not in known]
    return merged


def _named(config: dict, section: str, name: Optional[str], key: str) -> Optional[dict]:
    return next((e.get(key) or {} for e in config.get(section) or () if e.get("name") == name), None)


def _pem(user: dict, field: str) -> Optional[bytes]:
    if user.get(f"{field}-data"):
        return base64.b64decode(user[f"{field}-data"])
    if user.get(field):
        return Path(user[field]).read_bytes()
    return None


def _exec_credential(spec: dict) -> dict:
    """Run a kubeconfig exec plugin (cloud logins) and take the credential it prints."""
    env = {**os.environ, **{e["name"]: e["value"] for e in spec.get("env") or ()}}
    try:
        proc = subprocess.run([spec["command"], *(spec.get("args") or ())], env=env, capture_output=True,
                              text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ProbeError(f"kubeconfig exec plugin '{spec.get('command')}' failed: {err}") from None
    if proc.returncode != 0:
        raise ProbeError(f"kubeconfig exec plugin '{spec.get('command')}' failed: {proc.stderr.strip()[:300]}")
    status = (json.loads(proc.stdout or "{}").get("status") or {})
    out = {"token": status.get("token")}
    if status.get("clientCertificateData"):
        out["client-certificate-data"] = base64.b64encode(status["clientCertificateData"].encode()).decode()
        out["client-key-data"] = base64.b64encode(status["clientKeyData"].encode()).decode()
    return out


def _in_cluster() -> tuple[str, ssl.SSLContext, dict[str, str]]:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host or not (IN_CLUSTER / "token").is_file():
        raise ProbeError("no kubeconfig (kubernetes:kubeconfig, KUBECONFIG, ~/.kube/config) and not in a cluster")
    tls = ssl.create_default_context(cafile=str(IN_CLUSTER / "ca.crt"))
    token = (IN_CLUSTER / "token").read_text().strip()
    return f"https://{host}:{port}", tls, {"Accept": "application/json", "Authorization": f"Bearer {token}"}


def describe(kubeconfig: Optional[str] = None, context: Optional[str] = None) -> str:
    """Which cluster a connection goes to, for a person to read: 'context X (server Y)'."""
    config = _load(kubeconfig)
    if config is None:
        return f"the cluster this pod runs in (https://{os.environ.get('KUBERNETES_SERVICE_HOST', '?')})"
    name = context or config.get("current-context")
    ctx = _named(config, "contexts", name, "context") or {}
    cluster = _named(config, "clusters", ctx.get("cluster"), "cluster") or {}
    return f"context '{name}' (server {cluster.get('server', '?')})"


if __name__ == "__main__":
    print(describe())


class Watch:
    """A watch of one collection (``path``, from ``resource_version`` on): its events, as the API server sends
    them, on a connection of its own. ``close()`` from another thread ends ``events()``."""

    def __init__(self, path: str, resource_version: str, kubeconfig: Optional[str] = None,
                 context: Optional[str] = None):
        server, ctx, headers = _connection(kubeconfig, context)
        url = urllib.parse.urlsplit(server)
        self._conn = (http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=30)
                      if url.scheme == "https" else http.client.HTTPConnection(url.hostname, url.port, timeout=30))
        query = urllib.parse.urlencode({"watch": "1", "resourceVersion": resource_version,
                                        "allowWatchBookmarks": "false"})
        self._conn.request("GET", f"{url.path.rstrip('/')}{path}?{query}", headers=headers)
        self._response = self._conn.getresponse()
        if self._response.status >= 300:
            raise ProbeError(f"watch {path}: the API server answered {self._response.status} {self._response.reason}")
        self._conn.sock.settimeout(None)

    def events(self):
        """(type, object) for each event until the watch ends or is closed."""
        while True:
            try:
                line = self._response.readline()
            except Exception:  # noqa: BLE001 - closed under the reader (http.client fails in several ways then)
                return
            if not line:
                return
            try:
                event = json.loads(line)
            except ValueError:
                continue
            yield event.get("type"), event.get("object") or {}

    def close(self) -> None:
        try:
            if self._conn.sock is not None:
                self._conn.sock.shutdown(2)  # socket.SHUT_RDWR: the reading thread sees the end at once
        except OSError:
            pass
        self._conn.close()
