"""rldynamics: what RL training does to the weights of a language model, and how to skip it.

The maths lives in small modules over tensors (``factors``, ``build``, ``dynamics``,
``alpharl``, ``recovery``); ``cli`` exposes them to the Snakemake rules and to people.
"""

__version__ = "0.1.0"
