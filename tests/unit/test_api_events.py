"""The event protocol (``hlsforge_api.events``): every event the engine emits validates and
round-trips, lines printed by earlier engines still read the same, and garbage is refused."""

from __future__ import annotations

import ast
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

import hlsforge_api
from hlsforge_api import errors
from hlsforge_api.events import (
    Done,
    Error,
    Event,
    Planned,
    Probed,
    Progress,
    Publishing,
    SourceSummary,
    decode,
    encode,
)
from hlsforge_api.v1alpha1 import EncodingSettings
from hlsforge_media.limits import Limits
from hlsforge_media.probe import AudioStream, ProbeResult, VideoStream
from hlsforge_transcoder.__main__ import done_event
from hlsforge_transcoder.ladder import plan_ladder
from hlsforge_transcoder.progress import ProgressParser
from hlsforge_transcoder.run import Result, planned

# Lines as the engine printed them before the events were models (docs/transcoder.md): old
# pods keep printing them, and the operator and scripts must read them unchanged.
LEGACY = [
    '{"event":"probed","source":{"format":"mov","duration":30.0,"video":{"codec":"h264",'
    '"width":1920,"height":1080,"displayWidth":1920,"displayHeight":1080,"fps":29.97,'
    '"variableFrameRate":false,"rotation":0,"profile":"High","pixFmt":"yuv420p"},'
    '"audio":{"codec":"aac","channels":2}}}',
    '{"event":"probed","source":{"format":"matroska","duration":4.2,"video":{"codec":"vp9",'
    '"width":318,"height":178,"displayWidth":318,"displayHeight":178,"fps":25.0,'
    '"variableFrameRate":true,"rotation":90,"profile":null,"pixFmt":null},"audio":null}}',
    '{"event":"planned","renditions":[{"name":"1080p","resolution":"1920x1080","kbps":5000,'
    '"copy":true},{"name":"720p","resolution":"1280x720","kbps":2800,"copy":false}],'
    '"fps":30.0,"notes":["top rendition re-encoded: source bitrate too high"]}',
    '{"event":"progress","percent":41.3,"out_time":12.4,"fps":48.0,"speed":1.6,"eta":11.0,'
    '"frame":372}',
    '{"event":"progress","percent":0.0,"out_time":0.0,"fps":null,"speed":null,"eta":null,'
    '"frame":null}',
    '{"event":"publishing","destination":"s3://media/hls/abc"}',
    '{"event":"done","exit_code":0,"committed":true,"outputs":{"masterPlaylist":'
    '"s3://media/hls/abc/v20261125T104012Z-1a2b3c4d/master.m3u8","renditions":[{"name":"720p",'
    '"playlist":"720p/index.m3u8","resolution":"1280x720","bandwidth":3021912,'
    '"averageBandwidth":3003989,"codecs":"avc1.64001f,mp4a.40.2","copied":false}],'
    '"poster":"s3://media/hls/abc/v20261125T104012Z-1a2b3c4d/poster.jpg",'
    '"durationSeconds":30.0},"notes":[],"timings":{"inspect":0.21,"encode":44.1,'
    '"finalize":0.35,"total":44.7}}',
    '{"event":"done","exit_code":0,"committed":false,"outputs":{"masterPlaylist":'
    '"/media/hls/x/master.m3u8","renditions":[],"durationSeconds":2.0},"notes":[],"timings":{}}',
    '{"event":"error","exit_code":3,"category":"InvalidInput","reason":"NoVideoStream",'
    '"message":"no vidéo stream, only « audio »…"}',
]


@pytest.mark.parametrize("line", LEGACY)
def test_lines_of_earlier_engines_read_and_print_unchanged(line: str) -> None:
    event = decode(line)
    assert event.event == json.loads(line)["event"]
    assert encode(event) == line + "\n"


def roundtrips(event: Event) -> None:
    line = encode(event)
    assert line.endswith("\n") and "\n" not in line[:-1]
    assert decode(line) == event
    assert encode(decode(line)) == line


def probe_result() -> ProbeResult:
    video = VideoStream("h264", 1920, 1080, Fraction(30000, 1001), Fraction(30000, 1001),
                        profile="High", pix_fmt="yuv420p", bit_rate=4_000_000)  # fmt: skip
    return ProbeResult("mov,mp4,m4a,3gp,3g2,mj2", 30.0, video, AudioStream("aac", 2))


