"""Report captions are reStructuredText: each must parse without a warning or an error."""

import io

import pytest
from docutils.core import publish_doctree

from tests.conftest import REPO

CAPTIONS = sorted((REPO / "workflow/report").glob("*.rst"))


@pytest.mark.parametrize("caption", CAPTIONS, ids=lambda p: p.name)
def test_caption_is_clean_rst(caption):
    messages = io.StringIO()
    publish_doctree(
        caption.read_text(), settings_overrides={"warning_stream": messages, "report_level": 1}
    )
    assert not messages.getvalue(), f"{caption}: {messages.getvalue()}"
