"""Issue 13, the engine's cases with the real ffprobe/ffmpeg: the pixel cap on both tools (a
frame over it is a final refusal, even when the size grows after the probe), hostile aspect
ratios and stream counts refused before planning, and tall clips with a sprite sheet."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hlsforge_api.errors import InvalidInput
from hlsforge_api.v1alpha1 import EncodingSettings
from hlsforge_media.limits import Limits
from hlsforge_media.probe import run_probe
from hlsforge_transcoder.run import transcode

from .conftest import Clips, cli, leftovers, run_json

pytestmark = pytest.mark.media

FFMPEG = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]


def _clip(path: Path, source: str, *extra: str) -> Path:
    subprocess.run(
        [*FFMPEG, "-f", "lavfi", "-i", source, *extra, str(path)], check=True, timeout=120
    )
    return path


def test_ffprobe_refuses_a_frame_over_its_pixel_cap(clips: Clips) -> None:
    src = clips("odd_318x178.mp4")
    assert run_probe(src, Limits()).video is not None
    with pytest.raises(InvalidInput) as caught:
        run_probe(src, Limits(max_pixels=318 * 178 - 1))
    assert caught.value.reason == "DimensionsTooLarge"


def test_ffprobe_output_beyond_its_cap_kills_it_and_refuses_the_file(
    clips: Clips, tmp_path: Path
) -> None:
    """A file whose description is larger than allowed (here: a long title in a clip, a
    test-set cap) is refused, and ffprobe is stopped as soon as it passes the cap."""
    src = clips("odd_318x178.mp4")
    tagged = tmp_path / "tagged.mkv"
    subprocess.run([*FFMPEG, "-i", str(src), "-c", "copy", "-metadata", "title=" + "x" * 20000,
                    str(tagged)], check=True, timeout=120)  # fmt: skip
    assert run_probe(tagged, Limits()).video is not None
    with pytest.raises(InvalidInput) as caught:
        run_probe(tagged, Limits(max_probe_output_bytes=8192))
    assert caught.value.reason == "ProbeOutputTooLarge"


def test_a_frame_that_grows_past_the_pixel_cap_after_the_probe_is_refused(
    tmp_path: Path,
) -> None:
    """The probe sees 320x240; two seconds in, the stream switches to 640x480. Only the
    decoder's ``-max_pixels`` can catch that: a final refusal, not a 'truncated source'."""
    small = _clip(tmp_path / "a.ts", "testsrc2=size=320x240:rate=10:d=2", *H264)
    large = _clip(
        tmp_path / "b.ts", "testsrc2=size=640x480:rate=10:d=2", *H264, "-output_ts_offset", "2"
    )
    switch = tmp_path / "switch.ts"
    switch.write_bytes(small.read_bytes() + large.read_bytes())
    limits = Limits(max_pixels=320 * 240)
    probe = run_probe(switch, limits)
    assert probe.video is not None and (probe.video.width, probe.video.height) == (320, 240)
    out = tmp_path / "out"
    with pytest.raises(InvalidInput) as caught:
        transcode(switch, out, EncodingSettings(), limits=limits)
    assert caught.value.reason == "DimensionsTooLarge", caught.value
    assert not out.exists() and leftovers(out) == []
    # the same file under the default cap is a normal transcode
    transcode(switch, tmp_path / "fine", EncodingSettings(), limits=Limits())


@pytest.mark.parametrize(("sar", "reason"), [("1/1000", "AspectRatioUnsupported")])
def test_an_extreme_sample_aspect_ratio_is_refused_before_planning(
    tmp_path: Path, sar: str, reason: str
) -> None:
    """Issue 13: display 1:6750 with a sprite once made the planner spin before ffmpeg ran."""
    src = _clip(tmp_path / "tall.mkv", "testsrc=size=320x2160:d=1:rate=10", "-vf", f"setsar={sar}",
                *H264)  # fmt: skip
    run = run_json(
        [sys.executable, "-m", "hlsforge_cli.main", "transcode", str(src), str(tmp_path / "out"),
         "--json", "--sprite"],
        timeout=120,
    )  # fmt: skip
    assert run.returncode == 3, run.stderr[-2000:]
    assert run.last("error")["reason"] == reason


