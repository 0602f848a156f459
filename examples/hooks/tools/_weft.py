"""Tiny helpers for this example's tools: weft outputs go to the file named by $WEFT_OUTPUT as
`key=value` lines; consumed upstream outputs arrive as $WEFT_IN_<KEY>; stage inputs (`with:`) as
$WEFT_INPUTS (JSON) or $WEFT_INPUT_<NAME>."""
import json
import os
import sys


def inputs(defaults):
    values = dict(defaults)
    if os.environ.get("WEFT_INPUTS"):
        values.update(json.loads(os.environ["WEFT_INPUTS"]))
    for name in list(values):
        if ("WEFT_INPUT_" + name.upper()) in os.environ:
            values[name] = os.environ["WEFT_INPUT_" + name.upper()]
    return values


def consumed(key):
    value = os.environ.get("WEFT_IN_" + key.upper())
    if not value:
        fail(f"missing input $WEFT_IN_{key.upper()} (is the stage that provides `{key}` upstream?)")
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
