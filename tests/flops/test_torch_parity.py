"""Dense FLOPs equal torch.utils.flop_counter.FlopCounterMode exactly, across exporters, opsets, and static
vs dynamic-shape exports bound to the same sizes."""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from deployprof.flops import analyze_model  # noqa: E402
from deployprof.inputs import make_inputs  # noqa: E402
from deployprof.presets import load_preset  # noqa: E402
from deployprof.vla import build_stages  # noqa: E402

pytestmark = pytest.mark.slow


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) if stride > 1 or cin != cout else nn.Identity()

    def forward(self, x):
        return torch.relu(self.b2(self.c2(torch.relu(self.b1(self.c1(x))))) + self.down(x))


class SmallResNet(nn.Module):
    """ResNet-18's structure at reduced width (stem, 4 stages of basic blocks, pool, fc)."""

    def __init__(self, w=16, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, w, 7, 2, 3, bias=False), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        chans = [w, w, 2 * w, 4 * w, 8 * w]
        self.blocks = nn.Sequential(*[BasicBlock(chans[i], chans[i + 1], 1 if i == 0 else 2) for i in range(4)])
        self.fc = nn.Linear(8 * w, classes)

    def forward(self, x):
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1), 1))


class SmallTransformer(nn.Module):
    """Two standard encoder layers (nn.TransformerEncoderLayer: MHA via SDPA + MLP)."""

    def __init__(self, d=64, heads=4):
        super().__init__()
        self.heads = heads
        self.layers = nn.ModuleList(nn.TransformerEncoderLayer(d, heads, 128, dropout=0.0, batch_first=True) for _ in range(2))

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def torch_dense_flops(module, args, sdpa_flops=0):
    # Grad enabled: keeps nn.TransformerEncoderLayer off its fused fast path, which the counter cannot see.
    with FlopCounterMode(display=False) as fc:
        module(*args)
    return fc.get_total_flops() + sdpa_flops


def export(module, args, names, path, exporter, opset, dynamic):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            dyn = tuple({0: torch.export.Dim("batch", min=1, max=64)} for _ in args) if dynamic else None
            prog = torch.onnx.export(module, args, dynamo=True, input_names=names, dynamic_shapes=dyn, opset_version=opset)
            prog.save(str(path), external_data=False)
        else:
            axes = {n: {0: "batch"} for n in names} if dynamic else None
            torch.onnx.export(module, args, str(path), dynamo=False, input_names=names, dynamic_axes=axes, opset_version=opset)


VARIANTS = [("dynamo", 18, True), ("torchscript", 17, False), ("torchscript", 18, True)]


@pytest.mark.parametrize("exporter,opset,dynamic", VARIANTS)
def test_standard_models_match_flop_counter(tmp_path, exporter, opset, dynamic):
    torch.manual_seed(0)
    cnn = SmallResNet().eval()
    x = torch.randn(2, 3, 64, 64)
    tr = SmallTransformer().eval()
    t = torch.randn(2, 24, 64)
    b, s, d, h = 2, 24, 64, 4
    sdpa = 2 * 2 * (b * h * s * s * (d // h)) * 2  # torch's counter misses CPU SDPA: QK^T + PV, 2 layers
    for module, args, extra in ((cnn, (x,), 0), (tr, (t,), sdpa)):
        path = tmp_path / f"{type(module).__name__}.onnx"
        export(module, args, ["x"], path, exporter, opset, dynamic)
        got = analyze_model(path, dims={"batch": 2} if dynamic else None)
        assert not got.lower_bound, got.unresolved_nodes[:3]
        assert got.flops == torch_dense_flops(module, args, extra), type(module).__name__


@pytest.mark.parametrize("exporter,opset,dynamic", VARIANTS)
def test_tiny_preset_stages_match_flop_counter(tmp_path, exporter, opset, dynamic):
    for st in build_stages(load_preset("tiny-vla")).stages:
        feeds = make_inputs(st.inputs, batch=2, seed=0)
        args = tuple(torch.from_numpy(feeds[t.name]) for t in st.inputs)
        path = tmp_path / f"{st.name}.onnx"
        names = [t.name for t in st.inputs]
        if dynamic and exporter == "dynamo":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                batch = torch.export.Dim("batch", min=1, max=64)
                prog = torch.onnx.export(st.module, args, dynamo=True, input_names=names, opset_version=opset,
                                         dynamic_shapes=tuple({i: batch for i in st.dynamic_axes(t)} for t in st.inputs))
                prog.save(str(path), external_data=False)
        elif dynamic:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(st.module, args, str(path), dynamo=False, input_names=names, opset_version=opset,
                                  dynamic_axes={t.name: st.dynamic_axes(t) for t in st.inputs})
        else:
            export(st.module, args, names, path, exporter, opset, False)
        got = analyze_model(path, dims={"batch": 2} if dynamic else None)
        assert not got.lower_bound, (st.name, got.unresolved_nodes[:3])
        with torch.no_grad():
            want = torch_dense_flops(st.module, args)
        assert got.flops == want, st.name
        assert np.isfinite(got.flops_total)
