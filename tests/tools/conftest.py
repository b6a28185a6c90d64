"""Fixtures for the tools: the synthesized template as a file, as `make synth` leaves it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Synthesized


@pytest.fixture(scope="module")
def template_file(synthesized: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "ProdServerlessStack.template.json"
    path.write_text(json.dumps(synthesized.template))
    return path
