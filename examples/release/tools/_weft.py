"""Tiny helpers for this example's tools: weft outputs go to the file named by $WEFT_OUTPUT as
`key=value` lines; consumed upstream outputs arrive as $WEFT_IN_<KEY>."""
import os
import sys


def consumed(key):
    value = os.environ.get("WEFT_IN_" + key.upper())
    if not value:
        fail(f"missing $WEFT_IN_{key.upper()}: is the step that provides `{key}` upstream?")
    return value


def emit(key, value):
    line = f"{key}={value}\n"
    path = os.environ.get("WEFT_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)
    else:
        sys.stdout.write("output " + line)


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)
