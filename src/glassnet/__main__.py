"""`python -m glassnet` (used by torchrun to start each process)."""

from glassnet.cli import main

raise SystemExit(main())
