"""Bad and other-site tokens against the cloud API, with the lax-verifier negative control."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.reliability.api_bad_tokens import bad_tokens
from bench.reliability.api_matrix import ON_SITE_A_RESOURCE, PROTECTED


def test_no_bad_or_other_site_token_is_accepted(tmp_path: Path) -> None:
    figures = asyncio.run(bad_tokens(tmp_path))
    assert figures["unauthorized_calls"] == 0 and figures["wrong_status"] == 0, figures["examples"]
    assert figures["calls"] == 8 * len(PROTECTED) + 2 * len(ON_SITE_A_RESOURCE)


def test_negative_control_a_lax_verifier_accepts_bad_tokens(tmp_path: Path) -> None:
    figures = asyncio.run(bad_tokens(tmp_path, lax=True))
    assert figures["unauthorized_calls"] > 0
