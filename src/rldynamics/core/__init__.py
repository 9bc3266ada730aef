"""The shared core every stage imports: errors, file I/O, settings, the names of tensors,
windows and variants, the answer grader and the bootstrap statistics. It imports no stage.
"""
