"""Stage 'claims': item-level verdicts, every derived number with its bootstrap interval, the
papers' claims against them, and the forest plot.
"""
