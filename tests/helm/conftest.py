"""Chart tests on the cluster reuse the integration suite's cluster fixtures."""

from tests.integration.conftest import kube_cluster, namespace  # noqa: F401
