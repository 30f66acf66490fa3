"""Running a prompt end to end: check it, generate, finish (post-process) and score the images.

This room sits above both ``generation`` and ``postprocess`` and is the only
place that combines them, so neither imports the other. It sees the rest of
the service through ``RunContext``, a narrow, typed view, never the
composition root itself.
"""
