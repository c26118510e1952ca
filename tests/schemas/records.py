"""Where the schema tests find their real records."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "flows" / "samples" / "pipeline_sample.jsonl"
OUTPUT_FILES = {  # ingest file sink -> schema file stem
    "messages.jsonl": "chat.messages",
    "rejected.jsonl": "chat.rejected",
    "feedback.jsonl": "chat.feedback",
    "pii_audit.jsonl": "pii.audit",
}
