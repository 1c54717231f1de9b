"""A table of bad inputs run through the real program under mocks.

Each case is one small mistake, most of them a one-line change to a copy of a bookinfo
example. Every case must fail before a single resource is registered, with a message that
reads ``<file>:<line>: <yaml.path>: <problem>; <hint>`` (stack config problems name the
stack file and the ``oam-delivery:<key>`` path instead).

Cases marked xfail(strict=True) expect what the product contract asks for and do not get
it yet: each reason says what goes wrong.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import pytest

from oam.registry import COMPONENTS, STEPS, TRAITS
from tests.harness import ROOT, StageRun, run_stage

BOOKINFO = ROOT / "examples" / "bookinfo"
FIRST_FILE, ROLLOUT_FILE = "examples/bookinfo/first-deploy.yaml", "examples/bookinfo/rollout-v2.yaml"
FD = (BOOKINFO / "first-deploy.yaml").read_text(encoding="utf-8")
RV = (BOOKINFO / "rollout-v2.yaml").read_text(encoding="utf-8")
RB = (BOOKINFO / "rollback.yaml").read_text(encoding="utf-8")

CONFIG = "config"  # a Want.line meaning: a problem of the stack config, not of the app file
STACK_FILE = "stacks/Pulumi.dev.yaml"


def edit(text: str, *pairs: tuple[str, str]) -> str:
    """Replace the first occurrence of each ``old`` with ``new``; fail loudly if the example changed."""
    for old, new in pairs:
        assert old in text, f"the example no longer contains {old!r}"
        text = text.replace(old, new, 1)
    return text


def line_of(text: str, marker: str, nth: int = 1) -> int:
    """1-based line of the nth occurrence of ``marker`` (the line its first character is on)."""
    at = -1
    for _ in range(nth):
        at = text.find(marker, at + 1)
        assert at >= 0, f"{marker!r} occurs fewer than {nth} times"
    return text.count("\n", 0, at) + 1


@dataclass(frozen=True)
class Want:
    """One problem the error must report.

    line: the exact line; a frozenset of acceptable lines; None when the problem has no line;
    CONFIG for a stack config key (then ``path`` is the key without the project prefix).
    pieces: parts of ``<problem>; <hint>`` that must all appear. whole: the exact text after
    ``<path>: ``. prefix: ``path`` may continue (e.g. ``[1].revision``) in a future fix.
    """

    line: Union[int, frozenset, None, str]
    path: str
    pieces: tuple[str, ...] = ()
    whole: Optional[str] = None
    prefix: bool = False

    def pattern(self, file: str) -> re.Pattern:
        if self.line == CONFIG:
            where = rf"{re.escape(STACK_FILE)}(?::\d+)?: oam-delivery:{re.escape(self.path)}"
        else:
            if self.line is None:
                at = ""
            elif isinstance(self.line, frozenset):
                at = ":(?:" + "|".join(str(n) for n in sorted(self.line)) + ")"
            else:
                at = f":{self.line}"
            where = re.escape(file) + at + ": " + re.escape(self.path) + (r"[^:\s]*" if self.prefix else "")
        return re.compile(rf"^{where}: (?P<rest>.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Case:
    text: Optional[str]  # the app file written to tmp_path; None: only config is wrong
    want: tuple[Want, ...]
    config: dict = field(default_factory=dict)  # "app" defaults to the written file
    history: Optional[str] = None  # key of the histories fixture: the stack's previous update
    file: str = "app.yaml"


def case(id: str, text: Optional[str], *want: Want, xfail: str = "", **kw) -> pytest.param:
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return pytest.param(Case(text, tuple(want), **kw), id=id, marks=marks)


# --- files used by several cases -----------------------------------------------------------------

UPSTREAM_ROLLBACK = edit(RB, (
    "              - 9080\n"
    "        - type: rollout\n"
    "          properties:\n"
    "            targetSize: 2\n"
    "            rolloutBatches:\n"
    "              - replicas: 1\n"
    "              - replicas: 1\n",
    # The upstream tutorial's mistake: the rollout trait indented under canary-traffic's properties.
    "              - 9080\n"
    "          - type: rollout\n"
    "            properties:\n"
    "              targetSize: 2\n"
    "              rolloutBatches:\n"
    "                - replicas: 1\n"
    "                - replicas: 1\n"))

ROLLOUT_TRAIT = ("        - type: rollout\n"
                 "          properties:\n"
                 "            targetSize: 2\n"
                 "            rolloutBatches:\n"
                 "              - replicas: 1\n"
                 "              - replicas: 1\n")
CANARY_TRAIT = ("        - type: canary-traffic\n"
                "          properties:\n"
                "            port:\n"
                "              - 9080\n")
NO_ROLLOUT = edit(RV, (ROLLOUT_TRAIT, ""))
NO_ROLLOUT_NO_CANARY = edit(RV, (ROLLOUT_TRAIT, ""), (CANARY_TRAIT, CANARY_TRAIT.replace("canary-traffic", "expose")))

REVIEWS_IMAGE = "image: docker.io/istio/examples-bookinfo-reviews-v3:1.16.2"
# The release after rollout-v2: a new reviews image, the same workflow one revision up.
NEXT_RELEASE = (edit(RV, (REVIEWS_IMAGE, REVIEWS_IMAGE.replace("1.16.2", "1.17.0")))
                .replace("revision: reviews-v2", "revision: reviews-v3")
                .replace("revision: reviews-v1", "revision: reviews-v2"))
assert NEXT_RELEASE.count("revision: reviews-v3") == 2 and NEXT_RELEASE.count("revision: reviews-v2") == 1

STEP0_TARGETS = "spec.workflow.steps[0].properties.traffic.weightedTargets"
STEP2_TARGETS = "spec.workflow.steps[2].properties.traffic.weightedTargets"
# Of the webservice's 20 properties, a hint names the 5 nearest to 'prot' and counts the rest.
WEB_FIELDS = "known: cpu, exposeType, hostAliases, port, ports and 15 more"


def _cases() -> list:
    out = []

    # --- the file does not parse, or is no Application ---
    out.append(case("yaml-upstream-rollback-misindented-trait", UPSTREAM_ROLLBACK,
                    Want(line_of(UPSTREAM_ROLLBACK, "- type: rollout"), "yaml",
                         ("does not parse", "expected <block end>, but found '-'", "check the indentation")),
                    file="rollback.yaml"))
    t = edit(RV, ("  name: book-info", "\tname: book-info"))
    out.append(case("yaml-tab-indentation", t, Want(line_of(t, "\tname"), "yaml", ("does not parse", "'\\t'"))))
    t = edit(RV, ("        port: 9080\n        volumes", "        port: 9080\n        port: 9081\n        volumes"))
    out.append(case("yaml-duplicate-key", t, Want(line_of(t, "port: 9081"), "yaml", ("duplicate key 'port'",))))
    t = RV + "---\n" + RV
    out.append(case("yaml-two-documents", t, Want(line_of(t, "---"), "yaml", ("a second YAML document",
                                                                             "one Application per file"))))
    out.append(case("empty-file", "", Want(1, "(document)", ("the file is empty", "write an OAM Application"))))
    out.append(case("comments-only", "# nothing here yet\n", Want(1, "(document)", ("the file is empty",))))
    out.append(case("document-is-a-list", "- a\n- b\n", Want(1, "(document)", ("must be a mapping",))))
    t = edit(RV, ("apiVersion: core.oam.dev/v1beta1", "apiVersion: core.oam.dev/v1alpha2"))
    out.append(case("wrong-apiVersion", t, Want(line_of(t, "apiVersion:"), "apiVersion",
                                                 whole="must be 'core.oam.dev/v1beta1' (got 'core.oam.dev/v1alpha2')")))
    t = edit(RV, ("kind: Application", "kind: Deployment"))
    out.append(case("wrong-kind", t, Want(line_of(t, "kind: Deployment"), "kind",
                                          whole="must be 'Application' (got 'Deployment')")))
    t = "apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: book-info\n"
    out.append(case("no-spec", t, Want(1, "spec", ("is required", "add 'spec'"))))

    # --- unknown types, properties and mistyped values ---
    t = edit(RV, ("type: webservice", "type: webservise"))
    out.append(case("unknown-component-type", t, Want(
        line_of(t, "type: webservise"), "spec.components[0].type",
        whole="unknown component type 'webservise'; did you mean 'webservice'? known: " + ", ".join(COMPONENTS.names()))))
    t = edit(RV, ("type: canary-traffic", "type: canary-trafic"))
    out.append(case("unknown-trait-type", t, Want(
        line_of(t, "canary-trafic"), "spec.components[0].traits[0].type",
        ("unknown trait type 'canary-trafic'", "did you mean 'canary-traffic'?",
         "known: ", "canary-traffic", f"and {len(TRAITS.names()) - 5} more"))))
    t = edit(RV, ("type: suspend", "type: suspnd"))
    out.append(case("unknown-step-type", t, Want(
        line_of(t, "type: suspnd"), "spec.workflow.steps[1].type",
        ("unknown workflow step type 'suspnd'", "did you mean 'suspend'?",
         "known: ", f"and {len(STEPS.names()) - 5} more"))))
    t = edit(RV, ("        port: 9080\n        volumes", "        prot: 9080\n        volumes"))
    out.append(case("unknown-property", t, Want(
        line_of(t, "prot: 9080"), "spec.components[0].properties.prot",
        whole=f"unknown property; did you mean 'port'? {WEB_FIELDS}")))
    t = edit(RV, ("        port: 9080\n        volumes", '        port: "9080"\n        volumes'))
    out.append(case("port-is-a-string", t, Want(line_of(t, 'port: "9080"'), "spec.components[0].properties.port",
                                                whole="must be an integer (got '9080')")))
    t = edit(RV, (REVIEWS_IMAGE, "image: 123"))
    out.append(case("image-is-a-number", t, Want(line_of(t, "image: 123"), "spec.components[0].properties.image",
                                                 whole="must be a string (got 123); YAML reads 123 as a number: quote it, like \"123\"")))
    t = edit(RV, ("            port:\n              - 9080\n        - type: rollout",
                  "            port: 9080\n        - type: rollout"))
    out.append(case("canary-traffic-port-not-a-list", t, Want(
        line_of(t, "            port: 9080"), "spec.components[0].traits[0].properties.port",
        whole="must be a list (got 9080); write it as a list: [9080]")))
    t = edit(RV, ("        port: 9080\n        volumes", "        port: 70000\n        volumes"))
    out.append(case("port-out-of-range", t, Want(line_of(t, "port: 70000"), "spec.components[0].properties.port",
                                                 whole="must be <= 65535 (got 70000)")))
    t = edit(RV, ("name: tmp\n            type: emptyDir", "name: tmp\n            type: configMap"))
    out.append(case("configMap-volume-without-cmName", t, Want(
        line_of(t, "- name: tmp"), "spec.components[0].properties.volumes[1]", ("a configMap volume needs cmName",))))
    t = edit(RV, ("        port: 9080\n        volumes",
                  "        port: 9080\n"
                  "        env:\n"
                  "          - name: DB_PASSWORD\n"
                  "            value: hunter2\n"
                  "            valueFrom:\n"
                  "              secretKeyRef:\n"
                  "                name: db\n"
                  "                key: password\n"
                  "        volumes"))
    out.append(case("env-value-and-valueFrom", t, Want(
        line_of(t, "- name: DB_PASSWORD"), "spec.components[0].properties.env[0]", ("give value or valueFrom, not both",))))
    t = edit(RV, ("      - name: manual-approval\n        type: suspend",
                  "      - name: manual-approval\n        type: suspend\n        properties:\n          duration: 5 minutes"))
    out.append(case("suspend-duration-in-words", t, Want(
        line_of(t, "duration: 5 minutes"), "spec.workflow.steps[1].properties.duration",
        ("'5 minutes' is not a duration", "30s, 5m or 1h30m"))))

    # --- names ---
    t = edit(RV, ("name: ratings", "name: details"))
    out.append(case("duplicate-component-name", t, Want(
        line_of(t, "name: details", nth=2), "spec.components[3].name",
        whole="duplicate component name 'details'; spec.components[2] has it already")))
    t = edit(RV, ("name: ratings", "name: Reviews_1"))
    out.append(case("component-name-not-dns", t, Want(
        line_of(t, "name: Reviews_1"), "spec.components[2].name",
        ("component name 'Reviews_1' is not a valid name", "use lower-case letters, digits and '-'"))))
    t = edit(RV, ("name: book-info", "name: Book_Info"))
    out.append(case("app-name-not-dns", t, Want(line_of(t, "name: Book_Info"), "metadata.name",
                                                ("application name 'Book_Info' is not a valid name",))))
    t = edit(RV, ("name: rollout-rest", "name: rollout-1st-batch"))
    out.append(case("duplicate-step-name", t, Want(
        line_of(t, "name: rollout-1st-batch", nth=2), "spec.workflow.steps[2].name",
        whole="duplicate step name 'rollout-1st-batch'; spec.workflow.steps[0] has it already")))
    t = edit(RV, ("  workflow:\n    steps:\n", "  workflow:\n    steps: []\n  unused:\n    steps:\n"))
    t = t[:t.index("  unused:")]
    out.append(case("workflow-without-steps", t, Want(line_of(t, "steps: []"), "spec.workflow.steps",
                                                      ("a workflow needs at least one step",))))

    # --- weights and batches ---
    t = edit(RV, ("weight: 90", "weight: 90.5"), ("weight: 10", "weight: 9.5"))
    out.append(case("weight-not-an-integer", t, Want(
        line_of(t, "weight: 9.5"), f"{STEP0_TARGETS}[1].weight",
        whole="must be an integer from 0 to 100 (got 9.5)")))
    t = edit(RV, ("weight: 100", "weight: 101"))
    out.append(case("weight-above-100", t, Want(
        line_of(t, "weight: 101"), f"{STEP2_TARGETS}[0].weight",
        whole="must be an integer from 0 to 100 (got 101)")))
    t = edit(RV, ("weight: 90", "weight: 80"))
    out.append(case("weights-do-not-sum-to-100", t, Want(
        line_of(t, "weightedTargets:"), STEP0_TARGETS, whole="weights of 'reviews' add up to 90; make them sum to 100")))
    t = edit(RV, ("revision: reviews-v2\n                weight: 10", "revision: ratings-v1\n                weight: 10"))
    out.append(case("weighted-revision-of-a-component-without-rollout", t, Want(
        line_of(t, "revision: ratings-v1"), f"{STEP0_TARGETS}[1].revision",
        whole="'ratings-v1' is not a revision of a rolled-out component; name a revision as <component>-v<N> of: reviews")))
    t = edit(RV, ("revision: reviews-v2\n                weight: 10", "revision: reviews-v3\n                weight: 10"))
    out.append(case("weighted-revision-that-does-not-exist", t, Want(
        line_of(t, "revision: reviews-v3"), f"{STEP0_TARGETS}[1].revision",
        ("revision 'reviews-v3' does not exist (release 2 moves reviews from reviews-v1 to reviews-v2)",
         "weigh reviews-v1 and reviews-v2")),
        history="first"))
    t = edit(RV, ("revision: reviews-v2\n                weight: 100", "revision: reviews-v3\n                weight: 100"))
    out.append(case("weighted-revision-that-does-not-exist-in-a-later-step", t, Want(
        line_of(t, "revision: reviews-v3"), f"{STEP2_TARGETS}[0].revision", ("reviews-v3",), prefix=True),
        history="first"))
    t = edit(RV, ("batchPartition: 1\n          traffic:\n            weightedTargets:\n"
                  "              - revision: reviews-v2\n                weight: 100",
                  "batchPartition: 1\n          traffic:\n            weightedTargets:\n"
                  "              - revision: reviews-v1\n                weight: 50\n"
                  "              - revision: reviews-v2\n                weight: 50"))
    zero_lines = frozenset({line_of(t, "weightedTargets:", nth=2), line_of(t, "revision: reviews-v1", nth=2)})
    out.append(case("weight-to-a-revision-with-0-replicas", t, Want(
        zero_lines, STEP2_TARGETS, ("weight 50 goes to 'reviews-v1', which has 0 replicas at batchPartition 1",),
        prefix=True), config={"approve": "manual-approval"}, history="first"))
    out.append(case("weight-to-a-revision-with-0-replicas-in-a-later-step", t, Want(
        zero_lines, STEP2_TARGETS, ("reviews-v1", "0 replicas"), prefix=True), history="first"))
    out.append(case("weighted-revision-on-an-empty-stack", RV, Want(
        line_of(RV, "revision: reviews-v2"), f"{STEP0_TARGETS}[1].revision", ("reviews-v2",), prefix=True)))
    t = edit(RV, ("targetSize: 2", "targetSize: 3"))
    out.append(case("batches-do-not-sum-to-targetSize", t, Want(
        line_of(t, "rolloutBatches:"), "spec.components[0].traits[1].properties.rolloutBatches",
        whole="batches add up to 2 replicas but targetSize is 3; make the batches' replicas sum to targetSize")))
    t = edit(RV, ("batchPartition: 1", "batchPartition: 2"))
    out.append(case("batchPartition-out-of-range", t, Want(
        line_of(t, "batchPartition: 2"), "spec.workflow.steps[2].properties.batchPartition",
        whole="batchPartition 2 is out of range for component 'reviews'; its rollout has 2 batches: use 0 to 1")))
    t = edit(RV, ("batchPartition: 1", "batchPartition: -1"))
    out.append(case("batchPartition-negative", t, Want(
        line_of(t, "batchPartition: -1"), "spec.workflow.steps[2].properties.batchPartition",
        whole="must be >= 0 (got -1)")))

    # --- traits that do not fit together or do not fit the component ---
    out.append(case("canary-step-without-rollout", NO_ROLLOUT_NO_CANARY,
                    Want(line_of(NO_ROLLOUT_NO_CANARY, "type: canary-rollout"), "spec.workflow.steps[0].type",
                         whole="this canary step has no component to act on; "
                               "add a rollout trait to the component to roll out"),
                    Want(line_of(NO_ROLLOUT_NO_CANARY, "type: canary-rollout", nth=2), "spec.workflow.steps[2].type",
                         ("this canary step has no component to act on",))))
    out.append(case("canary-traffic-without-rollout", NO_ROLLOUT, Want(
        line_of(NO_ROLLOUT, "type: canary-traffic"), "spec.components[0].traits[0].type",
        ("component 'reviews' has canary-traffic but no rollout trait", "add a rollout trait"))))
    t = edit(RV, ("        - type: rollout\n",
                  "        - type: scaler\n          properties:\n            replicas: 2\n        - type: rollout\n"))
    out.append(case("scaler-with-rollout", t, Want(
        line_of(t, "type: scaler"), "spec.components[0].traits[1].type",
        whole="scaler and rollout both set the replica count; remove scaler: rollout's targetSize is the replica count")))
    t = edit(RV, ("        - type: istio-gateway", "        - type: expose\n          properties:\n            port: [9080]\n"
                                                  "        - type: istio-gateway"))
    out.append(case("trait-given-twice", t, Want(line_of(t, "type: expose", nth=2), "spec.components[1].traits[1].type",
                                                 ("trait 'expose' is given twice",))))
    t = edit(RV, ("            port:\n              - 9080\n        - type: istio-gateway",
                  "            port:\n              - 8080\n        - type: istio-gateway"))
    # expose may publish a port the container does not declare (as KubeVela allows); the gateway
    # must still route to a port the Service has.
    out.append(case("gateway-port-not-on-the-service", t, Want(
        t.count("\n", 0, t.index("port: 9080", t.index("type: istio-gateway"))) + 1,
        "spec.components[1].traits[1].properties.port",
        ("port 9080 is not a port of component 'productpage''s Service (its ports: 8080)",))))
    t = edit(RV, ("        - type: expose\n          properties:\n            port:\n              - 9080\n"
                  "        - type: istio-gateway", "        - type: istio-gateway"))
    out.append(case("istio-gateway-without-a-service", t, Want(
        line_of(t, "type: istio-gateway"), "spec.components[1].traits[0].type",
        ("component 'productpage' has no Service to route to", "add an expose trait"))))
    t = edit(RV, ("        - type: expose\n", "        - type: labels\n          properties:\n"
                                               "            app.oam.dev/name: shop\n        - type: expose\n"))
    out.append(case("label-key-reserved", t, Want(
        line_of(t, "app.oam.dev/name: shop"), "spec.components[1].traits[0].properties.app.oam.dev/name",
        ("'app.oam.dev/name' is set by the application itself",))))

    # --- several problems at once ---
    t = edit(RV, ("type: webservice", "type: webservise"), ("weight: 10", "weight: 9.5"), ("name: ratings", "name: details"))
    out.append(case("three-problems-reported-at-once", t,
                    Want(line_of(t, "type: webservise"), "spec.components[0].type", ("unknown component type",)),
                    Want(line_of(t, "name: details", nth=2), "spec.components[3].name", ("duplicate component name",)),
                    Want(line_of(t, "weight: 9.5"), f"{STEP0_TARGETS}[1].weight",
                         ("must be an integer from 0 to 100 (got 9.5)",))))
    t = edit(RV, ("targetSize: 2", "targetSize: 3"),
             ("port: 9080\n      traits:\n        - type: expose", "prot: 9080\n      traits:\n        - type: expose"))
    out.append(case("problems-of-two-validation-steps-reported-at-once", t,
                    Want(line_of(t, "prot: 9080"), "spec.components[1].properties.prot", ("unknown property",)),
                    Want(line_of(t, "rolloutBatches:"), "spec.components[0].traits[1].properties.rolloutBatches",
                         ("batches add up to 2 replicas but targetSize is 3",))))

    # --- stage, approve, rollback and the release history ---
    out.append(case("stage-above-the-step-count", RV, Want(
        CONFIG, "stage", whole="must be from 1 to 3 (got 7); pulumi config set stage 3, or pulumi config rm stage"),
        config={"stage": "7"}, history="first"))
    out.append(case("stage-zero", RV, Want(CONFIG, "stage", ("must be from 1 to 3 (got 0)",)),
                    config={"stage": "0"}, history="first"))
    out.append(case("stage-not-a-number", RV, Want(
        CONFIG, "stage", ("must be a whole number of steps (got 'two')", "pulumi config rm stage")),
        config={"stage": "two"}, history="first"))
    out.append(case("stage-on-a-file-without-workflow", FD, Want(
        CONFIG, "stage", ("is 1, but", "has no workflow", "pulumi config rm stage")), config={"stage": "1"}))
    out.append(case("stage-skips-an-unapproved-suspend-step", RV, Want(
        CONFIG, "stage", whole="stage 3 skips the suspend step 'manual-approval' (step 2) that is not approved yet; "
                               "pulumi config set approve manual-approval, or pulumi config set stage 2"),
        config={"stage": "3"}, history="first"))
    out.append(case("approve-names-no-suspend-step", RV, Want(
        CONFIG, "approve", ("'manual-aproval' is not a suspend step of", "did you mean 'manual-approval'?")),
        config={"approve": "manual-aproval"}, history="first"))
    out.append(case("approve-names-a-step-that-is-no-suspend-step", RV, Want(
        CONFIG, "approve", ("'rollout-rest' is not a suspend step of", "known: manual-approval")),
        config={"approve": "rollout-rest"}, history="first"))
    out.append(case("leftover-approval-from-the-previous-release", NEXT_RELEASE, Want(
        CONFIG, "approve", ("'manual-approval' approved release 2 and does not carry over to release 3",
                            "pulumi config rm approve")),
        config={"approve": "manual-approval"}, history="approved"))
    out.append(case("new-release-while-the-previous-is-in-progress", NEXT_RELEASE, Want(
        frozenset({line_of(NEXT_RELEASE, "- name: reviews"), line_of(NEXT_RELEASE, REVIEWS_IMAGE[:30])}),
        "spec.components[0]", ("release 2", "still in progress"), prefix=True), history="canary"))
    out.append(case("rollback-on-a-first-deploy", FD, Want(
        line_of(FD, "- name: reviews"), "spec.components[0].name",
        ("'reviews' has no earlier revision to roll back to (only reviews-v1)", "pulumi config rm rollback")),
        config={"rollback": "true"}))
    out.append(case("canary-rollback-step-on-an-empty-stack", RB, Want(
        line_of(RB, "- name: reviews"), "spec.components[0].name", ("has no earlier revision to roll back to",))))
    out.append(case("rollback-is-not-a-boolean", FD, Want(
        CONFIG, "rollback", whole="must be true or false (got 'yes'); pulumi config set rollback true"),
        config={"rollback": "yes"}))
    out.append(case("app-not-set", None, Want(CONFIG, "app", ("is not set", "pulumi config set app")),
                    config={"app": None}))
    out.append(case("app-file-not-found", None, Want(None, "app", ("file not found", "relative to the project")),
                    config={"app": "examples/bookinfo/no-such-file.yaml"}))
    return out


@pytest.fixture(scope="module")
def histories() -> dict[str, StageRun]:
    """The stack outputs of the tutorial's good stages, for cases that need a history."""
    runs = {"first": run_stage({"app": FIRST_FILE})}
    runs["canary"] = run_stage({"app": ROLLOUT_FILE}, runs["first"])
    runs["approved"] = run_stage({"app": ROLLOUT_FILE, "approve": "manual-approval"}, runs["canary"])
    for name, run in runs.items():
        assert run.error is None, f"history {name}: {run.error}"
    assert runs["canary"].outputs["status"]["reviews"]["phase"] == "suspended"
    assert runs["approved"].outputs["status"]["reviews"]["phase"] == "succeeded"
    return runs


