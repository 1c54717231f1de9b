"""check-metrics: a gate that Prometheus opens, or that rolls the release back."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from oam.errors import closest
from oam.kit.durations import parse_duration
from oam.kit.metrics import DEFAULT_ENDPOINT, Condition
from oam.kit.run import Run
from oam.kit.spec import OamModel
from oam.registry import STEPS, StepType

# Istio's standard telemetry, as the sidecar of the receiving pod reports it. A revision's
# pods run in the Deployment named after the revision, which Istio reports as destination_workload.
SUCCESS_RATE = ('sum(rate(istio_requests_total{{{sel},response_code!~"5.*"}}[{interval}])) / '
                'sum(rate(istio_requests_total{{{sel}}}[{interval}])) * 100')
DURATION = ('histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{{{sel}}}[{interval}])) '
            'by (le))')
METRICS = {
    # name: (query template, default condition, what it measures)
    "request-success-rate": (SUCCESS_RATE, ">=99", "percent of the new revision's requests not answered with a 5xx"),
    "request-duration": (DURATION, "<=500", "99th percentile of the new revision's request duration, in milliseconds"),
}


def _duration(v: Optional[str]) -> Optional[str]:
    if v is not None and not parse_duration(v):
        raise ValueError(f"'{v}' is not a duration above 0; write it like 30s, 5m or 1h30m")
    return v


class CheckMetricsProperties(OamModel):
    query: Optional[str] = Field(None, description="A PromQL query that returns one series (KubeVela's parameter); "
                                                   "or give metric instead")
    metric: Optional[Literal["request-success-rate", "request-duration"]] = Field(
        None, description="A ready-made analysis of the new revision from Istio's telemetry, instead of query: "
                          "request-success-rate (percent, default condition >=99) or request-duration "
                          "(p99 in ms, default condition <=500)")
    component: Optional[str] = Field(None, description="With metric: the rolled-out component whose new revision "
                                                       "is measured (needed when several are rolled out)")
    interval: str = Field("1m", description="With metric: the window of its rate(), like Flagger's interval")
    metric_endpoint: Optional[str] = Field(None, description="Prometheus's address; default the stack's "
                                                             f"prometheusUrl, else {DEFAULT_ENDPOINT}")
    condition: Optional[str] = Field(None, description="What the value must be, an operator and a number: >=0.95, <500, "
                                                       "==1 (required with query)")
    duration: str = Field("5m", description="How long the condition must hold without a break to pass")
    fail_duration: str = Field("2m", description="How long it must be broken without a break to roll back")

    @field_validator("duration", "fail_duration", "interval")
    @classmethod
    def _durations(cls, v):
        return _duration(v)

    @field_validator("condition")
    @classmethod
    def _condition(cls, v):
        if v is not None and Condition.parse(v) is None:
            raise ValueError(f"'{v}' is not a condition; write an operator and a number: >=0.95, <500, ==1, !=0")
        return v

    @field_validator("metric_endpoint")
    @classmethod
    def _endpoint(cls, v):
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"'{v}' is not an http:// or https:// address")
        return v

    @model_validator(mode="after")
    def _one_source(self):
        if (self.query is None) == (self.metric is None):
            raise ValueError("give either query (with condition) or metric (a ready-made analysis), not both or none")
        if self.query is not None and self.condition is None:
            raise ValueError("condition is required with query, e.g. condition: '>=0.95'")
        if self.query is not None and not self.query.strip():
            raise ValueError("query is empty")
        return self

    def threshold(self) -> Condition:
        return Condition.parse(self.condition or METRICS[self.metric][1])


@STEPS.register
class CheckMetrics(StepType):
    """A metric gate: pass once Prometheus shows the condition held for duration, roll back once broken for failDuration.

    Every pulumi up that reaches it queries the window since its analysis started (the
    run that applied the stage before it); a person may also promote past it with approve.
    """

    name = "check-metrics"
    Properties = CheckMetricsProperties
    gate = True  # it can also be approved by hand, to promote without waiting for the analysis

    def check(self, step, app, _):
        p: CheckMetricsProperties = step.properties
        rolled = [c.name for c in app.canaried]
        where = step.path + ("properties",)
        if not rolled:
            return [app.locator.problem(step.path + ("type",), "this step rolls the release back when its analysis "
                                        "fails, and no component has a rollout trait",
                                        "add a rollout trait to the component the analysis is about")]
        if p.component is not None and p.component not in rolled:
            what = "has no rollout trait" if app.component(p.component) else "is not a component of the file"
            return [app.locator.problem(where + ("component",), f"'{p.component}' {what}", closest(p.component, rolled))]
        if p.metric is not None and p.component is None and len(rolled) > 1:
            return [app.locator.problem(where + ("metric",), f"{p.metric} measures one component, and "
                                        f"{len(rolled)} are rolled out ({', '.join(rolled)})",
                                        f"name it: component: {rolled[0]}")]
        if p.query is not None and p.component is not None:
            return [app.locator.problem(where + ("component",), "component only chooses what metric measures",
                                        "leave it out: a query names what it measures itself")]
        return []

    def run(self, p: CheckMetricsProperties, run: Run, step) -> bool:
        if p.metric is not None:
            component = p.component or run.app.canaried[0].name
            revision = run.target(component)
            namespaces = "|".join(run.namespaces())
            sel = (f'reporter="destination",destination_workload_namespace=~"{namespaces}",'
                   f'destination_workload="{revision}"')
            query = METRICS[p.metric][0].format(sel=sel, interval=p.interval)
            what = f"{p.metric} of {revision}"
        else:
            query = p.query.strip()
            what = f"query {query if len(query) <= 60 else query[:57] + '...'}"
        return run.analyse(step, what, query, p.metric_endpoint, p.threshold(), parse_duration(p.duration),
                           parse_duration(p.fail_duration))
