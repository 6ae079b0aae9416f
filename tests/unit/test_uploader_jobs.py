"""Options validated by the shared models, the job manifest, the client view."""

from __future__ import annotations

import pytest

from hlsforge_api.job_limits import JobLimits
from hlsforge_api.v1alpha1 import TranscodeJob
from hlsforge_uploader.api.helpers import parse_options
from hlsforge_uploader.errors import InvalidOptions
from hlsforge_uploader.jobs.manifest import build_job
from hlsforge_uploader.jobs.view import Urls, view


def test_options_pass_through_to_a_valid_transcodejob() -> None:
    opts = parse_options(
        '{"renditions": [{"name": "360p", "height": 360, "videoBitrateKbps": 800}],'
        ' "segmentFormat": "fmp4", "sourcePolicy": "Retain", "priority": 7}',
        JobLimits(),
    )
    manifest = build_job(
        "up-abc", "uploads/up-abc.mp4", "hls/up-abc", opts, {"x/y": "z"}, {"a/b": "c"}
    )
    job = TranscodeJob.model_validate(manifest)
    assert job.metadata.name == "up-abc"
    assert job.spec.source == "uploads/up-abc.mp4" and job.spec.output == "hls/up-abc"
    assert manifest["spec"]["segmentFormat"] == "fmp4"
    assert manifest["spec"]["sourcePolicy"] == "Retain"
    assert manifest["spec"]["priority"] == 7
    assert manifest["spec"]["renditions"][0]["videoBitrateKbps"] == 800
    assert manifest["metadata"]["labels"]["x/y"] == "z"
    assert manifest["metadata"]["annotations"] == {"a/b": "c"}


@pytest.mark.parametrize(
    "text",
    [
        '{"source": "/etc/passwd"}',  # where things go is the server's choice
        '{"output": "hls/other"}',
        '{"video": {"codec": "h265"}}',  # h265 needs fmp4: the shared model's rule
        '{"renditions": [{"name": "a", "height": 361, "videoBitrateKbps": 800}]}',
        '{"priority": 1000}',
        "not json",
    ],
)
def test_invalid_options_are_refused_with_the_models_reason(text: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse_options(text, JobLimits())
    assert err.value.status == 422 and err.value.detail


def test_options_beyond_the_job_limits_name_each_field() -> None:
    limits = JobLimits(memory="4Gi", http_priority=5)
    assert parse_options('{"priority": 5}', limits).priority == 5
    with pytest.raises(InvalidOptions) as err:
        parse_options('{"priority": 6, "resources": {"limits": {"memory": "5Gi"}}}', limits)
    body = err.value.body()
    assert body["error"] == "invalid_options"
    assert body["fields"] == ["resources.limits.memory", "priority"]
    assert body["detail"].startswith("resources.limits.memory: 5Gi is above")


def test_view_of_a_running_job() -> None:
    urls = Urls("https://media.example")
    v = view(
        {
            "metadata": {"name": "up-a", "resourceVersion": "42"},
            "status": {
                "phase": "Running",
                "progress": 37.5,
                "speed": 1.9,
                "eta": 12,
                "attempts": 1,
            },
        },
        urls,
    )
    assert (v.phase, v.progress, v.speed, v.eta, v.attempts) == ("Running", 37.5, 1.9, 12, 1)
    assert v.events_url == "wss://media.example/v1/jobs/up-a/events"
    assert v.playback_url == "https://media.example/v1/jobs/up-a/hls/master.m3u8"
    assert Urls("http://127.0.0.1:8000").events("x") == "ws://127.0.0.1:8000/v1/jobs/x/events"
    assert view({"metadata": {"name": "up-b"}}, urls).phase == "Pending"


def test_view_of_a_finished_job_is_the_wire_shape_clients_read() -> None:
    """The JSON the API and the dashboard (``static/app.js``) read, key for key."""
    obj = {
        "metadata": {
            "name": "up-c",
            "resourceVersion": "8",
            "creationTimestamp": "2026-01-02T03:04:05Z",
            "deletionTimestamp": "2026-01-02T03:10:00Z",
        },
        "status": {
            "phase": "Succeeded",
            "progress": 100,
            "fps": 31.5,
            "speed": 2.25,
            "eta": 0,
            "attempts": 2,
            "message": "done",
            "reason": "Verified",
            "startTime": "2026-01-02T03:04:06Z",
            "completionTime": "2026-01-02T03:09:06Z",
            "sourceDeleted": True,
            "outputs": {
                "masterPlaylist": "hls/up-c/master.m3u8",
                "renditions": [
                    {
                        "name": "180p",
                        "playlist": "180p/index.m3u8",
                        "resolution": "320x180",
                        "bandwidth": 400000,
                        "codecs": "avc1.4d401f,mp4a.40.2",
                    }
                ],
                "poster": "hls/up-c/poster.jpg",
                "durationSeconds": 12.5,
            },
            "conditions": [
                {
                    "type": "Succeeded",
                    "status": "True",
                    "reason": "Verified",
                    "lastTransitionTime": "2026-01-02T03:09:06Z",
                }
            ],
            "observedGeneration": 1,
        },
    }
    base = "https://media.example/v1/jobs/up-c"
    assert view(obj, Urls("https://media.example")).to_wire() == {
        "id": "up-c",
        "phase": "Succeeded",
        "progress": 100.0,
        "fps": 31.5,
        "speed": 2.25,
        "eta": 0,
        "attempts": 2,
        "message": "done",
        "reason": "Verified",
        "createdAt": "2026-01-02T03:04:05Z",
        "startTime": "2026-01-02T03:04:06Z",
        "completionTime": "2026-01-02T03:09:06Z",
        "sourceDeleted": True,
        "renditions": [
            {
                "name": "180p",
                "playlist": "180p/index.m3u8",
                "resolution": "320x180",
                "bandwidth": 400000,
                "codecs": "avc1.4d401f,mp4a.40.2",
            }
        ],
        "durationSeconds": 12.5,
        "resourceVersion": "8",
        "deleting": True,
        "statusUrl": base,
        "eventsUrl": "wss://media.example/v1/jobs/up-c/events",
        "playbackUrl": f"{base}/hls/master.m3u8",
    }
