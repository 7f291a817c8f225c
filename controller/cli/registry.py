"""The subcommand registry of ``pumpctl``: each subcommand module registers its argument builder
and handler with ``@command(name, help)(add_arguments)``; ``controller.cli.build_parser``
imports those modules by name."""

from __future__ import annotations

import argparse
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Handler, str]] = {}


def command(name: str, help: str) -> Callable[[Callable[[argparse.ArgumentParser], None]],
                                             Callable[[Handler], Handler]]:
    """Register a subcommand: ``@command(name, help)(add_arguments)(handler)``."""

    def with_args(add: Callable[[argparse.ArgumentParser], None]) -> Callable[[Handler], Handler]:
        def with_handler(handler: Handler) -> Handler:
            COMMANDS[name] = (add, handler, help)
            return handler

        return with_handler

    return with_args
