"""A Helm chart repository on loopback, for the tests of the helm component.

    with ChartRepo() as repo:                                # 127.0.0.1, a free port, a daemon thread
        repo.add(CHARTS / "greeter", "0.1.0")
        repo.add(CHARTS / "greeter", "0.2.0", values={"message": "hi"})
        ...                                                  # Chart(chart="greeter", version="0.2.0",
                                                             #       repository_opts={"repo": repo.url})
        assert "/greeter-0.2.0.tgz" in repo.requests         # the provider did fetch it

No ``helm`` binary is needed: ``package`` writes the archive ``helm package`` would (a gzipped
tar of ``<name>/...``), and ``write_index`` the repository's ``index.yaml`` (``apiVersion: v1``,
one entry per archive with its ``urls`` and the sha256 ``digest`` of its bytes), which is all a
client reads from a classic (non-OCI) repository over plain HTTP.

Archives are deterministic: members sorted, every mtime ``EPOCH``, owner 0/0 without names,
modes 0644/0755, gzip without a name or a timestamp. The same chart, version and values give
the same bytes and so the same digest, run after run.

``package`` changes a copy only: Chart.yaml's ``version`` (when ``version`` is given) and the
top-level keys of values.yaml (when ``values`` is given) are rewritten in the archive; the chart
directory is left as it is. Rewritten files are dumped again by pyyaml, so their comments are
lost; files that are not rewritten go in byte for byte.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import yaml

EPOCH = 1_704_067_200  # 2024-01-01T00:00:00Z: every member's mtime, and each index entry's `created`
INDEX = "index.yaml"

PathLike = Union[str, Path]


def _dump(data: Any) -> bytes:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True).encode()


def _chart_files(chart_dir: Path) -> list[Path]:
    """The files of the chart, as ``helm package`` takes them: everything but hidden files and folders."""
    return sorted(p for p in chart_dir.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(chart_dir).parts))


def _member(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), EPOCH, mode
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info, io.BytesIO(data)


def package(chart_dir: PathLike, dest_dir: PathLike, version: Optional[str] = None,
            values: Optional[Mapping[str, Any]] = None) -> Path:
    """Write ``<name>-<version>.tgz`` of the chart in chart_dir into dest_dir (created if missing); return its path.

    version replaces Chart.yaml's ``version``; values overrides values.yaml's top-level keys (a key absent from
    it is added). The archive's members are ``<name>/Chart.yaml``, ``<name>/values.yaml``, ``<name>/templates/...``
    and the chart's other files, like ``helm package`` makes them."""
    chart_dir, dest_dir = Path(chart_dir), Path(dest_dir)
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text(encoding="utf-8"))
    name = chart["name"]
    rewritten: dict[str, bytes] = {}
    if version is not None:
        chart["version"] = str(version)
        rewritten["Chart.yaml"] = _dump(chart)
    if values:
        path = chart_dir / "values.yaml"
        current = (yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None) or {}
        rewritten["values.yaml"] = _dump({**current, **dict(values)})

    members: dict[str, tuple[bytes, int]] = {}
    for path in _chart_files(chart_dir):
        rel = path.relative_to(chart_dir).as_posix()
        mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
        members[rel] = (rewritten.get(rel, path.read_bytes()), mode)
    for rel, data in rewritten.items():  # values.yaml when the chart had none
        members.setdefault(rel, (data, 0o644))

    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / f"{name}-{chart['version']}.tgz"
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for rel in sorted(members):
                data, mode = members[rel]
                tar.addfile(*_member(f"{name}/{rel}", data, mode))
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(raw.getvalue())
    tmp.replace(target)  # a server reading it meanwhile sees the old archive or the new one, never half
    return target


def _chart_of(archive: Path) -> dict[str, Any]:
    """Chart.yaml of a packaged chart (the one member ``<top>/Chart.yaml``)."""
    with tarfile.open(archive, "r:gz") as tar:
        for info in tar.getmembers():
            parts = info.name.split("/")
            if len(parts) == 2 and parts[1] == "Chart.yaml" and info.isfile():
                return yaml.safe_load(tar.extractfile(info).read().decode("utf-8"))
    raise ValueError(f"{archive}: no <name>/Chart.yaml in the archive")


