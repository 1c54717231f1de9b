package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubeyaml "k8s.io/apimachinery/pkg/util/yaml"

	networking "istio.io/api/networking/v1alpha3"
	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/config/schema/resource"
	kubelib "istio.io/istio/pkg/kube"
)

// state is one parsed input: the Kubernetes objects for the kube registry, the Istio
// configs for the config store, and typed views of what the oracle needs to plan calls.
type state struct {
	kube     []runtime.Object
	configs  []config.Config
	services []*corev1.Service
	vs       []config.Config // VirtualServices (Spec is *networking.VirtualService)
	gw       []config.Config // Gateways (Spec is *networking.Gateway)
	warnings []string
}

// kubeKinds are the Kubernetes kinds the kube registry reads; other kinds are ignored.
var kubeKinds = map[string]bool{
	"/v1/Namespace":                     true,
	"/v1/Service":                       true,
	"/v1/Pod":                           true,
	"discovery.k8s.io/v1/EndpointSlice": true,
}

// readDocuments splits a YAML stream (or a JSON document) into one raw JSON object per
// document, expanding Kubernetes Lists.
func readDocuments(r io.Reader) ([]json.RawMessage, error) {
	dec := kubeyaml.NewYAMLOrJSONDecoder(r, 4096)
	var out []json.RawMessage
	for {
		var doc json.RawMessage
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading input: %v", err)
		}
		if len(bytes.TrimSpace(doc)) == 0 || string(doc) == "null" {
			continue
		}
		out = append(out, doc)
	}
}

// typeMeta is what we need to know about an object before decoding it properly.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
}

// parseState decodes the objects of one state. defaultNS is given to namespaced
// objects without a namespace; domain is the cluster domain suffix that istiod stamps
// on every config it reads (see toConfig).
func parseState(docs []json.RawMessage, defaultNS, domain string) (*state, error) {
	st := &state{}
	decode := kubelib.IstioCodec.UniversalDeserializer().Decode
	var add func(raw json.RawMessage) error
	add = func(raw json.RawMessage) error {
		var tm typeMeta
		if err := json.Unmarshal(raw, &tm); err != nil {
			return fmt.Errorf("not a Kubernetes object: %v", err)
		}
		if tm.Kind == "List" || strings.HasSuffix(tm.Kind, "List") && tm.Items != nil {
			for _, item := range tm.Items {
				if err := add(item); err != nil {
					return err
				}
			}
			return nil
		}
		group, version, _ := strings.Cut(tm.APIVersion, "/")
		if version == "" { // core group: "v1"
			group, version = "", group
		}
		switch {
		case kubeKinds[group+"/"+version+"/"+tm.Kind]:
			obj, _, err := decode(raw, nil, nil)
			if err != nil {
				return fmt.Errorf("decoding %s: %v", tm.Kind, err)
			}
			if m, ok := obj.(interface {
				GetNamespace() string
				SetNamespace(string)
			}); ok && tm.Kind != "Namespace" && m.GetNamespace() == "" {
				m.SetNamespace(defaultNS)
			}
			if svc, ok := obj.(*corev1.Service); ok {
				st.services = append(st.services, svc)
			}
			st.kube = append(st.kube, obj)
		case group == "networking.istio.io":
			cfg, warn, err := toConfig(raw, defaultNS, domain)
			if err != nil {
				return err
			}
			if cfg == nil {
				return nil // a kind Istio's pilot does not read
			}
			st.warnings = append(st.warnings, warn...)
			st.configs = append(st.configs, *cfg)
			switch cfg.Spec.(type) {
			case *networking.VirtualService:
				st.vs = append(st.vs, *cfg)
			case *networking.Gateway:
				st.gw = append(st.gw, *cfg)
			}
		}
		return nil // unknown kinds (Deployments, ...) are ignored
	}
	for _, raw := range docs {
		if err := add(raw); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// toConfig converts an Istio object into the config model the way istiod's CRD client
// does. The important part is the Domain: istiod sets it to the cluster's domain
// suffix on every config it reads, and short hosts ("reviews") in VirtualServices and
// DestinationRules are expanded to FQDNs only when it is set. crd.ParseInputs (what
// FakeOptions.ConfigString uses) leaves it empty, so "reviews" would become
// "reviews.default", match no service, and the sidecar would silently fall back to its
// default route. Validation is the webhook's: an invalid object is rejected.
func toConfig(raw json.RawMessage, defaultNS, domain string) (*config.Config, []string, error) {
	var obj crd.IstioKind
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, nil, fmt.Errorf("decoding Istio object: %v", err)
	}
	gvk := obj.GroupVersionKind()
	schema, ok := collections.Pilot.FindByGroupVersionAliasesKind(resource.FromKubernetesGVK(&gvk))
	if !ok {
		return nil, nil, nil
	}
	if obj.Namespace == "" {
		obj.Namespace = defaultNS
	}
	cfg, err := crd.ConvertObject(schema, &obj, domain)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s/%s: %v", gvk.Kind, obj.Namespace, obj.Name, err)
	}
	warnings, err := schema.ValidateConfig(*cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s/%s is invalid: %v", gvk.Kind, obj.Namespace, obj.Name, err)
	}
	var out []string
	if warnings != nil {
		out = append(out, fmt.Sprintf("%s %s/%s: %v", gvk.Kind, obj.Namespace, obj.Name, warnings))
	}
	return cfg, out, nil
}
