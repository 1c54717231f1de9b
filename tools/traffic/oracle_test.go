package main

import (
	"os"
	"strings"
	"testing"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

func bookinfo(t *testing.T) *state {
	t.Helper()
	f, err := os.Open("testdata/bookinfo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	docs, err := readDocuments(f)
	if err != nil {
		t.Fatal(err)
	}
	st, err := parseState(docs, "default", "cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

var testOptions = options{
	namespace: "default", domain: "cluster.local",
	gatewayNS: "istio-system", gatewayLabels: map[string]string{"istio": "ingressgateway"},
}

func TestBookinfo(t *testing.T) {
	res, err := evaluateState(bookinfo(t), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, tg *target, path string) {
		for _, c := range tg.Calls {
			if c.Path != path {
				continue
			}
			if c.Outcome != "routed" || len(c.Clusters) != 2 {
				t.Fatalf("%s %s: %+v", what, path, c)
			}
			for i, want := range []uint32{90, 10} {
				if cl := c.Clusters[i]; cl.Weight != want || !cl.Exists || cl.Ready != 1 {
					t.Errorf("%s %s: cluster %d: %+v", what, path, i, cl)
				}
			}
			return
		}
		t.Fatalf("%s: no call to %s", what, path)
	}
	if len(res.Mesh) != 1 || len(res.Gateway) != 1 {
		t.Fatalf("want one mesh and one gateway target, got %d and %d", len(res.Mesh), len(res.Gateway))
	}
	check("mesh", res.Mesh[0], "/")
	check("gateway", res.Gateway[0], "/reviews")
}

// Without the domain suffix on the configs, istiod cannot resolve "reviews"; the
// self-check must notice instead of reporting the passthrough route.
func TestSelfCheckCatchesUnresolvedHosts(t *testing.T) {
	st := bookinfo(t)
	for i := range st.configs {
		st.configs[i].Domain = ""
	}
	_, err := evaluateState(st, testOptions)
	if err == nil || !strings.Contains(err.Error(), "self-check") {
		t.Fatalf("want a self-check failure, got %v", err)
	}
	t.Log(err)
}

func TestVirtualHostPrecedence(t *testing.T) {
	rc := &route.RouteConfiguration{VirtualHosts: []*route.VirtualHost{
		{Name: "any", Domains: []string{"*"}},
		{Name: "prefix", Domains: []string{"a.*"}},
		{Name: "suffix", Domains: []string{"*.example.com"}},
		{Name: "exact", Domains: []string{"reviews", "reviews.default.svc.cluster.local"}},
	}}
	for host, want := range map[string]string{
		"reviews": "exact", "REVIEWS": "exact", "a.example.com": "suffix", "a.b": "prefix", "zzz": "any",
	} {
		if got := selectVirtualHost(rc, host).GetName(); got != want {
			t.Errorf("%s: got virtual host %q, want %q", host, got, want)
		}
	}
}

func TestHeaderMatcher(t *testing.T) {
	exact := func(v string) *route.HeaderMatcher_StringMatch {
		return &route.HeaderMatcher_StringMatch{StringMatch: &matcher.StringMatcher{
			MatchPattern: &matcher.StringMatcher_Exact{Exact: v}}}
	}
	req := request{host: "a", path: "/", headers: map[string]string{"end-user": "jason"}}
	for _, tc := range []struct {
		name string
		m    *route.HeaderMatcher
		want bool
	}{
		{"exact", &route.HeaderMatcher{Name: "end-user", HeaderMatchSpecifier: exact("jason")}, true},
		{"exact miss", &route.HeaderMatcher{Name: "end-user", HeaderMatchSpecifier: exact("bob")}, false},
		{"inverted", &route.HeaderMatcher{Name: "end-user", HeaderMatchSpecifier: exact("bob"), InvertMatch: true}, true},
		{"inverted, missing", &route.HeaderMatcher{Name: "x", HeaderMatchSpecifier: exact("bob"), InvertMatch: true}, false},
		{"inverted, missing as empty", &route.HeaderMatcher{Name: "x", HeaderMatchSpecifier: exact("bob"),
			InvertMatch: true, TreatMissingHeaderAsEmpty: true}, true},
		{"absent wanted", &route.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &route.HeaderMatcher_PresentMatch{PresentMatch: false}}, true},
		{"method", &route.HeaderMatcher{Name: ":method", HeaderMatchSpecifier: exact("GET")}, true},
	} {
		if got := headerMatches(tc.m, req); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
