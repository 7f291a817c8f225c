"""The pump on the hospital network: an IEEE 11073 SDC provider (docs/sdc.md).

Layers, top down: ``cli`` (pumpctl sdc), ``provider`` / ``consumer`` (the only modules that
import ``sdc11073``, the ``sdc`` extra), ``session`` (the one thread that owns the shell, the
library gate and the log; remote commands become core events there), and pure data: ``mdib``,
``codes``, ``operations``, ``roles``, ``view``, ``tls``. The core never imports this package.
"""
