"""Fleet dispatch on a real local Ray cluster of two nodes with different device labels, started by the test:
each configuration runs on the node that offers its label, and every result lands in the launcher's store.
scripts/test.sh installs the `fleet` extra and sets DEPLOYPROF_REQUIRE_RAY=1 (a missing Ray fails, not skips)."""
import json
import os
import shutil

import pytest

from deployprof.store import Store, to_url

from .conftest import invoke


@pytest.fixture(scope="module")
def two_node_cluster():
    try:
        import ray
        from ray.cluster_utils import Cluster
    except ImportError:
        if os.environ.get("DEPLOYPROF_REQUIRE_RAY") == "1":
            pytest.fail("DEPLOYPROF_REQUIRE_RAY=1 but ray is not installed (pip install 'deployprof[fleet]')")
        pytest.skip("ray is not installed (pip install 'deployprof[fleet]')")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"device:alpha": 1},
                                                           "include_dashboard": False})
    cluster.add_node(num_cpus=1, resources={"device:beta": 1})
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    labels = {n["NodeID"]: [k for k in n["Resources"] if k.startswith("device:")] for n in ray.nodes() if n["Alive"]}
    ray.shutdown()
    try:
        yield cluster.address, labels
    finally:
        cluster.shutdown()


@pytest.mark.slow
def test_each_configuration_runs_on_the_node_with_its_label(two_node_cluster, tiny_export, tmp_path):
    address, labels = two_node_cluster
    shutil.copytree(tiny_export, tmp_path / "export")  # a sweep names paths inside its own folder
    sweep = tmp_path / "fleet.yaml"
    sweep.write_text("""
subjects: [export]
backends: [ort-cpu]
devices: [alpha, beta, gamma]
measure: {duration: 0.3, accuracy_samples: 2, in_process: true}
""")
    db = tmp_path / "r.sqlite"
    r = invoke(["sweep", str(sweep), "--out", str(tmp_path / "o"), "--store", str(db),
                "--ray", address, "--json"])
    assert r.exit_code == 1 and "1 of 3 configurations failed" in r.stderr, r.output  # gamma: written, then said
    entries = {e["device"]: e for e in json.loads(r.stdout)["entries"]}
    for device in ("alpha", "beta"):
        e = entries[device]
        assert e["status"] == "done", e
        assert labels[e["node"]] == [f"device:{device}"]
    assert entries["gamma"]["status"] == "failed" and "no node of the Ray cluster offers device:gamma" in entries["gamma"]["error"]
    with Store(to_url(str(db))) as s:
        rows = s.results_where({})
    assert sorted(r["sweep_key"] for r in rows) == sorted(entries[d]["key"] for d in ("alpha", "beta"))
    assert (tmp_path / "o" / "alpha" / "runs" / entries["alpha"]["key"] / "report.json").exists()
