"""`import deployprof`, `--help` and the FLOP counter work with torch (and TensorRT) unavailable."""
import subprocess
import sys
import textwrap

BLOCK = textwrap.dedent("""
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in ('torch', 'tensorrt', 'pycuda', 'onnxscript'):
                raise ImportError('blocked for test: ' + name)
    sys.meta_path.insert(0, Block())
""")


def run(code: str):
    return subprocess.run([sys.executable, "-c", BLOCK + textwrap.dedent(code)], capture_output=True, text=True)


def test_import_help_and_flops_without_torch(tmp_path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((8, 8), np.float32), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), tmp_path / "m.onnx")
    res = run(f"""
        import deployprof, deployprof.cli, deployprof.backends, deployprof.runner, deployprof.pipeline
        from click.testing import CliRunner
        r = CliRunner().invoke(deployprof.cli.cli, ['--help'])
        assert r.exit_code == 0, r.output
        r = CliRunner().invoke(deployprof.cli.cli, ['flops', r'{tmp_path / "m.onnx"}', '--json'])
        assert r.exit_code == 0, r.output
        assert '"macs": 128' in r.output, r.output
        r = CliRunner().invoke(deployprof.cli.cli, ['backends'])
        assert 'torch is not installed' in r.output or 'blocked' in r.output, r.output
        assert 'torch' not in sys.modules
        print('ok')
    """)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr


def test_export_without_torch_is_a_clear_error():
    res = run("""
        from click.testing import CliRunner
        from deployprof.cli import cli
        r = CliRunner().invoke(cli, ['export', 'tiny-vla', '--out', '/tmp/x'])
        assert r.exit_code == 1 and r.output.startswith('error: export needs PyTorch'), r.output
        print('ok')
    """)
    assert res.returncode == 0, res.stderr + res.stdout


def test_models_lists_presets_without_torch_compiler_imports():
    """`deployprof models` builds every preset on the meta device; a random initialisation there used to load
    torch's Python decompositions and dynamo (about 3 of its 5 seconds). Same listing, none of those imports."""
    res = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import sys, io
        from rich.console import Console
        from deployprof.report.terminal import print_models
        buf = io.StringIO()
        print_models(Console(file=buf, width=200))
        assert 'pi0-full' in buf.getvalue() and ' M ' in buf.getvalue(), buf.getvalue()
        assert 'torch._dynamo' not in sys.modules, 'meta-device build imported torch._dynamo'
    """)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
