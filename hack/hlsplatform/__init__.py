"""The one-command local install of hlsforge on the local cluster (see hack/platform.py)."""
