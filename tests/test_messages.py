from __future__ import annotations

import pytest

from meter_reading.domain import messages


def test_the_prompt_shows_reading_unit_link_and_how_to_answer() -> None:
    text = messages.confirmation_prompt(
        "03662.0", "kWh", "https://photos.example/p.jpg", certain=True
    )
    assert "*03662.0 kWh*" in text
    assert "https://photos.example/p.jpg" in text
    assert "Reply YES" in text and "NO" in text


def test_an_uncertain_reading_is_flagged_in_the_prompt() -> None:
    text = messages.confirmation_prompt("03662.0", "kWh", "https://x", certain=False)
    assert "not completely sure" in text
    assert "*03662.0 kWh*" in text


@pytest.mark.parametrize("reason", ["no_text", "no_display", "several_candidates", None, "new"])
def test_an_unreadable_photo_gets_a_reason_and_tips(reason: str | None) -> None:
    text = messages.photo_unreadable(reason)
    assert text.startswith("Sorry, ")
    assert messages.PHOTO_TIPS in text


def test_compose_knows_every_kind_the_state_machine_sends() -> None:
    import json
    from pathlib import Path

    asl = json.loads(
        (Path(__file__).parents[1] / "statemachine/meter_reading.asl.json").read_text()
    )
    kinds = {
        state["Parameters"]["Payload"]["message"]
        for state in asl["States"].values()
        if "message" in state.get("Parameters", {}).get("Payload", {})
    }
    assert kinds  # the ASL does send messages
    for kind in kinds:
        assert messages.compose(kind, reading="03662.0", unit="kWh", reason="no_text")


def test_compose_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown message kind"):
        messages.compose("promotion")


def test_an_implausible_reading_says_what_looks_wrong_and_asks_yes_or_the_number() -> None:
    problem = "that would be 18,460 kWh since 3 November — please check the decimal point"
    text = messages.confirmation_prompt("20509", "kWh", "https://x", certain=True, problem=problem)
    assert text.startswith(f"We read *20509 kWh* on your meter, but {problem}.")
    assert "Reply YES" in text and "type the number" in text


def test_water_is_shown_in_cubic_metres() -> None:
    assert "*512.37 m³*" in messages.confirmation_prompt("512.37", "m³", "https://x", True)
    assert "512.37 m³" in messages.reading_confirmed("512.37", "m³")


@pytest.mark.parametrize(
    ("reason", "says"),
    [
        ("MediaTooLarge", "too large"),
        ("MediaNotAnImage", "could not open that file as a photo"),
        ("UntrustedMediaUrl", "could not fetch that photo"),
    ],
)
def test_a_refused_photo_gets_a_reply_saying_what_to_send_instead(reason: str, says: str) -> None:
    text = messages.compose("photo_refused", reason=reason)
    assert says in text and "meter's display" in text and "send" in text.lower()
    assert "again in a few minutes" not in text  # the same file would fail the same way
