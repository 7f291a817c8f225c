"""``pumpctl emulate`` and ``pumpctl run``: registered here (serial hardware, issue 5)."""
