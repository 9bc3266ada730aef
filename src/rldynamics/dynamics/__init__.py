"""Stage 'dynamics': rank-k recovery, the rank-1 series and the linearity of its trajectories."""
