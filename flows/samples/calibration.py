"""Write the transcripts a multilingual model's language means are computed from.

    python -m flows.samples.calibration   # rewrites models/build/language_calibration.json

A multilingual encoder puts texts of one language closer to each other than to the
same meaning in another language, so a question finds its own language's conversations
first. The build measures each language's mean passage embedding over these transcripts
(`models.build.export`), and the index stores every segment's vector less the mean of its
language (`models.Embedder.neutralize_languages`). They come from the sample generator
(13 support topics) with a seed of their own, redacted, never from the retrieval set.
"""

from __future__ import annotations

import json
import sys

from flows.samples.conversations import ConversationGenerator
from models.paths import CALIBRATION_FILE
from operators.pii.redact import redact

SEED = 11
PER_LANGUAGE = 200
OUT = CALIBRATION_FILE


def calibration() -> dict[str, list[str]]:
    """The transcripts, redacted as the index sees them."""
    found = ConversationGenerator(seed=SEED).transcripts(PER_LANGUAGE)
    return {language: [redact(t).text for t in texts] for language, texts in found.items()}


def render(transcripts: dict[str, list[str]]) -> str:
    return json.dumps(transcripts, ensure_ascii=False, indent=1) + "\n"


def main() -> int:
    OUT.write_text(render(calibration()), encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
