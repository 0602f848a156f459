#!/bin/sh
# Create a scratch git repository in .sandbox/repo (inside this example) with a `main` branch and a
# `feature/greeting` branch to merge. BREAK_FEATURE=1 makes the feature branch break a test, so the
# plan's test step fails and the rollback fallback runs. Provides `repo_dir`.
set -eu
repo=.sandbox/repo
rm -rf "$repo"
mkdir -p "$repo"
git init -q "$repo"
cd "$repo"
git symbolic-ref HEAD refs/heads/main
git config user.name "weft example"
git config user.email "weft@example.invalid"
git config commit.gpgsign false

cat > greet.py <<'PY'
def greet(name):
    return f"Hello, {name}!"
PY
cat > test_greet.py <<'PY'
import unittest

from greet import greet


class GreetTest(unittest.TestCase):
    def test_greet(self):
        self.assertEqual(greet("Ada"), "Hello, Ada!")


if __name__ == "__main__":
    unittest.main()
PY
git add greet.py test_greet.py
git commit -q -m "greet()"

git checkout -q -b feature/greeting
cat >> greet.py <<'PY'


def farewell(name):
    return f"Goodbye, {name}!"
PY
if [ "${BREAK_FEATURE:-0}" = 1 ]; then expected="Bye, Ada."; else expected="Goodbye, Ada!"; fi
cat > test_farewell.py <<PY
import unittest

from greet import farewell


class FarewellTest(unittest.TestCase):
    def test_farewell(self):
        self.assertEqual(farewell("Ada"), "$expected")


if __name__ == "__main__":
    unittest.main()
PY
git add greet.py test_farewell.py
git commit -q -m "farewell()"

# Meanwhile on main: an unrelated change, so the merge is a real three-way merge.
git checkout -q main
printf '# greet\n\nGreeting helpers.\n' > README.md
git add README.md
git commit -q -m "README"

cd - >/dev/null
echo "sandbox ready: $repo (main + feature/greeting)"
if [ -n "${WEFT_OUTPUT:-}" ]; then echo "repo_dir=$repo" >> "$WEFT_OUTPUT"; fi
