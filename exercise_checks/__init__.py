"""The exercises' checks, one module per notebook (``exercise_checks.nb04.check_4_1``), kept outside
``helpers`` so the learner's library holds only what the lessons teach. See DESIGN.md.

The small assertions lesson cells use for their own parity checks live here too (``check_close``,
``check_shape``, ``check_true``, ``passed``): they compare two values the lesson computed and contain
no answer to any exercise.
"""

from .lesson import check_close, check_shape, check_true, passed

__all__ = ["check_close", "check_shape", "check_true", "passed"]
