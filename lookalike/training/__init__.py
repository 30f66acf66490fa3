"""LoRA fine-tuning of a base model on a tune's photos (DreamBooth-style, diffusers + PEFT).

``presets.py`` reads the training presets (data: built-in JSON files and the
operator's), ``plan.py`` turns a preset and a tune into the exact settings of
one training run, ``models.py`` loads the base model's components for
training (SD1.5 or SDXL), ``loop.py`` trains, checkpoints and resumes,
``export.py`` writes the result in the kohya layout A1111 and ComfyUI load.
Nothing here knows the database or the blob store: the caller (the training
queue, lookalike/jobs) hands in the pictures and a ``TrainingHooks`` object
that stores checkpoints, records progress and says when to stop.
"""
