"""A real S3-compatible server on loopback for the end-to-end tests, and a small S3 client to look into it.

The server is versitygw (Versity's S3 gateway, built from the Go module proxy by tools/s3.sh) with its posix
backend: a bucket is a directory under the server's root, an object a file. The client speaks the S3 REST API
with Signature Version 4 (the standard library only), enough to make a bucket and to list, read and delete
objects, as an operator would with any S3 client.
"""
from __future__ import annotations

import datetime
import hashlib
import hmac
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
UNRESERVED = "-_.~"


def server_binary() -> str:
    """tools/s3.sh: builds versitygw into the tools cache when it is not there; the path of the binary."""
    proc = subprocess.run(["bash", str(ROOT / "tools" / "s3.sh")], capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"tools/s3.sh failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout.strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Error(Exception):
    def __init__(self, status: int, body: str):
        super().__init__(f"S3 answered {status}: {body[:500]}")
        self.status = status
        self.body = body


@dataclass
class S3Client:
    """Path-style requests to one S3 endpoint, signed with AWS Signature Version 4."""

    endpoint: str  # http://127.0.0.1:PORT
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def request(self, method: str, path: str, query: Optional[dict[str, str]] = None, body: bytes = b"") -> bytes:
        query = query or {}
        url = urllib.parse.urlsplit(self.endpoint)
        now = datetime.datetime.now(datetime.timezone.utc)
        stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        payload = hashlib.sha256(body).hexdigest()
        uri = urllib.parse.quote(path, safe="/" + UNRESERVED)
        canonical_query = "&".join(f"{urllib.parse.quote(k, safe=UNRESERVED)}={urllib.parse.quote(v, safe=UNRESERVED)}"
                                   for k, v in sorted(query.items()))
        headers = {"host": url.netloc, "x-amz-content-sha256": payload, "x-amz-date": stamp}
        signed = ";".join(sorted(headers))
        canonical = "\n".join([method, uri, canonical_query, *(f"{k}:{headers[k]}" for k in sorted(headers)), "",
                               signed, payload])
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = ("AWS4" + self.secret_key).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                                    f"SignedHeaders={signed}, Signature={signature}")
        del headers["host"]  # urllib sets it, to the same value
        full = f"{self.endpoint}{uri}" + (f"?{canonical_query}" if canonical_query else "")
        req = urllib.request.Request(full, data=body if method in ("PUT", "POST") else None, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.read()
        except urllib.error.HTTPError as e:
            raise S3Error(e.code, e.read().decode(errors="replace")) from None

    def make_bucket(self, bucket: str) -> None:
        self.request("PUT", f"/{bucket}")

    def buckets(self) -> list[str]:
        tree = ET.fromstring(self.request("GET", "/"))
        return [b.findtext(f"{NS}Name") for b in tree.iter(f"{NS}Bucket")]

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key under prefix (ListObjectsV2, page by page)."""
        keys: list[str] = []
        token = None
        while True:
            query = {"list-type": "2", "prefix": prefix}
            if token:
                query["continuation-token"] = token
            tree = ET.fromstring(self.request("GET", f"/{bucket}", query))
            keys += [c.findtext(f"{NS}Key") for c in tree.iter(f"{NS}Contents")]
            token = tree.findtext(f"{NS}NextContinuationToken")
            if tree.findtext(f"{NS}IsTruncated") != "true" or not token:
                return sorted(keys)

    def get(self, bucket: str, key: str) -> bytes:
        return self.request("GET", f"/{bucket}/{key}")

    def delete(self, bucket: str, key: str) -> None:
        self.request("DELETE", f"/{bucket}/{key}")


class S3Server:
    """versitygw serving a posix directory on 127.0.0.1 with one root user; stop() ends it."""

    def __init__(self, binary: str, directory: Path, access_key: str = "oam-e2e-access",
                 secret_key: str = "oam-e2e-secret-key", region: str = "us-east-1", options: tuple[str, ...] = ()):
        self.binary, self.directory = binary, Path(directory)
        self.options = tuple(options)  # more of versitygw's global options (--access-log FILE, say)
        self.access_key, self.secret_key, self.region = access_key, secret_key, region
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def client(self) -> S3Client:
        return S3Client(self.endpoint, self.access_key, self.secret_key, self.region)

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def start(self, timeout: float = 30) -> "S3Server":
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):  # a free port can be taken by someone else before the server binds it
            self.port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith(("VGW_", "ROOT_"))}
            with open(self.log, "a") as log:
                self.proc = subprocess.Popen(
                    [self.binary, "--port", f"127.0.0.1:{self.port}", "--access", self.access_key, "--secret",
                     self.secret_key, "--region", self.region, "--health", "/health", "--quiet", *self.options,
                     "posix", str(data)],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                    start_new_session=True)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"{self.endpoint}/health", timeout=2) as resp:
                        if resp.status == 200:
                            return self
                except (urllib.error.URLError, OSError):
                    pass
                time.sleep(0.1)
            self.stop()
        raise RuntimeError(f"versitygw did not start on 127.0.0.1:{self.port}:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def backend_url(self, bucket: str) -> str:
        """Pulumi's DIY backend URL for a bucket of this server (gocloud.dev's s3blob with the AWS SDK v2):
        the endpoint with its scheme, path-style addressing; the region and keys come from AWS_* variables."""
        return f"s3://{bucket}?endpoint={self.endpoint}&s3ForcePathStyle=true"

    def credentials_env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_REGION": self.region}
