from __future__ import annotations

import pytest

from furrow.protocol import (
    Cancel,
    Cancelled,
    Error,
    Progress,
    ProtocolError,
    Ready,
    Result,
    Run,
    Shutdown,
    decode,
    encode,
)


@pytest.mark.parametrize(
    "msg",
    [
        Run("1-1", "exercise", {"steps": 3, "name": "ünïcode"}, "/tmp/job dir", "cpu"),
        Cancel("1-1"),
        Shutdown(),
        Ready(pid=42, version="0.1.0"),
        Progress("1-1", 0.25, "Step 1\nof 4"),
        Result("1-1", files=["/a/b.png"], data={"x": [1, 2]}, warnings=["w"]),
        Error("1-1", "bad_input", "no audio", detail="trace"),
        Cancelled("1-1"),
    ],
)
def test_every_message_survives_one_line_of_json(msg: object) -> None:
    line = encode(msg)  # type: ignore[arg-type]
    assert "\n" not in line
    assert decode(line) == msg


@pytest.mark.parametrize(
    "line", ["", "not json", "[1, 2]", '{"type": "nope"}', '{"type": "progress", "job_id": "1"}']
)
def test_bad_lines_are_protocol_errors(line: str) -> None:
    with pytest.raises(ProtocolError):
        decode(line)


def test_unknown_fields_from_a_newer_peer_are_ignored() -> None:
    assert decode('{"type":"cancel","job_id":"7","reason":"user"}') == Cancel("7")
