"""The committed calibration transcripts are what the generator makes."""

from flows.samples.calibration import OUT, PER_LANGUAGE, calibration, render


def test_the_committed_calibration_is_regenerated_exactly() -> None:
    fresh = calibration()
    assert {lang: len(texts) for lang, texts in fresh.items()} == {
        "vi": PER_LANGUAGE,
        "en": PER_LANGUAGE,
    }
    assert OUT.read_text(encoding="utf-8") == render(fresh), (
        "models/build/language_calibration.json is stale: run python -m flows.samples.calibration"
    )
