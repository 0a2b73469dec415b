from __future__ import annotations

from pathlib import Path

from camfleet.devcluster.build import binaries, wrapper_go_mod
from camfleet.devcluster.cluster import fake_node, kwokctl_configuration

KUBERNETES_MOD = """module k8s.io/kubernetes

go 1.26.0

require (
\tgo.etcd.io/etcd/server/v3 v3.6.8 // indirect
\tk8s.io/api v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
)
"""


def test_every_staging_module_is_replaced_by_its_published_version() -> None:
    mod = wrapper_go_mod("v1.36.3", KUBERNETES_MOD)
    assert "\tk8s.io/api => k8s.io/api v0.36.3" in mod
    assert "\tk8s.io/client-go => k8s.io/client-go v0.36.3" in mod
    assert "\tgo.etcd.io/etcd/server/v3 v3.6.8" in mod
    assert "go 1.26.0" in mod


def test_cluster_binds_to_loopback_only_and_uses_local_binaries() -> None:
    options = kwokctl_configuration(binaries(), 6443)[0]["options"]
    assert isinstance(options, dict)
    assert options["bindAddress"] == "127.0.0.1"
    assert options["runtime"] == "binary"
    for key in ("kubeApiserverBinary", "etcdBinary", "kwokControllerBinary"):
        assert str(options[key]).startswith("/")


def test_fake_nodes_carry_no_taint_so_plain_pods_schedule() -> None:
    node = fake_node("n1")
    assert node["spec"] == {}


def test_stopping_one_cluster_never_matches_another_with_a_longer_name(tmp_path: Path) -> None:
    import subprocess
    import sys

    from camfleet.devcluster.cluster import processes_using

    other = tmp_path / "clusters" / "camfleet-test-42"
    other.mkdir(parents=True)
    script = "import time; print('ready', flush=True); time.sleep(30)"
    sleeper = subprocess.Popen([sys.executable, "-c", script, str(other / "pki")], stdout=subprocess.PIPE, text=True)
    try:
        assert sleeper.stdout is not None
        assert sleeper.stdout.readline().strip() == "ready"  # it has exec'd: /proc shows its own command line
        assert sleeper.pid in processes_using(tmp_path / "clusters" / "camfleet-test-42")
        assert sleeper.pid not in processes_using(tmp_path / "clusters" / "camfleet")
    finally:
        sleeper.kill()
        sleeper.wait()
