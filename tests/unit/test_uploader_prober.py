"""The prober's pure pieces: messages, framing, rlimits, ffprobe caps, settings, outcome mapping."""

from __future__ import annotations

import resource

import pytest
from pydantic import ValidationError

from hlsforge_api.errors import InvalidInput, StorageError
from hlsforge_media.unix_socket import frame_length
from hlsforge_uploader.prober.client import result_of
from hlsforge_uploader.prober.protocol import (
    MAX_REQUEST_BYTES,
    ProbeRequest,
    ProtocolError,
    frame,
    parse_reply,
    parse_request,
)
from hlsforge_uploader.prober.sandbox import (
    SANDBOX_ENV,
    ProbeOutcome,
    SandboxLimits,
    fd_input,
    ffprobe_caps,
    rlimits,
    url_input,
)
from hlsforge_uploader.settings import ProberSettings, UploaderSettings

FFPROBE_JSON = (
    '{"streams": [{"codec_type": "video", "codec_name": "h264", "width": 320, "height": 240,'
    ' "avg_frame_rate": "25/1", "r_frame_rate": "25/1"}],'
    ' "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "2.0"}}'
)


def test_a_request_is_an_fd_or_one_http_url() -> None:
    assert ProbeRequest(kind="fd", name="abc.mp4").url is None
    url = ProbeRequest(kind="url", name="s3://b/k", url="https://s3/b/k?X-Amz-Signature=1")
    assert url.url is not None
    for bad in (
        {"kind": "fd", "name": "a", "url": "https://x/y"},
        {"kind": "url", "name": "a"},
        {"kind": "url", "name": "a", "url": "file:///etc/passwd"},
        {"kind": "url", "name": "a", "url": "https://x/" + "a" * 9000},
        {"kind": "fd", "name": ""},
        {"kind": "fd", "name": "a", "argv": ["sh"]},
        {"kind": "exec", "name": "a"},
    ):
        with pytest.raises(ValidationError):
            ProbeRequest.model_validate(bad)


def test_frames_round_trip_and_lengths_are_capped_before_reading() -> None:
    request = ProbeRequest(kind="fd", name="abc.mp4")
    data = frame(request)
    assert frame_length(data[:4], MAX_REQUEST_BYTES) == len(data) - 4
    assert parse_request(data[4:]) == request
    with pytest.raises(ProtocolError, match="exceeds"):
        frame_length((MAX_REQUEST_BYTES + 1).to_bytes(4, "big"), MAX_REQUEST_BYTES)
    with pytest.raises(ProtocolError, match="truncated"):
        frame_length(b"\x00\x00", MAX_REQUEST_BYTES)
    with pytest.raises(ProtocolError):
        parse_request(b'{"kind": "fd"}')
    with pytest.raises(ProtocolError):
        parse_reply(b"not json")
    outcome = ProbeOutcome(status="invalid", reason="ProbeFailed", message="no")
    assert parse_reply(frame(outcome)[4:]) == outcome


def test_rlimits_bound_cpu_memory_files_and_forbid_writing_files() -> None:
    limits = SandboxLimits(cpu_seconds=7, address_space_bytes=512 * 1024**2, open_files=16)
    table = {which: (soft, hard) for which, soft, hard in rlimits(limits)}
    assert table == {
        resource.RLIMIT_CPU: (7, 8),
        resource.RLIMIT_AS: (512 * 1024**2, 512 * 1024**2),
        resource.RLIMIT_FSIZE: (0, 0),
        resource.RLIMIT_NOFILE: (16, 16),
        resource.RLIMIT_CORE: (0, 0),
    }
    assert SANDBOX_ENV == {}


def test_every_limit_is_bounded() -> None:
    for field, value in (
        ("timeout_seconds", 0),
        ("timeout_seconds", 601),
        ("cpu_seconds", 0),
        ("address_space_bytes", 1024),
        ("max_alloc_bytes", 10**12),
        ("max_pixels", 10**10),
        ("open_files", 4),
        ("max_output_bytes", 10**9),
    ):
        with pytest.raises(ValidationError):
            SandboxLimits.model_validate({field: value})


def test_inputs_carry_ffprobe_caps_and_their_own_protocols() -> None:
    limits = SandboxLimits(max_alloc_bytes=64 * 1024**2, max_pixels=1920 * 1080)
    caps = ffprobe_caps(limits)
    assert caps == ("-max_alloc", str(64 * 1024**2), "-max_pixels", "2073600", "-threads", "1")
    local = fd_input(5, "abc.mp4", limits)
    assert (local.url, local.protocols, local.options) == ("file:/proc/self/fd/5", "file", caps)
    remote = url_input("https://s3.local/b/k?sig=secret", "s3://b/k", limits)
    assert remote.protocols == "https,tls,tcp"
    assert remote.options[-len(caps) :] == caps and "-reconnect" in remote.options
    assert remote.redact("error at https://s3.local/b/k?sig=secret") == "error at s3://b/k"
    with pytest.raises(ValueError, match="http"):
        url_input("file:///etc/passwd", "x", limits)


def test_an_outcome_becomes_the_engines_result_or_error() -> None:
    result = result_of(ProbeOutcome(status="ok", ffprobe_json=FFPROBE_JSON))
    assert result.video is not None and (result.video.width, result.duration) == (320, 2.0)
    with pytest.raises(InvalidInput) as invalid:
        result_of(ProbeOutcome(status="invalid", reason="ProbeTimeout", message="slow"))
    assert (invalid.value.reason, invalid.value.message) == ("ProbeTimeout", "slow")
    with pytest.raises(StorageError) as gone:
        result_of(ProbeOutcome(status="unavailable", reason="ProberUnavailable", message="x"))
    assert gone.value.reason == "ProberUnavailable"
    with pytest.raises(InvalidInput, match="unreadable"):
        result_of(ProbeOutcome(status="ok", ffprobe_json="{"))


def test_uploader_and_prober_read_the_same_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HLSFORGE_PROBER_SOCKET", "/run/p/probe.sock")
    monkeypatch.setenv("HLSFORGE_PROBER_LIMITS__CPU_SECONDS", "9")
    monkeypatch.setenv("HLSFORGE_PROBER_LIMITS__TIMEOUT_SECONDS", "12.5")
    monkeypatch.setenv("HLSFORGE_PROBER_ALLOWED_UID", "10001")
    prober = ProberSettings()
    uploader = UploaderSettings()
    assert str(prober.socket) == str(uploader.prober_socket) == "/run/p/probe.sock"
    assert prober.limits == uploader.prober_limits
    assert (prober.limits.cpu_seconds, prober.limits.timeout_seconds) == (9, 12.5)
    assert prober.allowed_uid == 10001
    monkeypatch.setenv("HLSFORGE_PROBER_LIMITS__CPU_SECONDS", "100000")
    with pytest.raises(ValidationError):
        ProberSettings()


def test_without_a_socket_the_uploader_probes_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HLSFORGE_PROBER_SOCKET", raising=False)
    assert UploaderSettings().prober_socket is None
