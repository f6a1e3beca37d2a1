"""erpgen's exceptions. The library raises them; only the CLI turns them into one line and exit code 2."""


class ErpGenError(Exception):
    """Base class: a problem the user can fix. `hint` says how."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(ErpGenError):
    """A parameter is invalid (bad date, probability outside [0, 1], ...)."""


class TargetError(ErpGenError):
    """The target database cannot be used: unreachable, refused, not empty, unsupported."""


def one_line(text: str) -> str:
    """`text` with its control characters escaped (a newline as \\n): a message quotes what the user typed,
    a key in a scenario file may hold a line break, and the message must stay one line."""
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)
