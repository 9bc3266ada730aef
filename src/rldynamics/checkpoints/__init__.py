"""Stage 'checkpoints': the RL series, trained here (TRL's GRPO) or collected from a trainer's
folder, laid out as step-<N>/ folders with a checksum manifest, and the run's provenance.
"""
