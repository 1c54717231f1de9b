"""OAM Applications (KubeVela's model) rendered as Kubernetes and Istio resources for Pulumi."""
