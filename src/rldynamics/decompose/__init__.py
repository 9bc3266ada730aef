"""Stage 'decompose': one pass over every decomposed matrix of a checkpoint: the top-k singular
factors of ΔW (the randomized engine in lowrank) and the Path Not Taken metrics of the same pair.
"""
