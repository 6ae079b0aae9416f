"""The contract between the operator and a transcoder pod that is not in the TranscodeJob spec:
the environment the operator sets and the engine reads.
"""

from __future__ import annotations

SOCKET_ENV = "HLSFORGE_PUBLISHER_SOCKET"
"""Set in S3 mode: the publisher sidecar's Unix socket, through which the transcoder (which holds
no credential) reads its source and publishes its output."""

WORK_OUTPUT = "out"
"""Volume mode: the folder inside a job's work folder where its engine commits the output; the
operator verifies it and publishes it at the TranscodeJob's output."""

TEST_PAUSE_ENV = "HLSFORGE_TEST_PAUSE"
"""Test only, default off: ``<point>:<seconds>`` makes the engine stop for that long at a named
point of its run (``before-commit``, ``after-commit``), so a fault test can strike there. The
operator passes its own ``HLSFORGE_TEST_PAUSE`` setting on to transcoder pods unchanged."""
