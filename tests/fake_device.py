"""A stand-in device for the device-resident policy step on CPU-only machines: ONNX Runtime CPU behind torch
tensors, counting every copy in and out and every stage call."""
import numpy as np


def install_fake_device(monkeypatch) -> dict:
    import torch

    from deployprof.backends import BACKENDS

    base = BACKENDS.get("ort-cpu")
    counts = {"to_device": 0, "to_host": 0, "host_run": 0}

    class FakeDevice(base):
        """'Device' arrays are torch tensors: a stage fed anything else fails, so a host round trip cannot hide."""
        name = "fake-device"

        def has_device_arrays(self):
            return True

        def to_device(self, array):
            counts["to_device"] += 1
            return torch.from_numpy(np.array(array))

        def to_host(self, array):
            counts["to_host"] += 1
            return array.numpy().copy()

        def device_run(self, feeds):
            assert all(isinstance(v, torch.Tensor) for v in feeds.values()), {k: type(v) for k, v in feeds.items()}
            out = self._run({k: v.numpy() for k, v in feeds.items()})
            return {k: torch.from_numpy(v) for k, v in out.items()}

        def _run(self, feeds):
            counts["host_run"] += 1
            return super()._run(feeds)

    monkeypatch.setitem(BACKENDS._items, "fake-device", FakeDevice)
    return counts
