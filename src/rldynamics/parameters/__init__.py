"""Stage 'parameters': W0's share of the parameter metrics, the metrics gathered into one table,
and their three figures.
"""
