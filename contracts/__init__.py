"""What every command shares, defined once: the DATASET dir, the task, user errors, outputs, W&B policy.

Imports nothing of the project's other packages: ``datagen``, ``finetune`` and ``evaluation`` build on it.
"""
