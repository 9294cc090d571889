"""Do our device-memory readings move by the right amount when a known-size buffer is allocated?"""
import sys

import torch

from deployprof.devices import cuda_used_bytes, device_used_memory, process_device_memory

SIZE = 1 << 30


def readings():
    torch.cuda.synchronize()
    return {"nvml_process": process_device_memory(0), "nvml_device_used": device_used_memory(0),
            "cudaMemGetInfo_used": cuda_used_bytes(0), "torch_allocated": int(torch.cuda.memory_allocated())}


torch.zeros(1, device="cuda")
before = readings()
buf = torch.empty(SIZE, dtype=torch.uint8, device="cuda")
buf.fill_(1)
after = readings()
ok = True
for key in before:
    if before[key] is None or after[key] is None:
        print(f"{key:22s} unavailable here")
        continue
    delta = after[key] - before[key]
    good = SIZE <= delta <= SIZE + (64 << 20)
    ok &= good or key == "nvml_device_used"  # device-wide: other tenants may move it
    print(f"{key:22s} delta {delta / 2**20:9.1f} MiB for a {SIZE / 2**20:.0f} MiB buffer  {'OK' if good else 'OFF'}")
print("memory check:", "PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
