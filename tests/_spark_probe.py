"""Counting the Spark jobs a call runs (tests)."""
from __future__ import annotations

import uuid


def spark_jobs(ctx, fn):
    """``(fn(), ids of the Spark jobs it ran)``, through a job group of its own."""
    group = f"probe-{uuid.uuid4().hex}"
    ctx.sc.setJobGroup(group, "counting jobs")
    try:
        out = fn()
    finally:
        ctx.sc.setLocalProperty("spark.jobGroup.id", None)
    return out, list(ctx.sc.statusTracker().getJobIdsForGroup(group))
