"""The definition kit: everything a definition may import, and nothing that orchestrates.

``spec`` (the base model of properties, the application's typed specs), ``context`` (one
component being built), ``stage`` (what traits see once revisions are known, the rollout),
``workload`` (building one component from its type and traits, and the trial builds of a
check), ``pod`` (pod and container properties), ``placements`` (where the application goes),
``applied`` (what the cluster holds), ``run`` (what a step may read and call on the
workflow run), and plain values: ``k8s_values``, ``keys``, ``durations``, ``pod_objects``,
``metrics``.
"""
