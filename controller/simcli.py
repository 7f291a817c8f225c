"""``pumpctl simulate`` and ``pumpctl bench``: registered here (simulator, issue 4)."""
