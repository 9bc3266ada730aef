"""Stage 'AlphaRL': the update predicted from an early window (AlphaRL's variants, RELEX) and the
table of every variant against its window and the full run.
"""
