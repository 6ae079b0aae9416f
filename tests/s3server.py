"""A real S3-compatible server for tests: versitygw (posix backend), built from its Go module.

``hack/cluster.py build`` builds the pinned binary into the cache; ``S3Server.start`` runs it on
a free 127.0.0.1 port over a fresh directory, and ``stop`` ends it. Credentials are random per
server and handed to clients through the environment (the default chain), never in code paths
that log.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from hlsforge_storage.locations import S3Uri
from hlsforge_storage.s3 import S3Objects
from hlsforge_storage.s3config import S3Config

REPO = Path(__file__).resolve().parent.parent


def versitygw_binary() -> Path:
    argv = ["python3", str(REPO / "hack" / "cluster.py"), "path", "versitygw"]
    path = Path(subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip())
    if not path.exists():
        build = ["python3", str(REPO / "hack" / "cluster.py"), "build"]
        subprocess.run(build, check=True)
    return path


class S3Access(ABC):
    """What every S3 server of the tests offers: its keys, the environment a process needs to
    reach it (credentials via the default chain), and a client for assertions."""

    access_key: str
    secret_key: str

    @property
    @abstractmethod
    def endpoint(self) -> str:
        """Where a host process reaches the server."""

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_EC2_METADATA_DISABLED": "true",
            "HLSFORGE_S3_ENDPOINT": self.endpoint,
            "HLSFORGE_S3_REGION": "us-east-1",
            "HLSFORGE_S3_ADDRESSING": "path",
        }

    def config(self) -> S3Config:
        return S3Config.from_env(self.env)

    def objects(self) -> S3Objects:
        """A client for tests; the credentials are passed explicitly, not via os.environ."""
        session = boto3.session.Session(
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key
        )
        return S3Objects.from_config(self.config(), session)

    def open_multipart_uploads(self, bucket: str) -> list[str]:
        answer = self.objects().client.list_multipart_uploads(Bucket=bucket)
        return [u["Key"] for u in answer.get("Uploads", [])]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class S3Server(S3Access):
    root: Path
    log: Path
    port: int = 0
    access_key: str = field(default_factory=lambda: "hlsforge" + secrets.token_hex(4))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        data = self.root / "data"
        data.mkdir(parents=True, exist_ok=True)
        self.port = self.port or _free_port()
        argv = [str(versitygw_binary()), "--port", f"127.0.0.1:{self.port}", "--quiet"]
        argv += ["posix", str(data)]
        env = dict(os.environ) | {
            "ROOT_ACCESS_KEY_ID": self.access_key,
            "ROOT_SECRET_ACCESS_KEY": self.secret_key,
        }
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=out, env=env,
                                         start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"versitygw exited: {self.log.read_text()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"versitygw did not listen on {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def bucket(self, name: str) -> S3Uri:
        """Create bucket ``name`` (idempotent) and return its root."""
        objects = self.objects()
        existing = {b["Name"] for b in objects.client.list_buckets().get("Buckets", [])}
        if name not in existing:
            objects.client.create_bucket(Bucket=name)
        return S3Uri(name, "")
