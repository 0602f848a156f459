"""Arithmetic helpers."""


def add(a, b):
    """Return a + b."""
    return a + b


def divide(a, b):
    """Return a / b; raise ZeroDivisionError with a clear message when b is 0."""
    if b == 0:
        raise ZeroDivisionError("minicalc.divide: division by zero")
    return a / b


def mean(values):
    """Return the arithmetic mean of a non-empty sequence of numbers."""
    values = list(values)
    if not values:
        raise ValueError("minicalc.mean: empty sequence")
    return sum(values) / len(values)