@pytest.mark.parametrize("bad", _cases())
def test_bad_input(bad: Case, tmp_path: Path, histories):
    config = dict(bad.config)
    display = config.get("app")
    if bad.text is not None:
        path = tmp_path / bad.file
        path.write_text(bad.text, encoding="utf-8")
        display = str(path)
        config.setdefault("app", display)
    previous = histories[bad.history] if bad.history else None

    run = run_stage(config, previous=previous)

    assert run.error, f"no error; {len(run.resources)} resources registered"
    assert "Traceback" not in run.error
    for want in bad.want:
        pattern = want.pattern(display or "")
        found = [m["rest"] for m in pattern.finditer(run.error)]
        assert found, f"no problem matching {pattern.pattern!r} in:\n{run.error}"
        if want.whole is not None:
            assert want.whole in found, f"expected {want.whole!r}, got {found}"
        else:
            assert any(all(p in rest for p in want.pieces) for rest in found), \
                f"expected all of {want.pieces} in one of {found}"
    assert run.resources == {}


def test_the_table_is_big_enough():
    assert len(_cases()) >= 30


def test_next_release_file_is_fine_without_the_leftover_approval(histories, tmp_path: Path):
    """The leftover-approval and rollback cases fail for their one reason, not for the file."""
    path = tmp_path / "next.yaml"
    path.write_text(NEXT_RELEASE, encoding="utf-8")
    run = run_stage({"app": str(path)}, previous=histories["approved"])
    assert run.error is None
    status = run.outputs["status"]["reviews"]
    assert status["phase"] == "suspended"
    assert set(status["revisions"]) == {"reviews-v2", "reviews-v3"}


