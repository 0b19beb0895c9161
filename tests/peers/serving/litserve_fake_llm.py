"""A fake streaming LLM served by LitServe's OpenAI spec; run by the LitServe peer's own Python, not aifabric's.

Usage: python litserve_fake_llm.py PORT TOKENS TOKEN_DELAY_S TIMEOUT_S

Each chat completion streams TOKENS tokens, TOKEN_DELAY_S seconds apart. One inference worker serves one stream at a
time, so concurrent requests wait in LitServe's queue; one that waits longer than TIMEOUT_S is timed out by LitServe
(``LitServer(timeout=...)``), which for a stream already answered with HTTP 200 means an error event in the stream.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

import litserve as ls  # type: ignore[import-not-found, unused-ignore]


class FakeLLM(ls.LitAPI):  # type: ignore[misc, unused-ignore]
    """Yields ``token-0 token-1 ...`` with a fixed delay before each token."""

    def __init__(self, tokens: int, delay: float) -> None:
        super().__init__(spec=ls.OpenAISpec())
        self.tokens = tokens
        self.delay = delay

    def setup(self, device: str) -> None:
        """Nothing to load."""

    def predict(self, request: Any) -> Iterator[str]:
        """Stream the tokens; the request (messages, max_tokens...) is ignored."""
        for i in range(self.tokens):
            time.sleep(self.delay)
            yield f"token-{i} "


def main() -> None:
    """Serve on 127.0.0.1 only."""
    port, tokens, delay, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    server = ls.LitServer(FakeLLM(tokens, delay), accelerator="cpu", devices=1, workers_per_device=1, timeout=timeout)
    server.run(host="127.0.0.1", port=port, num_api_servers=1, generate_client_file=False, log_level="warning")


if __name__ == "__main__":
    main()
