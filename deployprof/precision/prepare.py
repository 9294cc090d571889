"""Make a lower-precision variant of an FP32 export folder (docs/PRECISIONS.md: which library makes each, and why).

fp16: onnxconverter-common's converter, graph inputs/outputs kept FP32 (so the host loop integrates in FP32),
      normalisation, softmax and the sin/cos/exp of positional and time embeddings kept FP32 (block list).
fp16-naive: everything FP16, I/O included, so the host loop also runs in FP16: the known trap, kept to show
      its cost next to the safe conversion.
int8: static Q/DQ (symmetric int8, per-channel weights: what TensorRT expects) calibrated on representative
      stage inputs; min-max, entropy or percentile.
int8-dynamic: weights int8, activations quantised at run time (CPU deployment).
bf16, fp8: graph/lowbit.py (BF16 retyping of the FP16 conversion; FP8 E4M3 Q/DQ, amax-calibrated).
int4: weight-only, block-wise, by graph/lowbit.py: awq-clip (clip searched on calibration activations) or RTN."""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import warnings
from typing import Iterator, Optional
from pathlib import Path

from ..errors import ConfigError
from ..config import CALIBRATION_METHODS, INT4_METHODS, CalibrationConfig
from ..precision_names import INT4_BLOCK, LOW, MIXED, base_precision, refusal
from ..files import staged_folder
from ..manifest import LoadedExport, TensorSpec, load_subject
from .calibration import external_samples, fingerprint, stage_samples
from ..graph.lowbit import quantize_fp8, quantize_int4, to_bf16

log = logging.getLogger(__name__)

def _has_external_data(path: Path) -> bool:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)


def _save(model, dst: Path, external: bool) -> None:
    """A graph whose source kept its weights in an external file keeps them so (a model over 2 GB must)."""
    import onnx

    if external:
        onnx.save(model, str(dst), save_as_external_data=True, all_tensors_to_one_file=True,
                  location=f"{dst.name}.data", size_threshold=1024)
    else:
        onnx.save(model, str(dst))


@contextlib.contextmanager
def _beside(folder: Path) -> Iterator[None]:
    """Work in `folder` while graphs are saved there: onnx refuses an external-data file name that exists in the
    *current* directory (its check is not relative to the model), so a user working beside their own vit.onnx.data
    could not prepare vit.onnx. Every path used inside is absolute."""
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(cwd)


def _private_copy(src: Path, private: Path) -> bool:
    """`src` copied for ONNX Runtime's quantizer to read (it writes <model>-inferred.onnx beside its input), its
    external data with it (once the copy pointed at a .data file that was not there); True if it has some."""
    import onnx

    external = _has_external_data(src)
    if external:
        _save(onnx.load(str(src)), private, True)
    else:
        shutil.copyfile(src, private)
    return external


def _fp16(src: Path, dst: Path, keep_io: bool, block: tuple[str, ...], keep_nodes: tuple[str, ...] = (),
          bf16: bool = False) -> None:
    """FP16 by onnxconverter-common; BF16 is its typing retyped (lowbit.to_bf16)."""
    import onnx
    from onnxconverter_common import float16

    model = onnx.load(str(src))
    original = onnx.ModelProto()
    original.CopyFrom(model)   # the converter converts in place: BF16 rounds from these FP32 weights
    blocked = list(float16.DEFAULT_OP_BLOCK_LIST) + list(block)
    with warnings.catch_warnings():  # one warning per weight clamped to fp16's range: the count is what matters
        warnings.simplefilter("ignore")
        converted = float16.convert_float_to_float16(model, keep_io_types=keep_io, op_block_list=blocked,
                                                     node_block_list=list(keep_nodes) or None)
    _retarget_casts(converted)
    if keep_io:
        _restore_output_types(original, converted)
    if bf16:
        converted = to_bf16(original, converted)
    _save(converted, dst, _has_external_data(src))


def _fp8(src: Path, dst: Path, feeds: list[dict], keep_nodes: tuple[str, ...], external: bool) -> None:
    import onnx

    _save(quantize_fp8(onnx.load(str(src)), feeds, keep_nodes), dst, external)


def _int4(src: Path, dst: Path, feeds: Optional[list[dict]], keep_nodes: tuple[str, ...], external: bool) -> None:
    import onnx

    _save(quantize_int4(onnx.load(str(src)), feeds, keep_nodes, INT4_BLOCK), dst, external)


