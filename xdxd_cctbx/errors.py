"""Exceptions raised by the library; programs turn them into ``Sorry``."""


class XdxdError(Exception):
    """Base class of the errors xdxd_cctbx raises on purpose."""


class InputError(XdxdError, ValueError):
    """The user's input is wrong; the message names the problem and the fix."""


class SolveError(XdxdError, RuntimeError):
    """A method ran but found no usable solution."""
