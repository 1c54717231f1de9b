// Command oam-traffic is the "traffic oracle": it feeds a set of Kubernetes and Istio
// objects to Istio's own xDS generation (the fake discovery server Istio uses in its
// tests, running the real kube service registry and config generator in memory) and
// reports what an Envoy sidecar in a namespace, and the ingress gateway, would do with
// a set of HTTP calls: which route answers, which clusters it picks with which weights,
// whether those clusters exist and how many of their endpoints are ready.
//
// Usage:
//
//	oam-traffic [flags] [FILE]          one state (YAML stream or JSON List), stdin if no FILE
//	oam-traffic [flags] --states FILE   a JSON array of states (each a list of objects)
//
// Output is JSON on stdout. Exit status: 0 on success, 1 when an input is rejected or a
// self-check fails (the message is on stderr; in batch mode after the whole output),
// 2 when Istio's machinery itself fails.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	istiolog "istio.io/istio/pkg/log"
)

// options are the command-line settings shared by every state.
type options struct {
	namespace     string            // the namespace of the calling sidecar
	domain        string            // the cluster domain suffix
	gatewayNS     string            // the namespace of the ingress gateway proxy
	gatewayLabels map[string]string // the labels of the ingress gateway proxy
	envoy         bool              // include the generated route configurations
	verbose       bool              // Istio logs and timings on stderr
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("oam-traffic", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts options
	var labels, states string
	fs.StringVar(&opts.namespace, "namespace", "default", "namespace of the calling sidecar")
	fs.StringVar(&opts.domain, "domain", "cluster.local", "cluster domain suffix (Istio's fake server supports only cluster.local)")
	fs.StringVar(&opts.gatewayNS, "gateway-namespace", "istio-system", "namespace of the ingress gateway proxy")
	fs.StringVar(&labels, "gateway-labels", "istio=ingressgateway", "labels of the ingress gateway proxy (k=v,k2=v2)")
	fs.StringVar(&states, "states", "", "JSON file with an array of states; prints an array of results")
	fs.BoolVar(&opts.envoy, "envoy", false, "include the generated route configurations and cluster names")
	fs.BoolVar(&opts.verbose, "v", false, "Istio's logs (warnings and up) and per-state timings on stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: oam-traffic [flags] [FILE]   or   oam-traffic [flags] --states FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 1
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "oam-traffic: %v\n", err)
		return 1
	}
	var err error
	if opts.gatewayLabels, err = parseLabels(labels); err != nil {
		return fail(err)
	}
	if opts.domain != "cluster.local" {
		// NewFakeDiscoveryServer builds its kube registry with "cluster.local" hard-coded;
		// any other suffix would give configs and services different names.
		return fail(fmt.Errorf("--domain %q: only cluster.local is supported", opts.domain))
	}
	quietIstio(opts.verbose)

	// Read the input: one state, or an array of them.
	var inputs [][]json.RawMessage
	batch := states != ""
	switch {
	case batch && fs.NArg() > 0:
		return fail(errors.New("give either --states FILE or an input FILE, not both"))
	case batch:
		data, err := os.ReadFile(states)
		if err != nil {
			return fail(err)
		}
		if err := json.Unmarshal(data, &inputs); err != nil {
			return fail(fmt.Errorf("%s: want a JSON array of states (lists of objects): %v", states, err))
		}
	default:
		in := stdin
		if fs.NArg() > 1 {
			return fail(errors.New("at most one input FILE"))
		}
		if fs.NArg() == 1 {
			f, err := os.Open(fs.Arg(0))
			if err != nil {
				return fail(err)
			}
			defer f.Close()
			in = f
		}
		docs, err := readDocuments(in)
		if err != nil {
			return fail(err)
		}
		inputs = [][]json.RawMessage{docs}
	}

	// Evaluate every state; a rejected state does not stop the others.
	results := make([]*result, len(inputs))
	var problems []string
	start := time.Now()
	for i, docs := range inputs {
		t0 := time.Now()
		res, err := evaluate(docs, opts)
		if err != nil {
			msg := err.Error()
			if batch {
				msg = fmt.Sprintf("state %d: %s", i, msg)
			}
			problems = append(problems, msg)
			if res == nil {
				res = &result{Namespace: opts.namespace}
			}
			res.Error = err.Error()
		}
		results[i] = res
		if opts.verbose {
			fmt.Fprintf(stderr, "oam-traffic: state %d evaluated in %v\n", i, time.Since(t0).Round(time.Millisecond))
		}
	}
	if opts.verbose && batch {
		n := max(len(inputs), 1)
		fmt.Fprintf(stderr, "oam-traffic: %d states in %v (%v per state)\n", len(inputs),
			time.Since(start).Round(time.Millisecond), (time.Since(start) / time.Duration(n)).Round(time.Millisecond))
	}

	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	var out any = results
	if !batch {
		out = results[0]
	}
	if err := enc.Encode(out); err != nil {
		return fail(err)
	}
	for _, p := range problems {
		fmt.Fprintf(stderr, "oam-traffic: %s\n", p)
	}
	if len(problems) > 0 {
		return 1
	}
	return 0
}

// parseLabels turns "k=v,k2=v2" into a map.
func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--gateway-labels: %q is not key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

// quietIstio sends Istio's logs to stderr (its default is stdout, which carries our
// JSON) and, unless verbose, silences them: the fake server logs errors that do not
// matter here (Gateway API CRDs without a bundle version, ...); a real failure of
// Istio's machinery comes through the failer.
func quietIstio(verbose bool) {
	o := istiolog.DefaultOptions()
	o.OutputPaths = []string{"stderr"}
	o.ErrorOutputPaths = []string{"stderr"}
	level := istiolog.NoneLevel
	if verbose {
		level = istiolog.WarnLevel
	}
	o.SetDefaultOutputLevel(istiolog.OverrideScopeName, level)
	_ = istiolog.Configure(o)
}
