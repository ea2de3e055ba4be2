"""The library's own exceptions. The CLI turns each into one line and an exit code; nothing here prints."""

from __future__ import annotations


class PlannerError(Exception):
    """Base class: a problem the user can act on. ``exit_code`` is what the CLI returns."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(PlannerError):
    """Bad input: a file, a field or a flag. Exit code 2."""


class InfeasibleError(PlannerError):
    """The scenario has no plan; ``explanation`` says what does not fit and what would. Exit code 1."""

    exit_code = 1

    def __init__(self, message: str, explanation: dict | None = None) -> None:
        super().__init__(message)
        self.explanation = explanation or {}


class SolveTimeoutError(PlannerError):
    """The solver found no plan within the time limit. Exit code 3. ``bound_usd_per_hour``: the solver's bound on
    the cost when it had one (the program it stopped on has no cheaper solution), else None."""

    def __init__(self, message: str, bound_usd_per_hour: float | None = None) -> None:
        super().__init__(message)
        self.bound_usd_per_hour = bound_usd_per_hour

    exit_code = 3


def did_you_mean(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""`` when nothing is close."""
    import difflib

    w = str(word).lower()[:200]  # a long value has no close match, and difflib is quadratic in its length
    lowered = {c.lower(): c for c in choices}
    prefix = sorted(c for c in lowered if c.startswith(w) and c != w) if len(w) >= 3 else []
    if prefix:
        names = [f"'{lowered[c]}'" for c in prefix[:3]]
        return f" (did you mean {' or '.join(names)}?)"
    match = difflib.get_close_matches(w, list(lowered), n=1, cutoff=0.6)
    return f" (did you mean '{lowered[match[0]]}'?)" if match else ""


def not_one_of(label: str, value: object, allowed: list[str] | tuple[str, ...]) -> str:
    """The one shape of a "not an allowed value" message: ``label: 'x' is not one of a, b, c (did you mean 'a'?)``."""
    return f"{label}'{cut(str(value))}' is not one of {', '.join(allowed)}{did_you_mean(str(value), allowed)}"


SHOWN_CHARS = 60  # an echoed value longer than this is cut: an error line stays readable whatever the input


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """``repr``-like text of a user's value for a message, cut to ``limit`` characters + '...' (a 1 MB id stays short)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 3 * limit:
        return f"an integer of {int(value.bit_length() * 0.30103) + 1} digits"  # str() of a 5,000-digit int raises
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def cut(text: str, limit: int = SHOWN_CHARS) -> str:
    """A user's string cut to ``limit`` characters + '...' (no quotes added)."""
    return text if len(text) <= limit else text[:limit] + "..."
