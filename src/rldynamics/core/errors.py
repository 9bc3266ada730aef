"""The one exception type for expected bad input: the command line prints it without a traceback."""


class InputError(Exception):
    """A bad input (file, tensor, key, value). The message names the thing at fault."""
