"""Which delivery paths are served, with which types and cache headers."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.responses import FileResponse

from hlsforge_storage import media_types
from hlsforge_uploader.delivery import rules
from hlsforge_uploader.errors import BadPath, NotFound
from hlsforge_uploader.storage.volume import VolumeStorage


@pytest.mark.parametrize(
    "path",
    [
        "../x.ts",
        "a/../../x.ts",
        "/etc/passwd",
        "a//b.ts",
        "./master.m3u8",
        "a\\..\\b.ts",
        "a\x00.ts",
        "",
    ],
)
def test_paths_that_can_never_be_inside_an_output_are_400(path: str) -> None:
    with pytest.raises(BadPath):
        rules.check_path(path)


@pytest.mark.parametrize(
    "path", ["manifest.json", "commit.json", "x.html", "x.js", "uploads", "master.m3u8.bak"]
)
def test_files_the_transcoder_does_not_write_are_404(path: str) -> None:
    with pytest.raises(NotFound):
        rules.check_path(path)


@pytest.mark.parametrize(
    ("path", "content_type", "immutable"),
    [
        ("master.m3u8", "application/vnd.apple.mpegurl", False),
        ("720p/index.m3u8", "application/vnd.apple.mpegurl", False),
        ("720p/seg_00001.ts", "video/mp2t", True),
        ("720p/init.mp4", "video/mp4", True),
        ("720p/seg_00001.m4s", "video/mp4", True),
        ("poster.jpg", "image/jpeg", True),
        ("sprite.vtt", "text/vtt; charset=utf-8", True),
    ],
)
def test_types_and_cache(path: str, content_type: str, immutable: bool) -> None:
    assert rules.check_path(path) == path
    assert rules.content_type(path) == content_type
    assert ("immutable" in rules.cache_control(path)) is immutable
    # The engine's table is the one source of types.
    assert rules.content_type(path) == media_types.content_type(path)
    assert rules.headers(path) == {
        "Content-Type": content_type,
        "Cache-Control": rules.cache_control(path),
        "X-Content-Type-Options": "nosniff",
    }
    assert rules.is_index(path) is path.endswith((".m3u8", ".vtt"))


def test_storage_resolves_strictly_inside_the_output(tmp_path: Path) -> None:
    out = tmp_path / "hls" / "job1"
    out.mkdir(parents=True)
    (out / "master.m3u8").write_text("#EXTM3U\n")
    (tmp_path / "hls" / "job2").mkdir()
    (out / "escape.ts").symlink_to(tmp_path / "hls" / "job2")
    (tmp_path / "hls" / "job3").symlink_to(out)
    store = VolumeStorage(tmp_path)
    served = store.deliver("hls/job1", "master.m3u8", None)
    assert isinstance(served, FileResponse) and Path(served.path) == out / "master.m3u8"
    # A symlink out of the folder, an output that is a link, a path out of the volume, a
    # missing file: each is the same 404 (VolumeStore.output_file's rule).
    for output, relative in [
        ("hls/job1", "escape.ts"),
        ("hls/job3", "master.m3u8"),
        ("../etc", "passwd.ts"),
        ("hls/job1", "missing.ts"),
    ]:
        with pytest.raises(NotFound, match="no such file in this job's output"):
            store.deliver(output, relative, None)
