"""Stage 'evaluate': the models a run scores (checkpoints, rank-k, AlphaRL, the baseline), each
built in memory from its recipe, scored with lm-eval through the hf or vllm backend, and the
tidy tables read back from those scores.
"""
