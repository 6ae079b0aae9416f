"""Where a job may read and write: the sources area and the outputs area. Pure.

A location in a spec is a request, not a permission (SECURITY.md). Storage is split into
disjoint areas: sources live below ``uploads/`` and outputs below ``hls/`` (both configurable),
on the volume and in every allowed bucket alike. A source inside the outputs area could name a
segment of somebody's published output (and so have it deleted); an output inside the sources
area could be read back as a "source". Claim records live in a third folder that no location
can name, and the jobs' work folders in a fourth.

When the operator watches every namespace, each namespace gets its own folder inside each area
(``uploads/<namespace>/``, ``hls/<namespace>/``), so one namespace can never name another's
media. Ownership inside an area (which job owns which output or source) is ``claims``' job.
"""

from __future__ import annotations

from dataclasses import dataclass

from hlsforge_storage.locations import LocationError, check_relative, is_s3, parse_s3_uri

RESERVED_MARKERS = (".tmp-", ".claim.json")
"""Name parts the storage layer gives a meaning to: ``<output>.tmp-*`` are an output's attempt
folders (swept by its owner), ``*.claim.json`` are claim records. No output may be named so,
or its owner's sweep would reach it."""


class AreaError(ValueError):
    """A location outside the area it must be in; the message names the rule."""


@dataclass(frozen=True)
class Areas:
    sources: str = "uploads"
    """Folder (volume) or key prefix (S3) of sources."""
    outputs: str = "hls"
    """Folder (volume) or key prefix (S3) of outputs."""
    claims: str = ".hlsforge/claims"
    """Folder (volume) or key prefix (S3) of claim records; no location may lie inside it."""
    work: str = ".hlsforge/work"
    """Volume folder of the jobs' work folders; no location may lie inside it."""
    buckets: frozenset[str] = frozenset()
    """Buckets S3 locations may name; empty refuses every S3 location."""
    per_namespace: bool = False
    """Each namespace has its own folder inside each area (cluster-wide operators)."""

    def __post_init__(self) -> None:
        folders = {
            "sources": self.sources,
            "outputs": self.outputs,
            "claims": self.claims,
            "work": self.work,
        }
        for what, folder in folders.items():
            try:
                check_relative(folder)
            except LocationError as exc:
                raise AreaError(f"the {what} area {folder!r} is not a folder: {exc}") from None
        for a, fa in folders.items():
            for b, fb in folders.items():
                if a != b and _within(fa.rstrip("/"), fb.rstrip("/")):
                    raise AreaError(f"the {a} area {fa!r} overlaps the {b} area {fb!r}")

    def root(self, area: str, namespace: str) -> str:
        """The folder a job of ``namespace`` may use in ``area`` (``sources``/``outputs``)."""
        base = (self.sources if area == "sources" else self.outputs).rstrip("/")
        return f"{base}/{namespace}" if self.per_namespace else base

    def check(self, source: str, output: str, namespace: str) -> None:
        """Raise ``AreaError`` unless ``source`` is in the sources area and ``output`` in the
        outputs area of ``namespace`` (and neither is inside the other)."""
        src = self._path(source, "source")
        out = self._path(output, "output")
        if _within(src, out) or _within(out, src):
            raise AreaError("source and output must not lie inside one another")
        sources, outputs = self.root("sources", namespace), self.root("outputs", namespace)
        if not _strictly_within(src, sources):
            raise AreaError(
                f"source {source!r} is outside the sources area: it must lie below {sources}/"
            )
        if not _strictly_within(out, outputs):
            raise AreaError(
                f"output {output!r} is outside the outputs area: it must lie below {outputs}/"
            )
        last = out.rsplit("/", 1)[-1]
        if any(marker in last for marker in RESERVED_MARKERS):
            raise AreaError(
                f"output {output!r} uses a reserved name part ({', '.join(RESERVED_MARKERS)})"
            )

    def _path(self, location: str, what: str) -> str:
        """The location's path inside its bucket or volume (after the bucket rule)."""
        try:
            if is_s3(location):
                uri = parse_s3_uri(location)
                if uri.bucket not in self.buckets:
                    allowed = ", ".join(sorted(self.buckets)) or "none"
                    raise AreaError(
                        f"{what} {location!r} names bucket {uri.bucket!r}; allowed buckets: "
                        f"{allowed}"
                    )
                return uri.key
            return check_relative(location)
        except LocationError as exc:
            raise AreaError(f"{what}: {exc}") from None


def _within(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or lies below it (segment-wise, never by string prefix)."""
    return path == folder or path.startswith(folder + "/")


def _strictly_within(path: str, folder: str) -> bool:
    return path.startswith(folder + "/")
