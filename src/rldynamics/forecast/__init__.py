"""Stage 'forecast': where a run ends, from its checkpoints so far (a line in log-step with a
prediction interval), its backtest, and the folder mode that runs the workflow on a live run.
"""
