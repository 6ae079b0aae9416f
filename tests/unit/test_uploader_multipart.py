"""The streaming multipart reader on bodies split at every awkward place."""

from __future__ import annotations

import pytest

from hlsforge_uploader.errors import BadRequest, TooLarge
from hlsforge_uploader.uploads.form import MultipartReader, boundary_of

BOUNDARY = b"----hlsforge7MA4YWxkTrZu0gW"


def form(*parts: tuple[str, str | None, bytes]) -> bytes:
    out = b""
    for name, filename, value in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += b"--" + BOUNDARY + b"\r\n"
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if filename:
            out += b"Content-Type: video/mp4\r\n"
        out += b"\r\n" + value + b"\r\n"
    return out + b"--" + BOUNDARY + b"--\r\n"


def read(body: bytes, step: int) -> tuple[bytes, dict[str, str]]:
    reader = MultipartReader(BOUNDARY, max_field_bytes=1024)
    data = b"".join(b for i in range(0, len(body), step) for b in reader.feed(body[i : i + step]))
    reader.finish()
    return data, reader.fields


@pytest.mark.parametrize("step", [1, 7, 64, 4096, 1 << 20])
def test_file_bytes_and_fields_survive_any_chunking(step: int) -> None:
    video = bytes(range(256)) * 50 + b"\r\n--not-the-boundary\r\n" + b"\r" * 10
    body = form(("options", None, b'{"priority": 3}'), ("file", "../../etc/passwd", video))
    data, fields = read(body, step)
    assert data == video
    assert fields == {"options": '{"priority": 3}'}


def test_fields_after_the_file_are_read_too() -> None:
    body = form(("file", "a.mp4", b"xyz"), ("options", None, b"{}"))
    assert read(body, 3) == (b"xyz", {"options": "{}"})


def test_exactly_one_file_part_named_file() -> None:
    with pytest.raises(BadRequest):
        read(form(("options", None, b"{}")), 100)
    with pytest.raises(BadRequest):
        read(form(("file", "a", b"1"), ("file", "b", b"2")), 100)
    with pytest.raises(BadRequest):
        read(form(("video", "a.mp4", b"1")), 100)


def test_a_truncated_body_is_refused() -> None:
    body = form(("file", "a.mp4", b"0123456789"))
    reader = MultipartReader(BOUNDARY)
    reader.feed(body[:-20])
    with pytest.raises(BadRequest):
        reader.finish()


def test_text_fields_are_bounded() -> None:
    with pytest.raises(TooLarge):
        read(form(("options", None, b"x" * 5000), ("file", "a", b"1")), 512)


def test_boundary_of() -> None:
    assert boundary_of("multipart/form-data; boundary=abc") == b"abc"
    assert boundary_of("application/octet-stream") is None
    assert boundary_of("") is None
    with pytest.raises(BadRequest):
        boundary_of("multipart/form-data")


def test_many_small_fields_are_refused_before_they_add_up() -> None:
    """The OOM of issue 13: thousands of tiny fields, each under the per-field cap."""
    parts = [(f"f{i}", None, b"x" * 100) for i in range(10_000)]
    reader = MultipartReader(BOUNDARY)
    body = form(*parts, ("file", "a", b"1"))
    with pytest.raises(BadRequest, match="at most 16 parts"):
        for i in range(0, len(body), 4096):
            reader.feed(body[i : i + 4096])
    assert len(reader.fields) <= 16


def test_text_fields_are_bounded_together() -> None:
    parts = [(f"f{i}", None, b"x" * 1000) for i in range(10)]
    reader = MultipartReader(BOUNDARY, max_field_bytes=1024, max_fields_bytes=4096)
    with pytest.raises(TooLarge, match="text fields exceed 4096 bytes"):
        reader.feed(form(*parts, ("file", "a", b"1")))


@pytest.mark.parametrize(
    "headers",
    [b"X-A: 1\r\n" * 20, b"X-Long: " + b"y" * 20_000 + b"\r\n"],
    ids=["many", "long"],
)
def test_part_headers_are_bounded(headers: bytes) -> None:
    body = b"--" + BOUNDARY + b"\r\n" + headers
    body += b'Content-Disposition: form-data; name="file"; filename="a"\r\n\r\n1\r\n'
    body += b"--" + BOUNDARY + b"--\r\n"
    with pytest.raises(BadRequest, match="Maximum header"):  # python-multipart's own caps
        MultipartReader(BOUNDARY).feed(body)


def test_a_field_is_seen_as_soon_as_it_ends_and_can_stop_the_file() -> None:
    seen: list[tuple[str, str]] = []

    def on_field(name: str, value: str) -> None:
        seen.append((name, value))
        if value == "no":
            raise BadRequest("refused")

    body = form(("options", None, b"no"), ("file", "a.mp4", b"\x00" * 4096))
    reader = MultipartReader(BOUNDARY, on_field=on_field)
    with pytest.raises(BadRequest):
        # Fed in one go: the file part's bytes follow the field, yet none is handed out.
        reader.feed(body)
    assert seen == [("options", "no")]
    accepted = MultipartReader(BOUNDARY, on_field=on_field)
    assert b"".join(accepted.feed(form(("file", "a.mp4", b"ok"), ("options", None, b"{}")))) == (
        b"ok"
    )
    assert seen[-1] == ("options", "{}")
