"""The storage areas: which source and output a job may name (pure)."""

from __future__ import annotations

import pytest

from hlsforge_storage.areas import AreaError, Areas

AREAS = Areas(buckets=frozenset({"media"}))


@pytest.mark.parametrize(
    ("source", "output"),
    [
        ("uploads/a.mp4", "hls/a"),
        ("uploads/x/y/a.mp4", "hls/show/ep1"),
        ("s3://media/uploads/a.mp4", "s3://media/hls/a"),
        ("uploads/a.mp4", "s3://media/hls/a"),
    ],
)
def test_locations_inside_their_areas_pass(source: str, output: str) -> None:
    AREAS.check(source, output, "default")


@pytest.mark.parametrize(
    ("source", "output", "words"),
    [
        # The attack of the issue: a source naming a segment of a published output.
        ("hls/victim/720p/seg_00001.ts", "hls/mine", "outside the sources area"),
        ("uploads/a.mp4", "uploads/out", "outside the outputs area"),
        ("uploads/a.mp4", "hls", "outside the outputs area"),
        ("uploads", "hls/a", "outside the sources area"),
        ("uploadsX/a.mp4", "hls/a", "outside the sources area"),
        ("uploads/a.mp4", "hlsX/a", "outside the outputs area"),
        ("other/a.mp4", "hls/a", "outside the sources area"),
        (".hlsforge/claims/hls/a.claim.json", "hls/a", "outside the sources area"),
        ("uploads/a.mp4", ".hlsforge/claims/x", "outside the outputs area"),
        ("s3://other/uploads/a.mp4", "s3://media/hls/a", "allowed buckets: media"),
        ("s3://media/uploads/a.mp4", "s3://other/hls/a", "names bucket 'other'"),
        ("uploads/a.mp4", "hls/a.tmp-123", "reserved name part"),
        ("uploads/a.mp4", "hls/a.claim.json", "reserved name part"),
        ("uploads/../hls/a/x.ts", "hls/b", "'..'"),
    ],
)
def test_locations_outside_their_areas_are_refused_with_the_rule(
    source: str, output: str, words: str
) -> None:
    with pytest.raises(AreaError, match=words.replace(".", r"\.").replace("'", "'")):
        AREAS.check(source, output, "default")


def test_no_bucket_configured_refuses_every_s3_location() -> None:
    with pytest.raises(AreaError, match="allowed buckets: none"):
        Areas().check("s3://media/uploads/a.mp4", "hls/a", "default")


def test_per_namespace_areas_keep_namespaces_apart() -> None:
    areas = Areas(per_namespace=True)
    areas.check("uploads/team-a/a.mp4", "hls/team-a/a", "team-a")
    with pytest.raises(AreaError, match=r"below uploads/team-b/"):
        areas.check("uploads/team-a/a.mp4", "hls/team-b/a", "team-b")
    with pytest.raises(AreaError, match=r"below hls/team-b/"):
        areas.check("uploads/team-b/a.mp4", "hls/team-a/a", "team-b")
    with pytest.raises(AreaError, match=r"below hls/team-a/"):
        areas.check("uploads/team-a/a.mp4", "hls/a", "team-a")


@pytest.mark.parametrize(
    ("sources", "outputs", "claims"),
    [
        ("media", "media/hls", ".claims"),
        ("uploads", "hls", "hls/.claims"),
        ("uploads", "uploads", ".claims"),
        ("/abs", "hls", ".claims"),
        ("uploads", "../hls", ".claims"),
    ],
)
def test_overlapping_or_escaping_areas_are_refused(sources: str, outputs: str, claims: str) -> None:
    with pytest.raises(AreaError):
        Areas(sources=sources, outputs=outputs, claims=claims)
