"""Module paths of ONNX nodes, from the dynamo exporter's metadata and from TorchScript's node names."""
from deployprof.graph.scopes import SCOPES_KEY, module_at, module_path


def test_dynamo_metadata_gives_every_enclosing_module():
    meta = {SCOPES_KEY: "['', 'layers.0', 'layers.0.gate', 'linear_8']"}
    path = module_path("node_linear_8", meta)
    assert path == ("layers.0", "layers.0.gate")
    assert module_at(path, 1, "MatMul") == "layers.0" and module_at(path, 2, "MatMul") == "layers.0.gate"
    assert module_at(path, 5, "MatMul") == "layers.0.gate"   # deeper than the path: its innermost module


def test_torchscript_names_give_the_same_paths():
    assert module_path("/layers.0/norm1/Pow", {}) == ("layers.0", "layers.0.norm1")
    assert module_path("/Pow", {}) == ()


def test_a_node_without_scope_counts_under_its_op_type():
    for meta in ({}, {SCOPES_KEY: "not a list ["}, {SCOPES_KEY: "['', 'unsqueeze']"}):
        assert module_path("node_unsqueeze", meta) == ()
    assert module_at((), 2, "Unsqueeze") == "(Unsqueeze)"


def test_a_zoo_export_is_attributed(tmp_path):
    """Most nodes of a dynamo export of a zoo stage carry a module path."""
    import onnx

    from deployprof.export import export_preset

    export_preset("pi0-tiny", tmp_path / "e", exporter="dynamo")
    graph = onnx.load(str(tmp_path / "e" / "denoise.onnx"), load_external_data=False).graph
    paths = [module_path(n.name, {p.key: p.value for p in n.metadata_props}) for n in graph.node]
    assert sum(bool(p) for p in paths) >= 0.8 * len(paths)
    assert {module_at(p, 1, "") for p in paths if p} >= {"layers.0", "layers.1"}


def test_a_label_is_not_wrapped_twice():
    assert module_at((), 1, "(dispatch)") == "(dispatch)" and module_at((), 3, "Mul") == "(Mul)"
