"""A stage's TensorRT engine, loaded: from the engine cache when an identical build is there (same graph, precision
mode, profile, TensorRT, GPU and settings), else built (build.py: Polygraphy's network loading and builder) and
stored with its provenance; then deserialized, its execution context opened and its layers read. The trt backend
only runs what this returns, as Polygraphy's runners take an engine or a loader of one."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..errors import BuildError
from ..manifest import graph_sha256
from ..results import EngineProvenance
from .api import open_context, weights_bytes
from .build import BuildLog, BuildSettings, build_engine
from .cache import EngineCache, cache_key, default_cache_dir, timing_cache_path
from .inspect import EngineLayers, parse_engine_info

log = logging.getLogger(__name__)


@dataclass
class LoadedEngine:
    runtime: Any                    # trt.Runtime: kept alive as long as the engine
    engine: Any                     # trt.ICudaEngine
    context: Any                    # trt.IExecutionContext
    context_memory: Optional[int]   # device memory the context runs in, when allocated by us (free it on close)
    layers: EngineLayers
    provenance: EngineProvenance
    log: BuildLog


def load_or_build(trt, api, onnx_path: Path, mode, profile: dict, settings: BuildSettings, runtime, device_id: int,
                  cache_dir: Optional[str], what: str) -> LoadedEngine:
    """`api` is engine.api.probe(trt); `runtime` the CUDA runtime (engine.cuda) the context's memory comes from;
    `what` names the stage in errors."""
    import onnx

    gpu, cc = runtime.device(device_id)
    cuda_rt, driver = runtime.versions()
    sha = graph_sha256(onnx_path)
    key = cache_key(onnx_sha256=sha, precision=mode.precision, build_mode=mode.description, shape_profile=profile,
                    tensorrt_version=api.version, gpu_name=gpu, compute_capability=cc,
                    builder_settings=settings.engine_affecting())
    cache = EngineCache(Path(cache_dir) / "trt" if cache_dir else default_cache_dir())
    data, cached, why = cache.lookup(key, api.version, gpu, cc)
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    blog = BuildLog()
    build_s = cached.build_s if cached else None
    if data is None:
        log.info("building TensorRT engine for %s (%s): %s", what, mode.description, why)
        initializers = {i.name for i in graph.initializer}
        data, build_s = build_engine(api, onnx_path, mode, profile, settings,
                                     timing_cache_path(cache.root, api.version, cc), blog,
                                     {i.name for i in graph.input if i.name not in initializers})
    trt_runtime = trt.Runtime(blog.logger())
    engine = trt_runtime.deserialize_cuda_engine(data)
    if engine is None:
        errs = blog.errors()
        raise BuildError(f"TensorRT could not deserialize the engine for {what}: {errs[-1] if errs else 'unknown'}")
    layers = parse_engine_info(engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON),
                               [n.name for n in graph.node])
    context, device_mem, context_memory = open_context(api, engine, runtime.malloc)
    try:
        prov = EngineProvenance(
            cache_key=key, engine_path=str(cache.paths(key)[0]), reused_from_cache=cached is not None,
            onnx_path=str(onnx_path), onnx_sha256=sha, tensorrt_version=api.version, gpu_name=gpu,
            compute_capability=cc, cuda_runtime_version=cuda_rt, driver_version=driver, precision=mode.precision,
            build_mode=mode.description, builder_flags=mode.flags, strongly_typed=mode.strongly_typed,
            speed_only=mode.speed_only, shape_profile=profile, builder_settings=settings.engine_affecting(),
            build_s=build_s, engine_bytes=len(data), layer_count=len(layers.layers),
            layer_precisions=layers.precision_mix(), inspector_format=layers.format,
            device_memory_bytes=device_mem, weights_bytes=weights_bytes(api, engine))
        if cached is None:
            cache.store(key, data, prov)
    except BaseException:  # the caller gets nothing to close: free what the context was given here
        if context_memory is not None:
            runtime.free(context_memory)
        raise
    return LoadedEngine(trt_runtime, engine, context, context_memory, layers, prov, blog)
