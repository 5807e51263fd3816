"""The backend worker as a real process, driven through the client the add-on uses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from furrow.client import WorkerBusy, WorkerClient
from furrow.protocol import Cancelled, Error, Progress, Result


def _pid_gone(pid: int, within: float = 3.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # a zombie still answers kill(0); its state in /proc says it is dead
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return True
        except (OSError, IndexError):
            return True
        time.sleep(0.05)
    return False


def test_progress_arrives_in_order_and_result_files_exist(client: WorkerClient) -> None:
    job = client.start("exercise", {"steps": 6, "step_seconds": 0.01})
    job = client.wait(timeout=60)
    assert job.state == "done", job.error
    progress = [e for e in job.events if isinstance(e, Progress)]
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert [p.message for p in progress[:6]] == [f"Step {i} of 6" for i in range(1, 7)]
    assert isinstance(job.events[-1], Result)
    assert job.result is not None
    (path,) = job.result.files
    assert Path(path).parent == job.job_dir
    assert json.loads(Path(path).read_text())["steps"] == 6


def test_worker_is_reused_across_jobs(client: WorkerClient) -> None:
    client.start("exercise", {"steps": 1})
    first = client.wait(timeout=60)
    pid = client.pid
    client.start("exercise", {"steps": 1})
    second = client.wait(timeout=60)
    assert first.state == second.state == "done"
    assert client.pid == pid
    assert first.result and second.result and first.result.data["pid"] == second.result.data["pid"] == pid


def test_one_job_at_a_time(client: WorkerClient) -> None:
    client.start("exercise", {"steps": 20, "step_seconds": 0.05})
    with pytest.raises(WorkerBusy):
        client.start("exercise", {"steps": 1})
    client.cancel()
    assert client.wait(timeout=10).state == "cancelled"


def test_cancel_stops_the_job_and_removes_its_folder(client: WorkerClient) -> None:
    job = client.start("exercise", {"steps": 200, "step_seconds": 0.02})
    while not any(isinstance(e, Progress) and e.fraction > 0 for e in job.events):
        client.poll()
        time.sleep(0.01)
    pid = client.pid
    t0 = time.monotonic()
    client.cancel()
    client.wait(timeout=10)
    assert job.state == "cancelled"
    assert isinstance(job.events[-1], Cancelled)
    assert time.monotonic() - t0 < 1.0
    assert not job.job_dir.exists()
    # it stopped at a progress point: the same worker takes the next job
    assert client.pid == pid and client.alive
    client.start("exercise", {"steps": 1})
    assert client.wait(timeout=30).state == "done"


def test_cancel_kills_a_job_that_does_not_listen(client: WorkerClient) -> None:
    job = client.start("exercise", {"steps": 5, "crash": "hang", "crash_at": 1, "step_seconds": 0.01})
    while not any(isinstance(e, Progress) for e in job.events):
        client.poll()
        time.sleep(0.01)
    pid = client.pid
    assert pid is not None
    t0 = time.monotonic()
    client.cancel()
    client.wait(timeout=10)
    assert job.state == "cancelled"
    assert time.monotonic() - t0 < client.cancel_grace + 1.0
    assert _pid_gone(pid)
    client.start("exercise", {"steps": 1})
    assert client.wait(timeout=30).state == "done"
    assert client.pid != pid


@pytest.mark.parametrize(("crash", "signature"), [("exit", "exited with code 3"), ("segfault", "SIGSEGV")])
def test_a_dying_worker_is_an_error_within_a_second(client: WorkerClient, crash: str, signature: str) -> None:
    job = client.start("exercise", {"steps": 5, "step_seconds": 0.1, "crash": crash, "crash_at": 3})
    last_progress = 0.0
    while not job.finished:
        for event in client.poll():
            if isinstance(event, Progress):
                last_progress = time.monotonic()
        time.sleep(0.005)
        assert time.monotonic() - job.started < 60
    noticed = time.monotonic()
    assert client.pid is None  # the dead worker is forgotten
    assert job.state == "failed" and job.error is not None
    assert job.error.kind == "crashed"
    assert signature in job.error.message and "exercise" in job.error.message
    # the crash came 0.1 s after the last progress; it must be noticed well within a second of that
    assert noticed - last_progress < 1.1
    if crash == "segfault":
        assert "Segmentation fault" in job.error.detail  # faulthandler's report, from the log
    assert not job.job_dir.exists()
    client.start("exercise", {"steps": 1})
    assert client.wait(timeout=30).state == "done"


def test_a_failing_job_is_a_one_line_error_and_the_worker_survives(client: WorkerClient) -> None:
    client.start("exercise", {"steps": 3, "crash": "raise", "crash_at": 1})
    job = client.wait(timeout=60)
    pid = client.pid
    assert job.state == "failed" and job.error is not None
    assert job.error.kind == "internal"
    assert job.error.message == "exercise failed: RuntimeError: exercise: failing on purpose"
    assert "Traceback" in job.error.detail
    client.start("exercise", {"steps": 1})
    assert client.wait(timeout=30).state == "done" and client.pid == pid


@pytest.mark.parametrize(
    ("name", "params", "kind"),
    [
        ("exercise", {"steps": 0}, "bad_input"),
        ("exercise", {"crash": "explode"}, "bad_input"),
        ("no_such_job", {}, "unknown_job"),
    ],
)
def test_bad_requests_get_clear_errors(
    client: WorkerClient, name: str, params: dict[str, object], kind: str
) -> None:
    client.start(name, params)
    job = client.wait(timeout=60)
    assert job.state == "failed" and job.error is not None
    assert job.error.kind == kind
    assert "\n" not in job.error.message and job.error.message


def test_stray_prints_go_to_the_log_not_the_protocol(client: WorkerClient) -> None:
    client.start("exercise", {"steps": 3})
    assert client.wait(timeout=60).state == "done"
    assert "exercise: step 3" in client.log_tail(50)


def test_check_backend_computes_with_torch(client: WorkerClient) -> None:
    client.start("check_backend", {}, device="cuda")
    job = client.wait(timeout=120)
    assert job.state == "done" and job.result is not None
    data = job.result.data
    assert data["torch"].startswith("2.13.0")
    assert data["device"] == ("cuda" if data["cuda"] else "cpu")
    if not data["cuda"]:
        assert job.result.warnings == ["CUDA is not available here; computing on the CPU"]


def test_a_missing_torch_is_named_not_a_traceback(work_dir: Path, tmp_path: Path) -> None:
    # Hide torch from the worker the way a broken install would.
    hide = tmp_path / "hide_torch"
    hide.mkdir()
    shutil.copy(Path(__file__).parents[1] / "hide_torch.py", hide / "sitecustomize.py")
    client = WorkerClient(work_dir, extra_paths=[str(hide)])
    try:
        client.start("check_backend", {}, device="cpu")
        job = client.wait(timeout=60)
    finally:
        client.shutdown()
    assert job.state == "failed" and job.error is not None
    assert job.error.kind == "missing_dependency"
    assert "torch" in job.error.message and "reinstall" in job.error.message


def test_no_orphan_worker_when_its_parent_dies(tmp_path: Path) -> None:
    # A parent (standing in for Blender) starts a long job, then dies without cleanup.
    code = textwrap.dedent(
        f"""
        import os, sys, time
        from furrow.client import WorkerClient
        c = WorkerClient({str(tmp_path / "w")!r})
        job = c.start("exercise", {{"steps": 1000, "step_seconds": 0.05}})
        while not job.events:
            c.poll(); time.sleep(0.01)
        print(c.pid, flush=True)
        os._exit(0)
        """
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    worker_pid = int(out.stdout.strip())
    assert _pid_gone(worker_pid, within=3.0)


def test_shutdown_ends_a_busy_worker(client: WorkerClient) -> None:
    job = client.start("exercise", {"steps": 1000, "step_seconds": 0.05})
    while not job.events:
        client.poll()
        time.sleep(0.01)
    pid = client.pid
    assert pid is not None
    client.shutdown()
    assert job.state == "cancelled"
    assert _pid_gone(pid)


def test_error_events_carry_the_job_id(client: WorkerClient) -> None:
    job = client.start("exercise", {"steps": 0})
    client.wait(timeout=60)
    final = job.events[-1]
    assert isinstance(final, Error) and final.job_id == job.job_id


def _maps(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return ""


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="reads the worker's memory map (Linux)")
def test_prewarm_loads_the_photo_job_s_libraries_in_the_background(client: WorkerClient) -> None:
    """Head from Photo's browser asks the worker to prewarm: MediaPipe's native library is mapped
    into the worker while no job runs, jobs still run meanwhile, and an unknown name is ignored."""
    client.prewarm("no_such_job")
    client.start("exercise", {"steps": 2, "step_seconds": 0.01})
    assert client.wait(timeout=60).state == "done"
    pid = client.pid
    assert pid is not None and "mediapipe" not in _maps(pid)  # the worker starts without it
    client.prewarm("head_from_photo")
    client.start("exercise", {"steps": 2, "step_seconds": 0.01})  # not blocked by the prewarm
    assert client.wait(timeout=60).state == "done"
    end = time.monotonic() + 120
    while "mediapipe" not in _maps(pid) and time.monotonic() < end:
        time.sleep(0.2)
    assert "mediapipe" in _maps(pid) and client.pid == pid
