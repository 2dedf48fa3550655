"""The toolbar's run seed: a number (the same noise on every run) or fresh noise.

Contract: :class:`SeedControls` adds a ``Seed`` spin box and a ``Fresh noise`` check box to
a toolbar. Their state comes from the settings (``run/seed``, ``run/fresh_noise``) without
writing them back; a user's change writes them and calls ``on_change(seed)``, where
``seed`` is ``None`` with Fresh noise on (noisy blocks are then never cached).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QCheckBox, QSpinBox, QToolBar


def as_bool(value: Any) -> bool:
    """A settings value as a bool (ini files give strings)."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


class SeedControls:
    """The seed spin box and the Fresh noise toggle; see the module docstring."""

    def __init__(self, bar: QToolBar, settings: QSettings,
                 on_change: Callable[[int | None], None]) -> None:
        self.settings = settings
        self.on_change = on_change
        self.spin = QSpinBox(bar)
        self.spin.setObjectName("seedSpin")
        self.spin.setRange(0, 2**31 - 1)
        self.spin.setPrefix("Seed ")
        self.spin.setToolTip("Seed of noisy blocks: the same seed gives the same noise")
        self.spin.setKeyboardTracking(False)
        self.spin.setMaximumWidth(120)
        self.fresh = QCheckBox("Fresh noise", bar)
        self.fresh.setObjectName("freshNoise")
        self.fresh.setToolTip("Draw new noise on every run (noisy blocks are then never cached)")
        try:
            seed = int(str(settings.value("run/seed", 0)))
        except ValueError:
            seed = 0
        self.spin.setValue(max(0, seed))
        self.fresh.setChecked(as_bool(settings.value("run/fresh_noise", False)))
        self.spin.valueChanged.connect(self._changed)
        self.fresh.toggled.connect(self._changed)
        bar.addWidget(self.spin)
        bar.addWidget(self.fresh)
        self._changed(write=False)

    @property
    def seed(self) -> int | None:
        """The run seed: None with Fresh noise on."""
        return None if self.fresh.isChecked() else int(self.spin.value())

    def _changed(self, *_: Any, write: bool = True) -> None:
        self.spin.setEnabled(not self.fresh.isChecked())
        self.on_change(self.seed)
        if write:
            self.settings.setValue("run/seed", int(self.spin.value()))
            self.settings.setValue("run/fresh_noise", self.fresh.isChecked())
