"""The fault table (issue 14): every part of the platform killed, restarted, filled or cut
mid-job on the real cluster, and what must hold afterwards. ``make faults`` runs it; ``make
test`` runs it too and writes ``artifacts/faults.md``."""
