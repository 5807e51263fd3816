"""Operators about the backend itself: check it, cancel its job."""

from __future__ import annotations

import bpy

from ...furrow.protocol import Result
from ..jobs import JobOperator, OpResult, manager
from ..properties import session


class FURROW_OT_check_backend(JobOperator):
    """Start the Furrow backend and check that PyTorch loads and computes on the chosen device"""

    bl_idname = "furrow.check_backend"
    bl_label = "Check Backend"
    bl_options = {"REGISTER"}  # changes nothing in the scene: no undo step
    job_name = "check_backend"

    def job_finished(self, context: bpy.types.Context, result: Result) -> OpResult:
        d = result.data
        summary = (
            f"torch {d['torch']} on {d['device'].upper()} ({d['threads']} threads), Python {d['python']}"
        )
        session(context).backend_summary = summary
        self.report({"INFO"}, f"Furrow backend ready: {summary}")
        return {"FINISHED"}


class FURROW_OT_cancel_job(bpy.types.Operator):
    """Stop the running Furrow job; the scene stays as it was before the job"""

    bl_idname = "furrow.cancel_job"
    bl_label = "Cancel Furrow Job"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not manager.busy:
            cls.poll_message_set("No Furrow job is running")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> OpResult:
        manager.cancel()
        return {"FINISHED"}


CLASSES = (FURROW_OT_check_backend, FURROW_OT_cancel_job)
