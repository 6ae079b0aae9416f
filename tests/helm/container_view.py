"""What a process inside a container of the uploader pod can see: a payload in ffprobe would
look for tokens, keys, media and other processes. Run as python3 in each container."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.conftest import KubeCluster

LOOK_AROUND = r"""
import json, os
def env_of(pid):
    try:
        raw = open(f"/proc/{pid}/environ", "rb").read()
    except OSError as exc:
        return f"unreadable: {exc}"
    return sorted(k.split(b"=", 1)[0].decode() for k in raw.split(b"\0") if k)
def readable(path):
    try:
        with open(path, "rb") as handle:
            return len(handle.read(1 << 16))
    except OSError as exc:
        return f"{type(exc).__name__}"
mounts = [line.split()[1] for line in open("/proc/self/mounts")]
cmdlines = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            cmdlines.append(open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode())
        except OSError:
            pass
print(json.dumps({
    "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
    "sa_token": readable("/var/run/secrets/kubernetes.io/serviceaccount/token"),
    "sa_dir": os.path.exists("/var/run/secrets/kubernetes.io/serviceaccount"),
    "api_token": readable("/var/run/hlsforge/token/token"),
    "pid1_env": env_of(1),
    "exec_env": sorted(os.environ),
    "pid1_fds": readable("/proc/1/fd/0") if os.path.exists("/proc/1/fd") else "none",
    "data": os.path.exists("/data"),
    "mounts": mounts,
    "processes": cmdlines,
}))
"""


def uploader_pod_name(cluster: KubeCluster, ns: str) -> str:
    selector = "app.kubernetes.io/component=uploader"
    pods = cluster.get_json("pods", "-n", ns, "-l", selector)["items"]
    assert len(pods) == 1
    name: str = pods[0]["metadata"]["name"]
    return name


def look_around(cluster: KubeCluster, ns: str, pod: str, container: str) -> dict[str, Any]:
    done = cluster.kubectl(
        "exec", "-n", ns, pod, "-c", container, "--", "python3", "-c", LOOK_AROUND
    )
    seen: dict[str, Any] = json.loads(done.stdout)
    print(f"{container}: {json.dumps(seen)}")
    return seen
