"""Who is calling and what they may spend: named tokens (``tokens``), the caller they resolve
to and the jobs it sees (``callers``), and the per-token quotas (``quotas`` the arithmetic,
``limiter`` the per-process book). No HTTP here: ``api.deps`` wires it to requests."""