@pytest.mark.parametrize(
    ("size", "sar"),
    [("320x2160", "1/1"), ("320x2160", "1/10"), ("16x7680", "1/1"), ("7680x16", "1/1")],
)
def test_extreme_shapes_with_a_sprite_finish(tmp_path: Path, size: str, sar: str) -> None:
    """The reported case (1 s, 10 fps, 320x2160, ``--sprite``), the same at the most extreme
    pixel aspect accepted (displayed 32x2160: tiles 160x10800), and the most extreme shapes
    accepted (tiles 136x65000 and 160x2)."""
    src = _clip(tmp_path / "shape.mkv", f"testsrc2=size={size}:rate=10", "-t", "1",
                "-vf", f"setsar={sar}", *H264)  # fmt: skip
    out = tmp_path / "out"
    run = cli(src, out, "--sprite")
    assert run.returncode == 0, run.events[-1:]
    outputs = run.last("done")["outputs"]
    assert outputs["sprite"].endswith("sprite.jpg") and outputs["poster"].endswith("poster.jpg")
    cues = (out / "sprite.vtt").read_text()
    assert cues.count("-->") == 1 and "sprite.jpg#xywh=0,0," in cues
    assert (out / "sprite.jpg").stat().st_size > 0 and (out / "poster.jpg").stat().st_size > 0


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_a_video_that_ends_before_its_audio_still_gets_its_thumbnails(
    tmp_path: Path, container: str
) -> None:
    """1 s of 320x2160 video at 10 fps under 10 s of audio: the poster at 10 % (1.0 s) was
    planned past the last frame, ffmpeg wrote no poster, and the run ended VerifyFailed
    ThumbnailMissing (retried for nothing). mp4 reports the video's own duration, mkv does not:
    the poster then falls back to the first frame."""
    src = tmp_path / f"short_video.{container}"
    subprocess.run(
        [*FFMPEG, "-f", "lavfi", "-t", "1", "-i", "testsrc2=size=320x2160:rate=10",
         "-f", "lavfi", "-t", "10", "-i", "sine=sample_rate=48000", *H264, "-c:a", "aac",
         str(src)],
        check=True, timeout=120,
    )  # fmt: skip
    out = tmp_path / "out"
    run = cli(src, out, "--sprite")
    assert run.returncode == 0, run.events[-1:]
    assert (out / "poster.jpg").stat().st_size > 0 and (out / "sprite.jpg").stat().st_size > 0
    assert "sprite.jpg#xywh=0,0," in (out / "sprite.vtt").read_text()


def _psnr(image: Path, reference: Path) -> float:
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-i", str(image), "-i", str(reference), "-lavfi", "psnr",
         "-f", "null", "-"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return float(done.stderr.rpartition("average:")[2].split()[0])


def test_the_poster_is_the_frame_at_its_time_not_the_first_one(
    clips: Clips, tmp_path: Path
) -> None:
    src = clips("long_360p.mkv")  # 20 s: the poster is the frame at 10 %, 2.0 s
    out = tmp_path / "out"
    assert cli(src, out).returncode == 0
    frames = {}
    for at in ("0", "2"):
        frames[at] = tmp_path / f"frame{at}.png"
        subprocess.run([*FFMPEG, "-ss", at, "-i", str(src), "-frames:v", "1", str(frames[at])],
                       check=True, timeout=60)  # fmt: skip
    assert _psnr(out / "poster.jpg", frames["2"]) > _psnr(out / "poster.jpg", frames["0"]) + 10


def test_a_file_with_too_many_streams_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "many.mkv"
    copies = [arg for _ in range(Limits().max_streams) for arg in ("-map", "1:a")]
    subprocess.run(
        [*FFMPEG, "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:d=1",
         "-f", "lavfi", "-i", "sine=sample_rate=8000:duration=1",
         "-map", "0:v", *copies, *H264, "-c:a", "pcm_s16le", str(src)],
        check=True, timeout=120,
    )  # fmt: skip
    run = cli(src, tmp_path / "out")
    assert run.returncode == 3, run.events[-1:]
    error = run.last("error")
    assert error["reason"] == "TooManyStreams" and "65 streams" in error["message"]
