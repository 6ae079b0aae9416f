"""The probe sandbox with the real ffprobe: same verdicts as the engine's probe, an empty
environment and rlimits in the running child, killed by its deadline and its CPU limit, and a
prober process (another uid) that reads an upload by descriptor and cannot open the folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from hlsforge_api.errors import InvalidInput, StorageError
from hlsforge_media.limits import DEFAULT_LIMITS
from hlsforge_media.probe import run_probe, validate
from hlsforge_media.proc import ToolTimeoutError
from hlsforge_uploader.errors import InvalidMedia
from hlsforge_uploader.prober.client import LocalProber, SocketProber
from hlsforge_uploader.prober.protocol import ProbeRequest, frame
from hlsforge_uploader.prober.sandbox import (
    ProbeOutcome,
    SandboxLimits,
    fd_input,
    probe_source,
    run_confined,
)
from hlsforge_uploader.uploads.acceptance import probe

from .conftest import Clips

pytestmark = pytest.mark.media

NOBODY = 65534


def verdict(probe: object, path: Path) -> str:
    """``ok`` or the ``InvalidInput`` reason of probe + the engine's rules."""
    try:
        validate(probe(path), DEFAULT_LIMITS)  # type: ignore[operator]
    except InvalidInput as exc:
        return exc.reason
    return "ok"


@pytest.mark.parametrize(
    "clip",
    [
        "fits_360p.mp4",
        "no_audio.mkv",
        "truncated.mp4",
        "polyglot.mp4",
        "notes.mp4",
        "zero.mp4",
        "concat.mp4",
        "local.m3u8",
        "audio_only.m4a",
        "huge_8192x64.mkv",
        "tiny_8x8.mkv",
    ],
)
def test_the_sandbox_gives_the_engines_verdict(clips: Clips, clip: str) -> None:
    path = clips(clip)
    before = verdict(lambda p: run_probe(p, DEFAULT_LIMITS), path)
    after = verdict(LocalProber(SandboxLimits()).probe, path)
    assert after == before
    assert (after == "ok") == (clip in ("fits_360p.mp4", "no_audio.mkv"))


def test_the_decoders_pixel_cap_gives_the_engines_size_verdict(clips: Clips) -> None:
    """720p against a 360p cap: ffprobe's ``max_pixels`` refuses the frame before ``validate``
    sees the size; the reason is the one ``validate`` gives without the cap."""
    path = clips("ladder_720p.mp4")
    small = replace(DEFAULT_LIMITS, max_pixels=640 * 360)
    before = verdict(lambda p: validate(run_probe(p, small), small), path)
    sandbox = LocalProber(SandboxLimits(max_pixels=640 * 360))
    after = verdict(lambda p: validate(sandbox.probe(p), small), path)
    assert before == after == "DimensionsTooLarge"


def test_a_sandbox_too_tight_to_start_ffprobe_is_not_blamed_on_the_file(clips: Clips) -> None:
    tight = SandboxLimits.model_construct(
        **{**SandboxLimits().model_dump(), "address_space_bytes": 128 * 1024**2}
    )
    with pytest.raises(StorageError, match="cannot start within the sandbox"):
        LocalProber(tight).probe(clips("fits_360p.mp4"))


def test_a_good_clip_is_described(clips: Clips) -> None:
    result = LocalProber(SandboxLimits()).probe(clips("fits_360p.mp4"))
    assert result.video is not None and (result.video.width, result.video.height) == (640, 360)
    assert result.audio is not None and result.duration == pytest.approx(6, abs=0.1)


def test_the_child_has_an_empty_environment_and_the_rlimits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HLSFORGE_TOKENS", "secret-token")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-key")
    limits = SandboxLimits(cpu_seconds=7, address_space_bytes=1024**3, open_files=20)
    done = run_confined(
        ["sh", "-c", "tr '\\0' '\\n' </proc/self/environ; echo ---; cat /proc/self/limits"],
        limits,
    )
    environ, _, table = done.stdout.partition("---\n")
    assert environ.strip() == "" and "secret" not in done.stdout
    rows = {line[:26].strip(): line[26:].split()[:2] for line in table.splitlines()[1:]}
    assert rows["Max cpu time"] == ["7", "8"]
    assert rows["Max address space"] == [str(1024**3)] * 2
    assert rows["Max file size"] == ["0", "0"]
    assert rows["Max open files"] == ["20", "20"]
    assert rows["Max core file size"] == ["0", "0"]


def ffprobe_children() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == os.getpid() and (entry / "comm").read_text().strip() == "ffprobe":
                found.append(int(entry.name))
    return found


