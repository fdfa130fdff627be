"""Resources opened by hand, for tests of one component or store without a pipeline around it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from components.resources import Given, Resource, opened

__all__ = ["Given", "open_resource"]
from tests.conftest import REPO

R = TypeVar("R", bound=Resource)


def open_resource(cls: type[R], **settings: Any) -> R:
    """An open resource of type ``cls``; its state lives in the test's DAGWRIGHT_HOME."""
    return opened(cls, root=REPO, state_dir=Path(os.environ["DAGWRIGHT_HOME"]), **settings)
