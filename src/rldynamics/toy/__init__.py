"""The embedded toy world: a verifiable task, a tokenizer, a tiny decoder LM and its RL run.

It only provides the *sources* (a base model folder and a series of RL checkpoints); every
stage after that is the same code a real run uses.
"""
