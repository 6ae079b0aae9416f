"""Local single-node Kubernetes cluster for hlsforge tests (see hack/cluster.py)."""
