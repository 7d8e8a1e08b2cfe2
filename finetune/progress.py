"""Progress of a long stage: a bar on a terminal, plain lines in a log, nothing with ``--quiet``.

On a terminal a tqdm bar moves and ``say`` sets its text. Elsewhere (``nohup``, CI, a scheduler's log file) a
bar would write nothing readable, so ``say`` writes one plain line with the position instead.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm.auto import tqdm


class Progress:
    """Progress of ``total`` units named ``unit``, from ``initial``, under the title ``desc``."""

    def __init__(
        self,
        *,
        total: int,
        desc: str,
        unit: str,
        initial: int = 0,
        enabled: bool = True,
        stream: TextIO | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.total, self.desc, self.unit, self.count = total, desc, unit, initial
        tty = enabled and self.stream.isatty()
        self.lines = enabled and not tty
        self.bar = (
            tqdm(total=total, initial=initial, desc=desc, unit=unit, file=self.stream, dynamic_ncols=True)
            if tty
            else None
        )

    def advance(self, n: int = 1) -> None:
        self.count += n
        if self.bar is not None:
            self.bar.update(n)

    def say(self, text: str) -> None:
        """What the stage reports at this point: the bar's text, or a line of its own."""
        if self.bar is not None:
            self.bar.set_postfix_str(text)
        elif self.lines:
            self.stream.write(f"{self.desc} {self.unit} {self.count}/{self.total}: {text}\n")
            self.stream.flush()

    def note(self, line: str) -> None:
        """A line of its own (above the bar on a terminal)."""
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        elif self.lines:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