def _restore_output_types(original, converted) -> None:
    """keep_io_types can still leave an output FP16 (seen when a Slice/Gather of a kept-FP32 node ends the
    graph): cast such outputs back, so the graph's interface is exactly the FP32 one."""
    from onnx import TensorProto, helper

    want = {o.name: o.type.tensor_type.elem_type for o in original.graph.output}
    for out in converted.graph.output:
        if want.get(out.name) == TensorProto.FLOAT and out.type.tensor_type.elem_type == TensorProto.FLOAT16:
            inner = out.name + "_fp16"
            for node in converted.graph.node:
                node.output[:] = [inner if o == out.name else o for o in node.output]
                node.input[:] = [inner if i == out.name else i for i in node.input]
            converted.graph.node.append(helper.make_node("Cast", [inner], [out.name], to=TensorProto.FLOAT))
            out.type.tensor_type.elem_type = TensorProto.FLOAT


def _retarget_casts(model) -> None:
    """The converter retypes a Cast's output to float16 but leaves its `to` at float32 (ONNX Runtime then refuses
    the graph): point such casts at float16, which is what their consumers now expect."""
    from onnx import TensorProto

    fp16_values = {v.name for v in list(model.graph.value_info) + list(model.graph.output)
                   if v.type.tensor_type.elem_type == TensorProto.FLOAT16}
    for node in model.graph.node:
        if node.op_type == "Cast" and node.output[0] in fp16_values:
            for a in node.attribute:
                if a.name == "to" and a.i == TensorProto.FLOAT:
                    a.i = TensorProto.FLOAT16


# What each new format is, in its manifest (precision_info), beside the calibration where it has one.
FORMATS = {
    "bf16": {"format": "BF16 weights and activations (FP32 I/O), FP32 accumulation; ONNX Runtime's CPU provider "
                       "runs it emulated (FP32 kernels, BF16 rounding: graph/lowbit.py)"},
    "fp8": {"format": "FP8 E4M3 Q/DQ: per-tensor activation scales, per-channel weights, at MatMul/Gemm/Conv inputs"},
    "int4": {"format": f"INT4 weight-only, symmetric, {INT4_BLOCK} weights per scale, blocked DequantizeLinear "
                       "before each MatMul (ONNX Runtime fuses it into MatMulNBits)"},
}
COMPUTE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
SHARED_WEIGHT = "Quantization parameter shared mode is not supported for weight"


def _int8_static(src: Path, dst: Path, feeds: list[dict], method: str, keep_nodes: tuple[str, ...] = (),
                 external: bool = False) -> Optional[str]:
    """Q/DQ around every op ONNX Runtime's quantizer handles; when it cannot (a weight whose op shares its input's
    quantization parameters, as in LeRobot's Diffusion UNet), around the compute ops only. Returns why, if so."""
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(feeds)

        def get_next(self):
            return next(self.it, None)

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy, "percentile": CalibrationMethod.Percentile}

    def run(**only) -> None:
        with _quiet_root_logger():
            quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                            calibrate_method=methods[method], nodes_to_exclude=list(keep_nodes), **only,
                            use_external_data_format=external,
                            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                                           "CalibTensorRangeSymmetric": True})
    try:
        run()
        return None
    except ValueError as exc:
        if SHARED_WEIGHT not in str(exc):
            raise
    run(op_types_to_quantize=list(COMPUTE_OPS))
    return (f"quantized at {', '.join(COMPUTE_OPS)} only: ONNX Runtime's quantizer refused the whole graph "
            f"({SHARED_WEIGHT.lower()})")


def _int8_dynamic(src: Path, dst: Path, external: bool = False) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_root_logger():
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                         use_external_data_format=external)


