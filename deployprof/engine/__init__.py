"""Native TensorRT engines: what this TensorRT can do, how precision reaches the engine, optimisation profiles,
the on-disk engine cache with provenance, inspector parsing, CUDA buffers, building and layer profiling.
Everything but build.py, cuda.py and profiler.py is pure logic, tested on the CPU."""
