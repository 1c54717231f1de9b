"""cron-task: a container run to completion on a schedule (a CronJob)."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from oam.components.task import job_spec
from oam.kit.context import Workload
from oam.kit.k8s_values import MAX_INT32
from oam.kit.pod import ContainerProperties, check_container, container_workload
from oam.registry import COMPONENTS, ComponentType


class CronTaskProperties(ContainerProperties):
    schedule: str = Field(description="When to run, in cron syntax, like '*/5 * * * *'")
    starting_deadline_seconds: Optional[int] = Field(None, ge=0, description="Skip a run started this late")
    suspend: bool = Field(False, description="Stop starting new runs")
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = Field("Allow", description="When a run is still going")
    successful_jobs_history_limit: int = Field(3, ge=0, description="Finished runs kept")
    failed_jobs_history_limit: int = Field(1, ge=0, description="Failed runs kept")
    count: int = Field(1, ge=1, le=MAX_INT32, description="Pods that must complete per run")
    ttl_seconds_after_finished: Optional[int] = Field(None, ge=0, description="Delete a finished run after this")
    active_deadline_seconds: Optional[int] = Field(None, ge=1, description="Stop a run that takes longer")
    backoff_limit: int = Field(6, ge=0, description="Retries before a run counts as failed")
    restart: Literal["Never", "OnFailure"] = Field("Never", description="Restart a failed container in its pod")


@COMPONENTS.register
class CronTask(ComponentType):
    """A CronJob named after the component, running the container on its schedule."""

    name = "cron-task"
    Properties = CronTaskProperties
    token = "oam:component:CronTask"
    rolls_out = False
    offers = frozenset({"pods"})
    runs = "a CronJob"

    def check(self, comp, app, _):
        problems = check_container(comp.properties, app.locator, comp.path + ("properties",))
        fields = comp.properties.schedule.split()
        if len(fields) != 5 and not comp.properties.schedule.startswith("@"):
            problems.append(app.locator.problem(comp.path + ("properties", "schedule"),
                                                f"'{comp.properties.schedule[:60]}' is not a cron schedule",
                                                "write five fields, like '*/5 * * * *', or @hourly, @daily"))
        return problems

    def workload(self, name: str, p: CronTaskProperties) -> Workload:
        return container_workload(name, p, [])

    def wrap(self, p: CronTaskProperties, metadata: dict, template: dict, replicas: int) -> Optional[dict]:
        job = {**job_spec(p, template), "backoffLimit": p.backoff_limit}
        for field, value in (("ttlSecondsAfterFinished", p.ttl_seconds_after_finished),
                             ("activeDeadlineSeconds", p.active_deadline_seconds)):
            if value is not None:
                job[field] = value
        spec: dict = {"schedule": p.schedule, "suspend": p.suspend, "concurrencyPolicy": p.concurrency_policy,
                      "successfulJobsHistoryLimit": p.successful_jobs_history_limit,
                      "failedJobsHistoryLimit": p.failed_jobs_history_limit,
                      "jobTemplate": {"metadata": {"labels": dict(template["metadata"]["labels"])}, "spec": job}}
        if p.starting_deadline_seconds is not None:
            spec["startingDeadlineSeconds"] = p.starting_deadline_seconds
        return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata, "spec": spec}
