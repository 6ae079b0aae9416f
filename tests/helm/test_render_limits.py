"""Per-job maxima in the rendered chart (no cluster): the same values reach the uploader, the
operator and the API server's ValidatingAdmissionPolicy, scoped to the namespaces the operator
watches. ``test_cluster_limits`` applies the policy to a real API server."""

from __future__ import annotations

import pytest

from tests.helm.chart import Doc, env_of, find, one, render, render_error

FIELDS = [
    f"spec.resources.{kind}.{name}"
    for kind in ("requests", "limits")
    for name in ("cpu", "memory", "ephemeral-storage")
] + ["spec.activeDeadlineSeconds", "spec.maxRetries", "spec.priority"]


def policy(docs: list[Doc]) -> Doc:
    return one(docs, "ValidatingAdmissionPolicy", "job-limits")


def validation_of(docs: list[Doc], field: str) -> dict[str, str]:
    found = [v for v in policy(docs)["spec"]["validations"] if v["message"].startswith(field + " ")]
    assert len(found) == 1, (field, found)
    rule: dict[str, str] = found[0]
    return rule


def test_both_deployments_get_the_same_limits() -> None:
    docs = render(
        {
            "jobLimits.cpu": "4",
            "jobLimits.memory": "8Gi",
            "jobLimits.deadlineSeconds": "10800",
            "jobLimits.httpPriority": "5",
        }
    )
    expected = {
        "HLSFORGE_JOB_LIMITS__CPU": "4",
        "HLSFORGE_JOB_LIMITS__MEMORY": "8Gi",
        "HLSFORGE_JOB_LIMITS__EPHEMERAL_STORAGE": "100Gi",
        "HLSFORGE_JOB_LIMITS__DEADLINE_SECONDS": "10800",
        "HLSFORGE_JOB_LIMITS__RETRIES": "5",
        "HLSFORGE_JOB_LIMITS__PRIORITY": "100",
        "HLSFORGE_JOB_LIMITS__HTTP_PRIORITY": "5",
    }
    for component in ("operator", "uploader"):
        env = env_of(one(docs, "Deployment", component))
        assert {k: v for k, v in env.items() if "JOB_LIMITS" in k} == expected, component


def test_the_policy_fails_closed_on_transcodejob_writes_and_names_every_field() -> None:
    docs = render()
    spec = policy(docs)["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["matchConstraints"]["resourceRules"] == [
        {
            "apiGroups": ["hlsforge.io"],
            "apiVersions": ["*"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["transcodejobs"],  # not transcodejobs/status: the operator's writes
        }
    ]
    assert len(spec["validations"]) == len(FIELDS)
    for field in FIELDS:
        rule = validation_of(docs, field)
        assert rule["reason"] == "Invalid"
        assert rule["messageExpression"].startswith(f'"{field}: " + ')
        # An unchanged value passes on UPDATE: lowering a limit never blocks older jobs' writes.
        assert "oldObject != null &&" in rule["expression"]
    cpu = validation_of(docs, "spec.resources.limits.cpu")["expression"]
    assert 'quantity(object.spec.?resources.?limits[?"cpu"].value())' in cpu
    assert '.compareTo(quantity("8")) <= 0' in cpu
    storage = validation_of(docs, "spec.resources.requests.ephemeral-storage")["expression"]
    assert 'requests[?"ephemeral-storage"]' in storage and 'quantity("100Gi")' in storage
    assert "<= 86400" in validation_of(docs, "spec.activeDeadlineSeconds")["expression"]
    assert "<= 5" in validation_of(docs, "spec.maxRetries")["expression"]
    # kubectl's ceiling, not HTTP's: the uploader enforces its own lower one first.
    assert "<= 100" in validation_of(docs, "spec.priority")["expression"]


def test_the_values_reach_the_rules() -> None:
    docs = render({"jobLimits.cpu": "2500m", "jobLimits.retries": "3", "jobLimits.priority": "40"})
    assert 'quantity("2500m")' in validation_of(docs, "spec.resources.requests.cpu")["expression"]
    assert "<= 3" in validation_of(docs, "spec.maxRetries")["expression"]
    rule = validation_of(docs, "spec.priority")
    assert "<= 40" in rule["expression"] and "maximum of 40 per job" in rule["message"]


def test_the_binding_covers_the_release_namespace_or_every_namespace_cluster_wide() -> None:
    docs = render(namespace="media")
    binding = one(docs, "ValidatingAdmissionPolicyBinding", "job-limits")
    assert binding["metadata"]["name"] == policy(docs)["metadata"]["name"]
    assert binding["metadata"]["name"] == "media-hf-hlsforge-job-limits"  # cluster-scoped
    assert binding["spec"]["policyName"] == binding["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["matchResources"]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "media"}
    }
    wide = render({"rbac.clusterWide": "true"})
    selector = one(wide, "ValidatingAdmissionPolicyBinding")["spec"]["matchResources"]
    assert selector["namespaceSelector"] == {}


def test_the_policy_can_be_left_out_while_the_services_keep_their_limits() -> None:
    docs = render({"jobLimits.admissionPolicy": "false"})
    assert not find(docs, "ValidatingAdmissionPolicy")
    assert not find(docs, "ValidatingAdmissionPolicyBinding")
    assert env_of(one(docs, "Deployment", "operator"))["HLSFORGE_JOB_LIMITS__CPU"] == "8"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"jobLimits.retries": "11"}, "at '/jobLimits/retries'"),
        ({"jobLimits.deadlineSeconds": "3600"}, "at '/jobLimits/deadlineSeconds'"),
        ({"jobLimits.memory": "lots"}, "at '/jobLimits/memory'"),
        ({"jobLimits.priority": "101"}, "at '/jobLimits/priority'"),
        ({"jobLimits.gpu": "1"}, "additional properties 'gpu' not allowed"),
        (
            {"jobLimits.priority": "5", "jobLimits.httpPriority": "6"},
            "jobLimits.httpPriority must not exceed jobLimits.priority",
        ),
    ],
)
def test_bad_limits_fail_the_render_naming_the_key(values: dict[str, str], message: str) -> None:
    assert message in render_error(values)
