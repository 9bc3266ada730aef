"""Tools about whole runs rather than one stage: the compute and disk plans, the pilot, a run
repeated over seeds, the profile of a finished run and the configuration reference.
"""
