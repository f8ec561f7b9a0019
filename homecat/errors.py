"""Project exceptions. Library code raises these; the CLI turns them into one sentence on stderr.

Each class says what went wrong in its docstring and carries the exit code the CLI uses.
"""


class HomecatError(Exception):
    """Something the user can fix went wrong."""

    exit_code = 1

    def __init__(self, *lines: str):
        self.lines = [line for line in lines if line] or [self.__doc__ or "error"]
        super().__init__("\n".join(self.lines))


class ConfigError(HomecatError):
    """The settings are not valid; each line names the source and the field."""

    exit_code = 2


class CatalogLocked(HomecatError):
    """Another process holds the catalog's write lock."""

    exit_code = 3


class CatalogError(HomecatError):
    """The catalog file cannot be used as it is."""


class NoCatalog(CatalogError):
    """There is no catalog file where the settings say; ``path`` is where that was."""

    def __init__(self, path: object):
        self.path = path
        super().__init__(f"There is no catalog at {path}: run 'homecat scan' first.")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (libraries add pages of context below it), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
