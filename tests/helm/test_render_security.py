"""Who may do what in the rendered chart (no cluster): pod security, service accounts, RBAC."""

from __future__ import annotations

from tests.helm.chart import (
    Doc,
    env_of,
    find,
    named,
    one,
    pod_specs,
    render,
)


def rules_of(docs: list[Doc]) -> list[tuple[str, dict[str, list[str]]]]:
    return [
        (d["metadata"]["name"], r)
        for d in docs
        if d["kind"] in ("Role", "ClusterRole")
        for r in d["rules"]
    ]


def test_every_pod_meets_the_restricted_pod_security_standard() -> None:
    for name, spec in pod_specs(render()):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        assert not spec.get("hostNetwork") and not spec.get("hostPID"), name
        assert all("hostPath" not in v for v in spec.get("volumes", [])), name
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (name, c["name"])
            assert sc["readOnlyRootFilesystem"] is True, (name, c["name"])
            assert "limits" in c["resources"] and "requests" in c["resources"], (name, c["name"])


def test_transcoder_service_account_has_no_token_and_no_rbac() -> None:
    docs = render()
    sa = one(docs, "ServiceAccount", "transcoder")
    assert sa["automountServiceAccountToken"] is False
    bindings = [d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    subjects = [s["name"] for d in bindings for s in d["subjects"]]
    assert subjects and "hf-hlsforge-transcoder" not in subjects


def test_namespaced_rbac_is_least_privilege() -> None:
    docs = render()
    assert not find(docs, "ClusterKopfPeering")
    # Namespaced data access only through Roles; the one ClusterRole reads the CRDs and the
    # namespaces (kopf's discovery, checked against the operator's log on the cluster).
    cluster_roles = find(docs, "ClusterRole")
    assert [r for cr in cluster_roles for r in cr["rules"]] == [
        {
            "apiGroups": ["apiextensions.k8s.io"],
            "resources": ["customresourcedefinitions"],
            "verbs": ["list", "watch"],
        },
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]},
    ]
    for name, rule in rules_of(docs):
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], name
        assert not {"secrets", "configmaps", "nodes"} & set(rule["resources"]), name
    operator = {
        res: set(rule["verbs"])
        for name, rule in rules_of(docs)
        if name == "hf-hlsforge-operator"
        for res in rule["resources"]
    }
    assert operator == {
        "transcodejobs": {"get", "list", "watch", "patch"},
        "transcodejobs/status": {"get", "patch"},
        "transcodejobs/finalizers": {"update"},
        "jobs": {"create", "get", "list", "watch", "delete"},
        "pods": {"get", "list", "watch", "delete"},  # orphaned pods only (docs/operator.md)
        "pods/log": {"get"},
        "events": {"create", "patch"},
        "kopfpeerings": {"get", "list", "watch", "patch"},
    }
    uploader = [r for n, r in rules_of(docs) if n == "hf-hlsforge-uploader"]
    assert uploader == [
        {
            "apiGroups": ["hlsforge.io"],
            "resources": ["transcodejobs"],
            "verbs": ["get", "list", "watch", "create", "delete"],
        }
    ]


def test_cluster_wide_mode_uses_cluster_roles_and_watches_all_namespaces() -> None:
    docs = render({"rbac.clusterWide": "true"})
    assert not find(docs, "Role", "operator")
    role = named(docs, "ClusterRole", "hf-hlsforge-operator")
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert "clusterkopfpeerings" in resources and "kopfpeerings" not in resources
    discovery = one(docs, "ClusterRole", "discovery")
    # kopf lists namespaces only when it serves named ones (not cluster-wide).
    assert {r for rule in discovery["rules"] for r in rule["resources"]} == {
        "customresourcedefinitions"
    }
    assert (
        named(docs, "ClusterRoleBinding", "hf-hlsforge-operator")["roleRef"]["kind"]
        == "ClusterRole"
    )
    assert "HLSFORGE_NAMESPACE" not in env_of(one(docs, "Deployment", "operator"))
    assert one(docs, "ClusterKopfPeering")["metadata"]["name"] == "hlsforge"
    # The uploader stays namespaced.
    assert one(docs, "Role", "uploader")["metadata"]["namespace"] == "media"
