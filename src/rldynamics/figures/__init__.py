"""Stage 'figures': the run's figures, each drawn from the tidy tables alone."""
