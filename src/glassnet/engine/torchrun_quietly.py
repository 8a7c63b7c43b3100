"""`python -m glassnet.engine.torchrun_quietly ARGS`: torchrun, without its own noise.

The workers explain their failures themselves (a NaN loss, bad data: one clear message);
torchrun would add a traceback and a ChildFailedError report for the same failure. This
runs torchrun's own `run` with its logging at ERROR, and exits with the workers' exit code.
"""

from __future__ import annotations

import logging
import sys


def main(argv: list[str]) -> int:
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        run(get_args_parser().parse_args(argv))
    except ChildFailedError as e:
        codes = [f.exitcode for f in e.failures.values() if f.exitcode and f.exitcode > 0]
        return max(codes, default=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
