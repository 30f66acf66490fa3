"""Image generation: load and cache pipelines, schedulers, the FaceID adapter, run a job.

Importing this package is cheap; torch and diffusers are imported by the
modules that run models (``engine``, ``pipelines``), and only when used.
"""
