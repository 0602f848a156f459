"""Tiny helpers shared by this example's plugins.

The weft engine runs each plugin from the folder of the workflow file and
- names a file in $WEFT_OUTPUT: every `key=value` line written there becomes an output of the stage;
- passes consumed upstream outputs as $WEFT_IN_<KEY> (key upper-cased);
- passes the stage's `with:` values as $WEFT_INPUTS (JSON) and $WEFT_INPUT_<NAME>.
Outside the engine (running a script by hand) outputs are printed instead.
"""
import json
import os
import sys


def inputs(defaults):
    """The stage's `with:` values, falling back to `defaults` for anything not given."""
    values = dict(defaults)
    raw = os.environ.get("WEFT_INPUTS")
    if raw:
        values.update(json.loads(raw))
    for name in list(values):
        env = os.environ.get("WEFT_INPUT_" + name.upper())
        if env is not None:
            values[name] = env
    return values


def consumed(key, default=None):
    """The value an upstream stage wrote for `key`."""
    return os.environ.get("WEFT_IN_" + key.upper(), default)


def emit(key, value):
    """Record an output of this stage."""
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
