"""Profiling tools: where the training time goes, and how the kernels compare with NumPy.

    python -m profiling.bench_kernels   every kernel vs its NumPy equivalent at the network's shapes
    python -m profiling.bench_epoch     one training epoch: kernels vs NumPy vs scikit-learn (+ scaling)
    python -m profiling.line_report     line_profiler reports of a training step, and a breakdown plot
    python -m kernels show NAME         compiled signatures, typed source and SIMD use of one kernel

`profiling.numpy_reference.NumpyNetwork` is the same network in vectorised NumPy, for comparison.
See profiling/README.md for the outputs and the bottleneck analysis.
"""
