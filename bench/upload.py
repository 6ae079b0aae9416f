"""Uploader benchmark over loopback: throughput next to a plain copy, and peak RSS.

For each size (default 256 MiB and 1 GiB): a valid MP4 padded to that size (a real clip plus
a trailing ``free`` box, so ffprobe accepts it and a TranscodeJob is created), then
1. a plain copy of the file on the same disk (read + write + fsync, as the upload does);
2. the same file POSTed to a running uploader (``python -m hlsforge_uploader`` on 127.0.0.1,
   the real cluster behind it), timed from the first byte sent to the 201;
3. the uploader's peak RSS (VmHWM, reset before each upload) - the goal is < 150 MB and flat
   with the file size.
Each is run ``--repeat`` times (default 3): medians of the rates, the largest peak RSS.

``--s3``: the same against S3 storage. A versitygw server (``tests/s3server.py``) is started on
127.0.0.1 over a scratch folder and the uploader streams each upload to it as a multipart
upload (``HLSFORGE_STORAGE=s3``); the baseline is then boto3's own ``upload_file`` of the file
to the same server (what a client uploading directly would get). ``--size MIB`` runs one size
only (``--size 64`` for a quick look).

Prints figures; asserts nothing. Usage: ``python bench/upload.py [--sizes-mib 256 1024]
[--s3] [--size MIB]`` (the cluster must be up: ``make cluster-up``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from hlsforge_storage.locations import S3Uri

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.test_uploader_harness import (  # noqa: E402
    TOKEN,
    free_port,
    make_clip,
    pad_mp4,
    reset_peak_rss,
    rss_kib,
    wait_for,
)
from tests.s3server import S3Server  # noqa: E402

BUCKET = "bench"

MiB = 1024 * 1024


def cluster_py(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(REPO / "hack" / "cluster.py"), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (load on other cores does not count)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def copy_rate(src: Path, dst: Path) -> float:
    started = time.perf_counter()
    with src.open("rb") as fin, dst.open("wb") as fout:
        shutil.copyfileobj(fin, fout, MiB)
        fout.flush()
        os.fsync(fout.fileno())
    elapsed = time.perf_counter() - started
    dst.unlink()
    return src.stat().st_size / MiB / elapsed


def s3_put_rate(server: S3Server, src: Path) -> float:
    """boto3's managed upload of ``src`` to the server: the direct-to-S3 baseline."""
    objects = server.objects()
    target = S3Uri(BUCKET, "baseline/src.mp4")
    started = time.perf_counter()
    objects.client.upload_file(str(src), target.bucket, target.key)
    elapsed = time.perf_counter() - started
    objects.delete(target)
    return src.stat().st_size / MiB / elapsed


def upload_rate(base: str, path: Path) -> tuple[float, int]:
    def body() -> Iterator[bytes]:
        with path.open("rb") as f:
            while block := f.read(MiB):
                yield block

    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Length": str(path.stat().st_size)}
    started = time.perf_counter()
    r = httpx.post(f"{base}/v1/uploads", content=body(), headers=headers, timeout=600)
    elapsed = time.perf_counter() - started
    if r.status_code != 201:
        raise SystemExit(f"upload refused: {r.status_code} {r.text}")
    return path.stat().st_size / MiB / elapsed, r.status_code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mib", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; medians printed")
    parser.add_argument("--size", type=int, metavar="MIB", help="one size only, in MiB")
    parser.add_argument("--s3", action="store_true", help="S3 storage (versitygw) instead")
    args = parser.parse_args()
    sizes: list[int] = [args.size] if args.size else args.sizes_mib
    kubeconfig = cluster_py("kubeconfig")
    kubectl = cluster_py("path", "kubectl")
    namespace = f"bench-upload-{os.getpid()}"

    def k(*argv: str) -> None:
        subprocess.run(
            [kubectl, f"--kubeconfig={kubeconfig}", *argv], check=True, capture_output=True
        )

    k("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "deploy" / "crds"))
    k("create", "namespace", namespace)
    work = Path(tempfile.mkdtemp(prefix="hlsforge-bench-", dir="/var/tmp"))
    media = work / "media"
    media.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "KUBECONFIG": kubeconfig,
        "HLSFORGE_NAMESPACE": namespace,
        "HLSFORGE_MEDIA_ROOT": str(media),
        "HLSFORGE_TOKENS": TOKEN,
        "HLSFORGE_PORT": str(port),
        "HLSFORGE_LOG_LEVEL": "warning",
        "HLSFORGE_MAX_UPLOAD_BYTES": str(64 * 1024 * MiB),
    }
    server: S3Server | None = None
    if args.s3:
        server = S3Server(work / "s3", work / "versitygw.log").start()
        server.bucket(BUCKET)
        env |= server.env | {"HLSFORGE_STORAGE": "s3", "HLSFORGE_S3_BUCKET": BUCKET}
    proc = subprocess.Popen([sys.executable, "-m", "hlsforge_uploader"], env=env)
    base = f"http://127.0.0.1:{port}"
    rows: list[tuple[int, float, float, float, float]] = []
    idle_mb = 0.0
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for("the uploader", ready, timeout=30, every=0.2)
        idle_mb = rss_kib(proc.pid)["VmRSS"] / 1024
        clip = make_clip(work / "clip.mp4", seconds=2)
        for size in sizes:
            src = pad_mp4(clip, work / f"src-{size}.mp4", size * MiB)
            copies, rates, peaks, cpus = [], [], [], []
            for _ in range(args.repeat):
                if server is not None:
                    copies.append(s3_put_rate(server, src))
                else:
                    copies.append(copy_rate(src, work / "copy.bin"))
                reset_peak_rss(proc.pid)
                cpu_before = cpu_seconds(proc.pid)
                rates.append(upload_rate(base, src)[0])
                cpus.append((cpu_seconds(proc.pid) - cpu_before) / (size / 1024))
                peaks.append(rss_kib(proc.pid)["VmHWM"] / 1024)
                if server is not None:
                    server.objects().delete_prefix(S3Uri(BUCKET, "uploads"))
                for f in (media / "uploads").glob("*"):
                    f.unlink()
            median = statistics.median
            rows.append((size, median(copies), median(rates), max(peaks), median(cpus)))
            src.unlink()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if server is not None:
            server.stop()
        subprocess.run(
            [
                kubectl,
                f"--kubeconfig={kubeconfig}",
                "delete",
                "namespace",
                namespace,
                "--wait=false",
            ],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(work, ignore_errors=True)
    storage = "S3 (versitygw, multipart)" if args.s3 else "the volume"
    print(
        f"uploader to {storage} over loopback (idle RSS {idle_mb:.0f} MB; median of"
        f" {args.repeat} runs, peak RSS = max); goal: peak RSS < 150 MB, flat"
    )
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    baseline = "boto3 PUT" if args.s3 else "plain copy"
    head = f"{'size':>8}  {baseline:>12}  {'upload':>12}  {'ratio':>6}  {'peak RSS':>9}"
    print(f"{head}  {'server CPU':>13}")
    for size, copy, rate, peak, cpu in rows:
        print(
            f"{size:>5} MiB  {copy:>7.0f} MB/s  {rate:>7.0f} MB/s  {rate / copy:>6.2f}"
            f"  {peak:>6.0f} MB  {cpu:>6.2f} s/GiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
