"""`deployprof export --lerobot DIR` (and `profile DIR`): LeRobot's own classes build the policy from the folder,
each stage is exported and compared with PyTorch, and the whole policy step is compared with LeRobot's own inference
(`post(policy.select_action(pre(obs)))`) on the same observations and noise, per action dimension."""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import ExportError
from ..export import OPSET, export_build
from ..files import staged_folder
from ..inputs import make_inputs
from ..manifest import MANIFEST_VERSION, Manifest, StepParity, LoadedExport, sha256_file
from ..policy import open_policy, scheduler_noise
from .checkpoint import Checkpoint, load_checkpoint
from .stages import POLICY_TYPES, SMOLVLA_BATCH_NOTE

PARITY_SAMPLES = 2
PARITY_TOLERANCE = 1e-3   # robot units; float32 graphs against float32 PyTorch (the loop in float64)


# The policy step's input that holds the initial noise, per type; LeRobot's select_action takes it as `noise`.
NOISE_INPUT = {"diffusion": "sample", "smolvla": "x_t"}


def export_lerobot(folder: Path, out: Path, *, task: str = "", exporter: Optional[str] = None, force: bool = False,
                   own: bool = False) -> tuple[Manifest, dict[str, float]]:
    """`task`: the language prompt of a policy that takes one (SmolVLA), tokenised now and fixed in the graph."""
    ck = load_checkpoint(Path(folder), tuple(POLICY_TYPES))
    build = POLICY_TYPES.get(ck.type)(ck, task)
    with staged_folder(Path(out), force, own) as staging:
        specs, used, timings = export_build(build, staging, exporter, seed=0, atol=1e-4, rtol=1e-4)
        digest = sha256_file(Path(folder) / "model.safetensors")   # streamed: a real SmolVLA file is 1.8 GB
        manifest = Manifest(schema_version=MANIFEST_VERSION, stages=tuple(specs), schedule=build.schedule,
                            action_output=build.action_output, action_shape=build.action_shape,
                            family=f"lerobot-{ck.type}", exporter="+".join(sorted(used)), opset=OPSET,
                            default_dims=build.default_dims,
                            source={"kind": "lerobot", "lerobot": ck.version, "policy_type": ck.type,
                                    "checkpoint": Path(folder).resolve().name, "model_sha256": digest,
                                    **({"task": task} if ck.type == "smolvla" else {})},
                            notes=_notes(ck.type, task), action_std=ck.action_std)
        manifest.write(staging)
        t0 = time.perf_counter()
        manifest = replace(manifest, step_parity=step_parity(ck, manifest, staging, task))
        timings["policy step parity"] = time.perf_counter() - t0
        manifest.write(staging)
    return manifest, timings


def _notes(kind: str, task: str) -> tuple[str, ...]:
    if kind != "smolvla":
        return ()
    return (SMOLVLA_BATCH_NOTE,) + (() if task else ("the prompt is empty: pass --task with the robot's instruction",))


def step_parity(ck: Checkpoint, manifest: Manifest, root: Path, task: str = "") -> StepParity:
    """Our policy step on ONNX Runtime against LeRobot's own select_action, PARITY_SAMPLES seeded observations; over
    the tolerance is an ExportError (the export is wrong)."""
    worst: Optional[np.ndarray] = None
    with open_policy(LoadedExport(manifest, root, str(root)), "ort-cpu") as step:
        for i in range(PARITY_SAMPLES):
            feeds = make_inputs(manifest.external_inputs(), batch=1, seed=100 + i, dims=manifest.binding(1))
            if ck.type == "diffusion":  # select_action's history after a reset: the current frame, repeated
                for key in ck.policy.config.input_features:
                    feeds[key] = np.repeat(feeds[key][:, -1:], feeds[key].shape[1], axis=1)
            ours = np.asarray(step(dict(feeds))[manifest.action_output])
            theirs = lerobot_actions(ck, manifest, feeds, task)
            err = np.abs(ours[:, :theirs.shape[1]].astype(np.float64) - theirs).reshape(-1, ours.shape[-1]).max(axis=0)
            worst = err if worst is None else np.maximum(worst, err)
    per_dim = tuple(float(e) for e in worst)
    reference = f"lerobot {ck.version} {type(ck.policy).__name__}.select_action between its processors"
    if not all(np.isfinite(per_dim)) or max(per_dim) > PARITY_TOLERANCE:
        raise ExportError(f"{ck.folder}: the exported policy step differs from LeRobot's own select_action by up to "
                          f"{max(per_dim):.3g} (tolerance {PARITY_TOLERANCE}) on action dimension "
                          f"{int(np.argmax(per_dim))}; the export is wrong")
    return StepParity(reference, PARITY_SAMPLES, PARITY_TOLERANCE, per_dim)


def lerobot_actions(ck: Checkpoint, manifest: Manifest, feeds: dict, task: str = "") -> np.ndarray:
    """`post(policy.select_action(pre(obs)))` called once per action of the chunk (it serves them one at a time),
    from a reset policy: [batch, n, action_dim] in robot units. Diffusion Policy gets our initial noise and our
    DDPM step noise; its observation history is the one frame repeated, as select_action fills it on a reset."""
    import torch

    policy, frames = ck.policy, {}
    for key in policy.config.input_features:
        x = torch.from_numpy(np.ascontiguousarray(feeds[key]))
        frames[key] = x[:, -1] if ck.type == "diffusion" else x   # the current frame (the history repeats it)
    if ck.type == "smolvla":
        frames["task"] = [task] * len(feeds[next(iter(policy.config.input_features))])
    noise = torch.from_numpy(feeds[NOISE_INPUT[ck.type]]) if ck.type in NOISE_INPUT else None
    policy.reset()
    out = []
    with torch.no_grad(), _ddpm_noise(manifest, feeds):
        for _ in range(policy.config.n_action_steps):
            batch = ck.pre(dict(frames))
            action = policy.select_action(batch, noise=noise) if noise is not None else policy.select_action(batch)
            out.append(ck.post(action).numpy())
    return np.stack(out, axis=1).astype(np.float64)


@contextmanager
def _ddpm_noise(manifest: Manifest, feeds: dict):
    """diffusers' DDPM step draws its noise from torch's generator: hand it the loop's own draws (scheduler_noise),
    in order, so that both sides add the same noise."""
    loops = [c.loop for c in manifest.schedule if c.loop is not None and c.loop.scheduler is not None]
    if not loops or loops[0].scheduler.type != "DDPM":
        yield
        return
    import diffusers.schedulers.scheduling_ddpm as ddpm
    import torch


    s = loops[0].scheduler
    draws = [n for n, t in zip(scheduler_noise(s, tuple(feeds[loops[0].state].shape)), s.timesteps) if t > 0]
    it = iter(draws)
    saved = ddpm.randn_tensor
    ddpm.randn_tensor = lambda shape, generator=None, device=None, dtype=None, **kw: \
        torch.from_numpy(next(it)).to(dtype)
    try:
        yield
    finally:
        ddpm.randn_tensor = saved