def test_a_running_ffprobe_is_confined_and_killed_at_its_deadline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A FIFO that never ends: ffprobe blocks reading it; meanwhile its /proc shows the
    sandbox; at the deadline its group is killed and the verdict is ProbeTimeout."""
    monkeypatch.setenv("HLSFORGE_TOKENS", "secret-token")
    fifo = tmp_path / "slow.mp4"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDWR)  # a writer exists, so reads block instead of ending
    limits = SandboxLimits(timeout_seconds=4, cpu_seconds=3, address_space_bytes=1024**3)
    outcome: list[ProbeOutcome] = []
    seen: dict[str, str] = {}

    def work() -> None:
        outcome.append(probe_source(fd_input(fd, "slow.mp4", limits), limits, (fd,)))

    started = time.monotonic()
    thread = threading.Thread(target=work)
    thread.start()
    try:
        deadline = time.monotonic() + 3
        while not seen and time.monotonic() < deadline:
            for pid in ffprobe_children():
                with contextlib.suppress(OSError):
                    seen["environ"] = Path(f"/proc/{pid}/environ").read_text()
                    seen["limits"] = Path(f"/proc/{pid}/limits").read_text()
                    fds = Path(f"/proc/{pid}/fd").iterdir()
                    seen["fds"] = " ".join(sorted(p.name for p in fds))
            time.sleep(0.05)
        thread.join(15)
    finally:
        os.close(fd)
    elapsed = time.monotonic() - started
    print(f"ffprobe child seen: {seen}; verdict after {elapsed:.1f}s: {outcome}")
    assert seen, "no ffprobe child was seen"
    assert seen["environ"] == ""
    assert "Max cpu time              3                    4" in seen["limits"]
    # stdin, two pipes, the passed descriptor and ffprobe's own reopening of it: nothing else
    assert str(fd) in seen["fds"].split() and len(seen["fds"].split()) <= 5
    assert outcome and outcome[0].status == "invalid" and outcome[0].reason == "ProbeTimeout"
    assert 3.5 < elapsed < 10
    assert not ffprobe_children(), "the group was not killed"


def test_cpu_burning_is_stopped_by_rlimit_cpu() -> None:
    limits = SandboxLimits(cpu_seconds=1, timeout_seconds=30)
    started = time.monotonic()
    with pytest.raises(ToolTimeoutError, match="CPU limit of 1 s"):
        run_confined([sys.executable, "-c", "while True: pass"], limits)
    elapsed = time.monotonic() - started
    print(f"a CPU-bound child was stopped after {elapsed:.2f}s wall (cpu limit 1 s)")
    assert elapsed < 10


def test_the_wall_clock_deadline_kills_a_sleeping_child() -> None:
    started = time.monotonic()
    with pytest.raises(ToolTimeoutError):
        run_confined(["sleep", "60"], SandboxLimits(timeout_seconds=1))
    assert time.monotonic() - started < 5


# -- the prober process, as another uid --------------------------------------------------------


def nobody_python() -> list[str]:
    """A python that uid 65534 may run (this venv's interpreter may live under /root), with
    this process's import path; skips where it cannot be had."""
    if os.geteuid() != 0:
        pytest.skip("needs root to start the prober as another uid")
    system = shutil.which("python3", path="/usr/bin:/bin")
    if system is None:
        pytest.skip("no system python3")
    version = subprocess.run(
        [system, "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if version != str(sys.version_info[:2]):
        pytest.skip(f"system python3 {version} differs from {sys.version_info[:2]}")
    return [system]


@contextlib.contextmanager
def prober_as_nobody(allowed_uid: int | None = None) -> Iterator[Path]:
    run_dir = Path(tempfile.mkdtemp(prefix="prober-"))
    run_dir.chmod(0o777)
    sock = run_dir / "probe.sock"
    paths = [p for p in sys.path if p and Path(p).is_dir() and not p.startswith("/root")]
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": os.pathsep.join(paths),
        "HLSFORGE_PROBER_SOCKET": str(sock),
        "HLSFORGE_PROBER_LIMITS__TIMEOUT_SECONDS": "20",
    }
    if allowed_uid is not None:
        env["HLSFORGE_PROBER_ALLOWED_UID"] = str(allowed_uid)
    proc = subprocess.Popen(
        [*nobody_python(), "-m", "hlsforge_uploader.prober"],
        env=env,
        cwd="/",
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not SocketProber(sock, SandboxLimits()).ready():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the prober did not start"
            time.sleep(0.1)
        yield sock
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, log = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, log = proc.communicate()
        print(log)
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
def private_media(clips: Clips) -> Iterator[Path]:
    """A media folder only root may enter, holding one good clip (mode 0644, like uploads)."""
    root = Path(tempfile.mkdtemp(prefix="media-"))
    root.chmod(0o700)
    clip = root / "upload.mp4"
    shutil.copyfile(clips("fits_360p.mp4"), clip)
    clip.chmod(0o644)
    yield clip
    shutil.rmtree(root, ignore_errors=True)


def test_the_prober_reads_the_descriptor_and_not_the_folder(private_media: Path) -> None:
    # uid 65534 cannot open the upload by its name ...
    denied = subprocess.run(
        [*nobody_python(), "-c", f"open({str(private_media)!r}, 'rb')"],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        capture_output=True,
        text=True,
        check=False,
    )
    assert denied.returncode != 0 and "PermissionError" in denied.stderr
    with prober_as_nobody(allowed_uid=0) as sock:
        prober = SocketProber(sock, SandboxLimits())
        # ... but the prober, running as uid 65534, probes it through the descriptor we send
        result = prober.probe(private_media)
        assert result.video is not None and result.video.width == 640
        # a URL other than http(s) is refused by the message model before anything runs
        with pytest.raises(StorageError, match="local input"):
            prober.probe(fd_input(0, "x", SandboxLimits()))
        # an fd request without a descriptor is refused by the prober
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(str(sock))
            conn.sendall(frame(ProbeRequest(kind="fd", name="none")))
            reply = conn.recv(4096)
        assert b"BadRequest" in reply and b"one descriptor" in reply


def test_the_prober_refuses_another_peer_uid(private_media: Path) -> None:
    with prober_as_nobody(allowed_uid=12345) as sock:
        with pytest.raises(StorageError) as refused:
            SocketProber(sock, SandboxLimits()).probe(private_media)
        assert refused.value.reason == "ProberUnavailable"


def test_intake_maps_sandbox_errors_as_before(clips: Clips) -> None:
    probe(LocalProber(SandboxLimits()), clips("fits_360p.mp4"), "mov")
    with pytest.raises(InvalidMedia) as bad:
        probe(LocalProber(SandboxLimits()), clips("polyglot.mp4"), "mov")
    assert bad.value.reason == "ProbeFailed"
