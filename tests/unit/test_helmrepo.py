"""The chart repository fixture (tests/helmrepo.py) serves what a Helm client reads, over real HTTP.

Our greeter chart (examples/charts/greeter) is packaged at two versions, served on loopback and
fetched back with urllib: the index must list both with the sha256 of the bytes served, and an
archive must hold the chart under ``greeter/`` with the version and values asked for.
"""
from __future__ import annotations

import hashlib
import io
import tarfile
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.helmrepo import ChartRepo, package, write_index

GREETER = Path(__file__).resolve().parents[2] / "examples" / "charts" / "greeter"


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200, url
        return response.read()


def _members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


@pytest.fixture
def repo():
    with ChartRepo() as repo:
        repo.add(GREETER, "0.1.0")
        repo.add(GREETER, "0.2.0", values={"message": "bonjour", "replicas": 3})
        yield repo


def test_the_index_lists_both_versions_with_the_digests_of_what_is_served(repo):
    index = yaml.safe_load(_get(f"{repo.url}/index.yaml"))
    assert index["apiVersion"] == "v1"
    entries = index["entries"]["greeter"]
    assert [e["version"] for e in entries] == ["0.2.0", "0.1.0"]  # newest first, as Helm writes it
    for entry in entries:
        assert entry["name"] == "greeter" and entry["apiVersion"] == "v2"
        assert entry["appVersion"] == "1.0"
        assert entry["urls"] == [f"{repo.url}/greeter-{entry['version']}.tgz"]
        served = _get(entry["urls"][0])
        assert entry["digest"] == hashlib.sha256(served).hexdigest()
        assert entry["created"]
    assert repo.fetched("index.yaml") and repo.fetched("greeter-0.1.0.tgz") and repo.fetched("greeter-0.2.0.tgz")
    assert not repo.fetched("greeter-0.3.0.tgz")


def test_an_archive_holds_the_chart_at_the_version_asked(repo):
    members = _members(_get(f"{repo.url}/greeter-0.2.0.tgz"))
    assert {"greeter/Chart.yaml", "greeter/values.yaml", "greeter/values-production.yaml",
            "greeter/templates/deployment.yaml", "greeter/templates/service.yaml",
            "greeter/templates/configmap.yaml"} <= set(members)
    assert all(name.startswith("greeter/") for name in members)
    chart = yaml.safe_load(members["greeter/Chart.yaml"])
    assert (chart["apiVersion"], chart["name"], chart["version"]) == ("v2", "greeter", "0.2.0")
    # Files not rewritten go in byte for byte.
    assert members["greeter/templates/deployment.yaml"] == (GREETER / "templates" / "deployment.yaml").read_bytes()


def test_values_overrides_land_in_values_yaml_and_the_rest_stays(repo):
    values = yaml.safe_load(_members(_get(f"{repo.url}/greeter-0.2.0.tgz"))["greeter/values.yaml"])
    defaults = yaml.safe_load((GREETER / "values.yaml").read_text())
    assert values == {**defaults, "message": "bonjour", "replicas": 3}
    untouched = _members(_get(f"{repo.url}/greeter-0.1.0.tgz"))
    assert untouched["greeter/values.yaml"] == (GREETER / "values.yaml").read_bytes()
    assert yaml.safe_load(untouched["greeter/Chart.yaml"])["version"] == "0.1.0"


def test_the_greeter_chart_has_the_defaults_the_tests_rely_on():
    chart = yaml.safe_load((GREETER / "Chart.yaml").read_text())
    assert (chart["apiVersion"], chart["name"], chart["version"]) == ("v2", "greeter", "0.1.0")
    values = yaml.safe_load((GREETER / "values.yaml").read_text())
    assert (values["replicas"], values["message"], values["port"]) == (1, "hello", 8080)
    assert yaml.safe_load((GREETER / "values-production.yaml").read_text()) == {"message": "production",
                                                                                 "replicas": 2}


def test_packaging_is_deterministic(tmp_path):
    first = package(GREETER, tmp_path / "a", version="1.2.3", values={"message": "x"})
    second = package(GREETER, tmp_path / "b", version="1.2.3", values={"message": "x"})
    assert first.name == second.name == "greeter-1.2.3.tgz"
    assert first.read_bytes() == second.read_bytes()
    # Without a version the chart's own is used, and the chart directory is never changed.
    assert package(GREETER, tmp_path / "c").name == "greeter-0.1.0.tgz"
    assert yaml.safe_load((GREETER / "Chart.yaml").read_text())["version"] == "0.1.0"


def test_write_index_alone_names_urls_under_the_base(tmp_path):
    package(GREETER, tmp_path, version="0.1.0")
    index = yaml.safe_load(write_index(tmp_path, "http://charts.example/repo/").read_text())
    assert index["entries"]["greeter"][0]["urls"] == ["http://charts.example/repo/greeter-0.1.0.tgz"]