def test_following_the_in_progress_hint_does_not_loop(histories, tmp_path: Path):
    path = tmp_path / "next.yaml"
    path.write_text(NEXT_RELEASE, encoding="utf-8")
    first = run_stage({"app": str(path)}, previous=histories["canary"])
    assert first.error and "still in progress (waiting at step 2 'manual-approval')" in first.error
    assert "pulumi config set rollback true && pulumi up" in first.error
    rolled = run_stage({"app": str(path), "rollback": "true"}, previous=histories["canary"])
    assert rolled.error is None
    assert rolled.manifest("book-info-reviews-v1")["spec"]["replicas"] == 2
    assert "book-info-reviews-v2" not in rolled.resources
    assert rolled.outputs["status"]["reviews"]["phase"] == "rolled back"
    assert "starts after pulumi config rm rollback" in rolled.outputs["status"]["notes"][0]
    again = run_stage({"app": str(path), "rollback": "true"}, previous=rolled)
    assert again.error is None and again.outputs == rolled.outputs
    # The next release starts from the stable reviews-v1, so this file's weights (written for
    # reviews-v2 -> reviews-v3) are now wrong, and said so before anything is applied.
    started = run_stage({"app": str(path)}, previous=rolled)
    assert started.resources == {}
    assert "release 3 moves reviews from reviews-v1 to reviews-v3" in started.error

@pytest.mark.parametrize("key, near", [("rolback", "rollback"), ("readytimeout", "readyTimeout"),
                                       ("aprove", "approve"), ("colour", None)])
def test_an_unknown_config_key_is_refused(key, near):
    run = run_stage({"app": FIRST_FILE, key: "true"})
    assert run.resources == {}
    assert f"oam-delivery:{key}: is not a config key of this project" in run.error
    if near:
        assert f"did you mean '{near}'?" in run.error
    assert "known: app, approve, clusters, definitions, prometheusUrl, readyTimeout, retry, rollback, sidecarInjection, stage" in run.error