MANIFEST: dict[str, Any] = {
    "master": "master.m3u8",
    "durationSeconds": 30.0,
    "renditions": [
        {
            "name": "720p",
            "playlist": "720p/index.m3u8",
            "width": 1280,
            "height": 720,
            "bandwidth": 3021912,
            "averageBandwidth": 3003989,
            "codecs": "avc1.64001f,mp4a.40.2",
            "copied": False,
        },
    ],
    "poster": "poster.jpg",
    "sprite": None,
    "spriteVtt": None,
    "notes": ["top rendition re-encoded: source bitrate too high"],
}


def test_every_event_the_engine_builds_round_trips() -> None:
    probe = probe_result()
    probed = Probed(source=SourceSummary.model_validate(probe.summary()))
    assert probed.source.model_dump(by_alias=True) == probe.summary()
    roundtrips(probed)

    plan = plan_ladder(probe, EncodingSettings(), Limits())
    event = planned(plan)
    assert [r.name for r in event.renditions] == [r.name for r in plan.renditions]
    roundtrips(event)

    parser = ProgressParser(duration=30.0)
    lines = ["frame=120\n", "fps=60.0\n", "out_time_us=4000000\n", "speed=2.0x\n"]
    progress = [parser.feed(line) for line in [*lines, "progress=continue\n", "progress=end\n"]]
    assert [type(p) for p in progress if p is not None] == [Progress, Progress]
    for p in progress:
        if p is not None:
            roundtrips(p)

    roundtrips(Publishing(destination="s3://media/hls/abc"))

    timings = {"inspect": 0.2, "encode": 4.0, "finalize": 0.3, "total": 4.5}
    for result in (Result(Path("/media/hls/abc"), MANIFEST, True, timings),
                   Result("s3://media/hls/abc/v1", MANIFEST, committed=False)):  # fmt: skip
        done = done_event(result)
        wire = json.loads(encode(done))
        assert wire["outputs"]["masterPlaylist"] == f"{result.dest}/master.m3u8"
        assert "sprite" not in wire["outputs"]  # unset optionals left out, as in status.outputs
        roundtrips(done)


@pytest.mark.parametrize("kind", errors.TranscodeError.__subclasses__())
def test_every_error_round_trips_with_its_exit_code(kind: type[errors.TranscodeError]) -> None:
    event = kind("SomeReason", "a sentence").to_event()
    assert json.loads(encode(event)) == {
        "event": "error",
        "exit_code": int(kind.exit_code),
        "category": kind.exit_code.reason,
        "reason": "SomeReason",
        "message": "a sentence",
    }
    roundtrips(event)


def test_unknown_keys_are_ignored_and_defaults_fill_in() -> None:
    event = decode('{"event":"progress","percent":12.5,"fps":30,"added":"by a newer engine"}')
    assert event == Progress(percent=12.5, fps=30.0)
    assert isinstance(decode(b'{"event":"planned","renditions":[],"fps":25}'), Planned)


@pytest.mark.parametrize(
    "line",
    [
        "",
        "ffmpeg noise",
        "[1, 2]",
        '{"percent": 5}',
        '{"event": "finished"}',
        '{"event": "progress"}',
        '{"event": "progress", "percent": "lots"}',
        '{"event": "done", "exit_code": 1, "committed": true, "outputs": {}}',
        '{"event": "error", "exit_code": 42, "category": "X", "reason": "Y", "message": "z"}',
        '{"event": "progress", "percent": 5',
        "[" * 100_000,
    ],
)
def test_anything_else_is_refused_with_a_value_error(line: str) -> None:
    with pytest.raises(ValueError):
        decode(line)


def test_error_events_keep_their_exit_code_type() -> None:
    event = decode(encode(errors.Stalled("Stalled", "no progress").to_event()))
    assert isinstance(event, Error) and event.exit_code.retryable
    assert isinstance(decode(LEGACY[6]), Done)


FRAMEWORKS = {"kopf", "kubernetes", "fastapi", "starlette", "uvicorn", "httpx", "boto3"}


def test_the_api_package_imports_no_framework() -> None:
    for module in Path(hlsforge_api.__file__).parent.glob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not roots & FRAMEWORKS, f"{module.name} imports {roots & FRAMEWORKS}"
