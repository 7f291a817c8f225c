"""``python -m controller.cli``: the same as ``pumpctl``."""

from controller.cli import main

raise SystemExit(main())
