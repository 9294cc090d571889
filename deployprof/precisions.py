"""The precision names every layer speaks (options, specs, sweeps, manifests), apart from the preparer
(precision/prepare.py) that needs onnx to make them."""

PRECISIONS = ("fp32", "fp16", "fp16-naive", "int8", "int8-dynamic")
