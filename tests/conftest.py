"""Fixtures every test folder may use: the real S3-compatible server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.s3server import S3Server

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """versitygw on a free 127.0.0.1 port for the whole session; stopped at the end."""
    ARTIFACTS.mkdir(exist_ok=True)
    server = S3Server(tmp_path_factory.mktemp("s3"), ARTIFACTS / "versitygw.log").start()
    try:
        yield server
    finally:
        server.stop()
