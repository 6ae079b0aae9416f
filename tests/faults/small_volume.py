"""A real, small filesystem as a test namespace's media volume, and a filler that makes it full.

An ext4 image (``mkfs.ext4 -m 0``: no blocks reserved for root, so the operator and the
transcoder's uid see the same free space) is loop-mounted over the namespace's media folder
before its operator starts; the hostPath PV of ``MediaVolume`` then exposes it to the pods.
``fill()`` takes every free block (the moment a row strikes), ``free()`` gives them back. The
fixture unmounts the filesystem and removes the image whatever the test did. Needs root.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import KubeCluster
from tests.integration.harness import OperatorProcess, free_port, media_namespace
from tests.integration.operator_env import Api, Env

FILLER = ".filler"
_CHUNK = 1 << 20


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60)


@dataclass
class SmallVolume:
    root: Path
    image: Path

    @classmethod
    def mount(cls, root: Path, size_mb: int) -> SmallVolume:
        image = root.with_name(f"{root.name}.ext4")
        with image.open("wb") as f:
            f.truncate(size_mb << 20)
        _run("mkfs.ext4", "-q", "-F", "-m", "0", "-E", "nodiscard", str(image))
        _run("mount", "-o", "loop", str(image), str(root))
        root.chmod(0o777)  # the transcoder runs as uid 10001
        return cls(root, image)

    def free_bytes(self) -> int:
        info = os.statvfs(self.root)
        return info.f_bavail * info.f_frsize

    def fill(self) -> int:
        """Take every free block with one root-owned file; the bytes it took."""
        path = self.root / FILLER
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            with contextlib.suppress(OSError):  # the last blocks go by writing
                os.posix_fallocate(fd, os.fstat(fd).st_size, self.free_bytes())
            chunk = b"\0" * _CHUNK
            while True:
                try:
                    os.write(fd, chunk)
                except OSError:
                    if len(chunk) == 1:
                        break
                    chunk = chunk[: len(chunk) // 2]
            os.fsync(fd)
            return os.fstat(fd).st_size
        finally:
            os.close(fd)

    def free(self) -> None:
        (self.root / FILLER).unlink(missing_ok=True)
        os.sync()

    def unmount(self) -> None:
        done = subprocess.run(["umount", str(self.root)], capture_output=True, check=False)
        if done.returncode != 0:  # still busy (a pod's mount going away): detach lazily
            subprocess.run(["umount", "-l", str(self.root)], capture_output=True, check=False)
        self.image.unlink(missing_ok=True)


def small_volume_env(
    cluster: KubeCluster, prefix: str, size_mb: int, **operator_settings: str
) -> Iterator[tuple[Env, SmallVolume]]:
    """``operator_env_in`` on a ``size_mb`` filesystem of its own (stopped, unmounted and
    removed after)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    namespace, media = media_namespace(cluster, prefix)
    volume = SmallVolume.mount(media.root, size_mb)
    env = Env(
        cluster,
        namespace,
        media,
        Api(cluster.kubeconfig, namespace),
        OperatorProcess(env={}, log_path=Path()),
        free_port(),
    )
    try:
        env.operator = env.new_operator("main", settings=operator_settings).start()
        yield env, volume
    finally:
        # While the operator still runs (its finalizer), so no pod keeps the volume mounted.
        cluster.kubectl("delete", "namespace", namespace, "--wait=true", check=False, timeout=120)
        env.operator.stop()
        volume.unmount()
        media.remove(cluster)