def _version_key(version: str) -> tuple:
    """Newest first as Helm lists them: by the numbers of major.minor.patch, a pre-release before its release."""
    core, _, pre = str(version).partition("-")
    numbers = tuple(int(p) if p.isdigit() else 0 for p in core.split("+")[0].split("."))
    return numbers, pre == "", pre


def write_index(dest_dir: PathLike, base_url: str) -> Path:
    """Write dest_dir/index.yaml listing every ``*.tgz`` in dest_dir under base_url; return its path.

    Each entry carries the chart's Chart.yaml metadata (apiVersion, name, version, appVersion, ...) plus ``urls``
    (``<base_url>/<file>``), ``digest`` (sha256 of the archive's bytes) and ``created``."""
    dest_dir = Path(dest_dir)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(EPOCH))
    entries: dict[str, list[dict[str, Any]]] = {}
    for archive in sorted(dest_dir.glob("*.tgz")):
        chart = _chart_of(archive)
        entry = {k: v for k, v in chart.items() if v is not None}
        entry.update({
            "urls": [f"{base_url.rstrip('/')}/{archive.name}"],
            "digest": hashlib.sha256(archive.read_bytes()).hexdigest(),
            "created": created,
        })
        entries.setdefault(chart["name"], []).append(entry)
    for versions in entries.values():
        versions.sort(key=lambda e: _version_key(e["version"]), reverse=True)
    index = {"apiVersion": "v1", "entries": dict(sorted(entries.items())),
             "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    target = dest_dir / INDEX
    tmp = target.with_name(f".{INDEX}.tmp")
    tmp.write_bytes(_dump(index))
    tmp.replace(target)
    return target


class ChartRepo:
    """A Helm chart repository served over HTTP on 127.0.0.1 from a daemon thread, for as long as the ``with``.

    directory: where the archives and index.yaml are kept (a temporary folder, removed at the end, when None).
    ``url`` is the repository's address (``http://127.0.0.1:PORT``, no trailing slash); ``add`` packages a chart
    into it and writes the index again; ``requests`` lists the paths asked for (GET and HEAD), in order, so a
    test can tell whether a client fetched the index or an archive."""

    def __init__(self, directory: Optional[PathLike] = None) -> None:
        self._tmp: Optional[tempfile.TemporaryDirectory] = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="chart-repo-")
            directory = self._tmp.name
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the repository is not serving (use it in a with)"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "ChartRepo":
        if self._server is not None:
            return self
        repo = self

        class Handler(SimpleHTTPRequestHandler):
            def send_head(self):  # both GET and HEAD come here
                with repo._lock:
                    repo.requests.append(self.path)
                return super().send_head()

            def guess_type(self, path):
                return "application/x-yaml" if str(path).endswith(".yaml") else "application/gzip"

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: a line per request otherwise, on stderr

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(self.directory)))
        self._server.daemon_threads = True
        # A short poll: shutdown() waits for the loop's next look (0.5 s by default).
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="chart-repo", daemon=True)
        self._thread.start()
        write_index(self.directory, self.url)  # an empty repository is still a repository
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "ChartRepo":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add(self, chart_dir: PathLike, version: str, values: Optional[Mapping[str, Any]] = None) -> Path:
        """Package chart_dir at version (values overriding values.yaml's top-level keys) into the repository and
        write index.yaml again; return the archive's path. Adding the same version again replaces it."""
        archive = package(chart_dir, self.directory, version=version, values=values)
        write_index(self.directory, self.url)
        return archive

    def fetched(self, name: str) -> bool:
        """Whether a client asked for the file ``name`` (``index.yaml``, ``greeter-0.1.0.tgz``)."""
        with self._lock:
            return any(p.split("?", 1)[0].rstrip("/").endswith("/" + name) for p in self.requests)