@contextlib.contextmanager
def _quiet_root_logger():
    """onnxruntime.quantization logs advice on the root logger at WARNING; keep it off the user's terminal."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _write_variant(manifest, export_dir: Path, precision: str, out_dir: Path, calib: CalibrationConfig,
                   keep: dict[str, tuple[str, ...]]) -> None:
    info: dict = {"source_export": str(export_dir)}
    if keep or precision in MIXED:
        info["kept_fp32_nodes"] = {stage: list(nodes) for stage, nodes in keep.items()}  # empty ones dropped already
    named, precision = precision, base_precision(precision)
    stages = list(manifest.stages)
    samples: dict[str, list[dict]] = {}
    calibrated = precision in ("int8", "fp8") or (precision == "int4" and calib.int4_method == "awq-clip")
    if calibrated:
        externals, where = external_samples(manifest, calib.samples, calib.seed, Path(calib.source) if calib.source else None)
        samples = stage_samples(manifest, export_dir, externals)
        method = {"int8": calib.method, "fp8": "amax (max |x|) / 448", "int4": "awq-clip"}[precision]
        info["calibration"] = {"method": method, "policy_steps": len(externals), "source": where,
                               "stage_samples": {k: len(v) for k, v in samples.items()}, "sha256": fingerprint(samples)}
    if precision.startswith("fp16") or precision == "bf16":
        info["fp32_kept_ops"] = [] if precision == "fp16-naive" else list(calib.fp16_block_ops)
        info["io"] = "float16" if precision == "fp16-naive" else "float32 (host-side loop arithmetic in FP32)"
    info.update(FORMATS.get(precision, {}))
    if precision == "int4":
        info["int4_method"] = calib.int4_method
    for i, s in enumerate(stages):
        src, dst = (export_dir / s.file).resolve(), (out_dir / s.file).resolve()
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            with _beside(dst.parent):  # onnx checks an external-data name against the working directory
                if precision in ("fp16", "bf16"):
                    _fp16(src, dst, keep_io=True, block=calib.fp16_block_ops, keep_nodes=keep.get(s.name, ()),
                          bf16=precision == "bf16")
                elif precision == "fp16-naive":
                    _fp16(src, dst, keep_io=False, block=())
                    stages[i] = dataclasses.replace(s, inputs=tuple(map(_fp16_io, s.inputs)), outputs=tuple(map(_fp16_io, s.outputs)))
                elif precision == "fp8":
                    _fp8(src, dst, samples.get(s.name, []), keep.get(s.name, ()), _has_external_data(src))
                elif precision == "int4":
                    _int4(src, dst, samples.get(s.name) if calibrated else None, keep.get(s.name, ()),
                          _has_external_data(src))
                else:
                    # ONNX Runtime's quantizer writes <model>-inferred.onnx beside its input: give it a private copy, so
                    # nothing is ever written into the source export (which may be read-only, or shared by other runs).
                    private = dst.parent / f".source-{dst.name}"
                    external = _private_copy(src, private)
                    if precision == "int8":
                        why = _int8_static(private, dst, samples.get(s.name, []), calib.method, keep.get(s.name, ()),
                                           external)
                        if why:
                            info.setdefault("stages_quantized_at_compute_ops_only", {})[s.name] = why
                    else:
                        _int8_dynamic(private, dst, external)
        except ConfigError:
            raise
        except ImportError as exc:
            raise ConfigError(f"{precision} preparation needs {exc.name or 'a missing package'}: "
                              "pip install 'deployprof[cpu]' (or [gpu])") from None
        except Exception as exc:
            raise ConfigError(f"{precision} preparation of stage {s.name} failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    for stray in (*out_dir.glob("*-augmented.onnx*"), *out_dir.glob(".source-*"), *out_dir.glob("*-inferred.onnx*")):
        stray.unlink()
    dataclasses.replace(manifest, stages=tuple(stages), precision=named, precision_info=info).write(out_dir)


def _fp16_io(spec: TensorSpec) -> TensorSpec:
    return dataclasses.replace(spec, dtype="float16") if spec.dtype == "float32" else spec


def prepare_precision(export: "Path | LoadedExport", precision: str, out_dir: Path,
                      calib: CalibrationConfig = CalibrationConfig(),
                      keep: Optional[dict[str, tuple[str, ...]]] = None) -> Path:
    """Write `out_dir` (stage graphs + manifest) for `precision` from the FP32 export (a path, or already loaded);
    FP32 itself is the given path. `keep`: per stage, graph nodes left in FP32 (INT8's nodes_to_exclude, FP16's
    node_block_list), recorded in the manifest as kept_fp32_nodes; a mixed precision (int8-mixed) needs it, and so
    does precision-debug's trial of its base precision with some nodes kept."""
    if precision in MIXED and keep is None:
        raise ConfigError(f"{precision} is {MIXED[precision]} with the components `deployprof precision-debug` keeps "
                          f"in FP32: run it (profile --precisions ...,{precision} runs it for you) and measure its "
                          f"export-{precision}/ folder")
    keep = {k: tuple(v) for k, v in (keep or {}).items() if v}
    if refusal(precision):
        raise ConfigError(refusal(precision))
    if keep and base_precision(precision) not in LOW:
        raise ConfigError(f"nodes kept in FP32 make a mixed {', '.join(LOW)} variant, not {precision}")
    out_dir = Path(out_dir)
    manifest, export_dir = load_subject(export)
    if manifest.precision != "fp32":
        raise ConfigError(f"{export_dir} is already {manifest.precision}; prepare precisions from the FP32 export")
    if manifest.static_only:
        raise ConfigError(f"{export_dir} is a shapes-only export; precision variants need real weights")
    if precision == "fp32":
        return export.root if isinstance(export, LoadedExport) else Path(export)
    if calib.method not in CALIBRATION_METHODS:
        raise ConfigError(f"--calibration-method must be minmax, entropy or percentile, got {calib.method!r}")
    if calib.int4_method not in INT4_METHODS:
        raise ConfigError(f"--int4-method must be {' or '.join(INT4_METHODS)}, got {calib.int4_method!r}")
    with staged_folder(out_dir, own=True) as staging:  # the run's own folder: replaced whole, never mixed
        _write_variant(manifest, export_dir, precision, staging, calib, keep)
    return out_dir

