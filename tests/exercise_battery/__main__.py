"""``python -m tests.exercise_battery --table`` / ``--write``: see the package docstring."""

from tests.exercise_battery import main

main()
