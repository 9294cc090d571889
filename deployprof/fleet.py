"""Fleet dispatch on Ray: each sweep configuration is a Ray task that needs its device's resource label, so it
runs only on a machine that joined the cluster with that label (`ray start --address HEAD --resources
'{"device:jetson-agx-orin": 1}'`); the result comes back to the launching machine, which stores it. Ray is an
optional extra (`pip install "deployprof[fleet]"`), imported only here."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Optional

from .errors import BackendUnavailableError, ConfigError

log = logging.getLogger(__name__)


def resource(device: str) -> str:
    return f"device:{device}"


def _remote_run(run: Callable, cfg, key: str, out: str, spec: Optional[str]) -> dict:
    """Runs on the worker: the configuration, measured there by `run` (sweep.run_configuration); the node id says
    where."""
    import ray

    result = run(cfg, key, Path(out), Path(spec) if spec else None)
    result["node"] = ray.get_runtime_context().get_node_id()
    return result


def dispatch(configs: list, keys: dict, out: Path, spec: Optional[Path], address: str,
             on_result: Callable, say: Callable[[str], None], run: Callable) -> None:
    """One task per configuration, at most one at a time per device label (each label's resource is a count), each
    measured there by `run(cfg, key, out, spec)`; results are handed to on_result as they finish."""
    try:
        import ray
        from ray.exceptions import RayError
    except ImportError:
        raise BackendUnavailableError("--ray needs Ray: pip install \"deployprof[fleet]\"") from None
    try:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as exc:
        raise ConfigError(f"cannot join the Ray cluster at {address}: {str(exc).splitlines()[0]}") from None
    try:
        offered = set(ray.cluster_resources())
        task = ray.remote(_remote_run)
        pending = {}
        for c in configs:
            need = resource(c.device)
            if need not in offered:
                on_result(c, None, ConfigError(f"no node of the Ray cluster offers {need}: start one with "
                                                f"ray start --address {address} --resources '{{\"{need}\": 1}}'"))
                continue
            ref = task.options(resources={need: 1}, num_cpus=1, max_retries=0).remote(
                run, c, keys[c], str(Path(out).resolve() / c.device), str(spec.resolve()) if spec else None)
            pending[ref] = c
        say(f"dispatched {len(pending)} configuration(s) to the Ray cluster at {address}")
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            c = pending.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except RayError as exc:
                cause = getattr(exc, "cause", None)
                on_result(c, None, cause if isinstance(cause, Exception) else exc)
            else:
                on_result(c, result, None, result.pop("node", None))
    finally:
        ray.shutdown()
