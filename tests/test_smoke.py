from pathlib import Path

import flagkit


def test_example_file_loads(example_file: Path) -> None:
    with flagkit.Flags.from_file(example_file, watch=False) as flags:
        assert flags.is_enabled("new_checkout") is True
        assert flags.is_enabled("ai_recommendations") is False
