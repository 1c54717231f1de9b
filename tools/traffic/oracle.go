package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/encoding/protojson"

	networking "istio.io/api/networking/v1alpha3"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config"
	kubelib "istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/kube/krt"
)

// result is the oracle's answer for one state.
type result struct {
	Namespace string     `json:"namespace"`
	Mesh      []*target  `json:"mesh"`
	Gateway   []*target  `json:"gateway"`
	Envoy     *envoyDump `json:"envoy,omitempty"`
	Warnings  []string   `json:"warnings,omitempty"` // validation warnings of the input
	Error     string     `json:"error,omitempty"`    // set (batch mode) when the state was rejected
}

// target is one host:port that a proxy calls, with the calls made to it.
type target struct {
	Gateway     string        `json:"gateway,omitempty"` // ns/name of the Gateway (gateway calls)
	Host        string        `json:"host"`              // the Host header sent
	FQDN        string        `json:"fqdn,omitempty"`    // the service it names (mesh calls)
	Port        int           `json:"port"`
	RouteConfig string        `json:"routeConfig,omitempty"` // the RDS name the listener uses
	Notes       []string      `json:"notes,omitempty"`       // matches not turned into calls, ...
	Calls       []*callResult `json:"calls"`
}

// callResult is what the proxy does with one request.
type callResult struct {
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"`
	Query   map[string]string `json:"query,omitempty"`
	// Probe: no route names this call (the "/" a caller may send to any host); that it
	// finds no route (404 NR) is the configuration's intent, not a failure.
	Probe bool `json:"probe,omitempty"`
	// routed | no-route (Envoy 404 NR) | no-cluster (503 NC: a cluster the route names,
	// with weight > 0, does not exist) | direct-response | redirect
	Outcome        string           `json:"outcome"`
	Status         int              `json:"status,omitempty"` // HTTP status for all outcomes but routed
	Route          string           `json:"route,omitempty"`
	VirtualHost    string           `json:"virtualHost,omitempty"`
	VirtualService string           `json:"virtualService,omitempty"` // ns/name, from the route's metadata
	Location       string           `json:"location,omitempty"`       // redirect target (as far as known)
	Clusters       []*clusterResult `json:"clusters,omitempty"`
}

type clusterResult struct {
	Name      string            `json:"name"`
	Subset    string            `json:"subset"`
	Weight    uint32            `json:"weight"`
	Exists    bool              `json:"exists"`
	Discovery string            `json:"discovery,omitempty"` // cluster type when not EDS (PassthroughCluster, ...)
	Ready     int               `json:"ready"`               // endpoints HEALTHY or UNKNOWN
	Endpoints []*endpointResult `json:"endpoints"`
}

type endpointResult struct {
	Address string `json:"address"`
	Port    uint32 `json:"port"`
	Health  string `json:"health"`
}

type envoyDump struct {
	Mesh    proxyDump `json:"mesh"`
	Gateway proxyDump `json:"gateway"`
}

type proxyDump struct {
	Routes   []json.RawMessage `json:"routes"`
	Clusters []string          `json:"clusters"`
}

// proxyConfig is what istiod would push to one proxy.
type proxyConfig struct {
	routes    map[string]*route.RouteConfiguration
	clusters  map[string]*clusterv3.Cluster
	endpoints map[string]*endpoint.ClusterLoadAssignment
}

// evaluate runs one state through Istio and answers the calls. On a failed self-check
// it returns the result too.
func evaluate(docs []json.RawMessage, opts options) (*result, error) {
	st, err := parseState(docs, opts.namespace, opts.domain)
	if err != nil {
		return nil, err
	}
	return evaluateState(st, opts)
}

func evaluateState(st *state, opts options) (*result, error) {
	t := &failer{verbose: opts.verbose}
	defer t.done()
	// Every krt collection registers with this debug handler and stays there; a fresh
	// one per state lets a finished state's server be garbage-collected.
	krt.GlobalDebugHandler = new(krt.DebugHandler)
	s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
		KubernetesObjects: st.kube,
		Configs:           st.configs,
	})
	// NewFakeDiscoveryServer already waits for the registries (the kube controller's
	// queue, which turns Pods and EndpointSlices into endpoints, including slices seen
	// before their Pod) and for the first push context. Make both explicit here, so
	// that a change in those helpers cannot make us read half-synced state.
	kubelib.WaitForCacheSync("oam-traffic", stopWhenDone(t), s.KubeRegistry.HasSynced)
	s.EnsureSynced(t)

	sidecar := collect(s, &model.Proxy{
		Type:            model.SidecarProxy,
		ID:              "oam-traffic-caller." + opts.namespace,
		ConfigNamespace: opts.namespace,
		IPAddresses:     []string{"240.240.0.10"}, // no Pod has it: the caller is no workload
		Labels:          map[string]string{},
		Metadata:        &model.NodeMetadata{Namespace: opts.namespace, Labels: map[string]string{}},
	})
	gateway := collect(s, &model.Proxy{
		Type:            model.Router,
		ID:              "oam-traffic-gateway." + opts.gatewayNS,
		ConfigNamespace: opts.gatewayNS,
		IPAddresses:     []string{"240.240.0.11"},
		Labels:          opts.gatewayLabels,
		Metadata:        &model.NodeMetadata{Namespace: opts.gatewayNS, Labels: opts.gatewayLabels},
	})

	res := &result{Namespace: opts.namespace, Mesh: []*target{}, Gateway: []*target{}, Warnings: st.warnings}
	var problems []string
	for _, tg := range meshTargets(st, opts) {
		if msg := tg.run(sidecar); msg != "" {
			problems = append(problems, msg)
		}
		res.Mesh = append(res.Mesh, &tg.target)
	}
	for _, tg := range gatewayTargets(st, opts) {
		if msg := tg.run(gateway); msg != "" {
			problems = append(problems, msg)
		}
		res.Gateway = append(res.Gateway, &tg.target)
	}
	if opts.envoy {
		res.Envoy = &envoyDump{Mesh: sidecar.dump(), Gateway: gateway.dump()}
	}
	if len(problems) > 0 {
		return res, fmt.Errorf("self-check failed:\n  %s", strings.Join(problems, "\n  "))
	}
	return res, nil
}

// stopWhenDone returns a channel closed when the state is done.
func stopWhenDone(t *failer) chan struct{} {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	return stop
}

// collect generates listeners, routes, clusters and endpoints for one proxy.
func collect(s *xds.FakeDiscoveryServer, p *model.Proxy) *proxyConfig {
	p = s.SetupProxy(p)
	pc := &proxyConfig{
		routes:    map[string]*route.RouteConfiguration{},
		clusters:  map[string]*clusterv3.Cluster{},
		endpoints: map[string]*endpoint.ClusterLoadAssignment{},
	}
	for _, rc := range s.Routes(p) {
		pc.routes[rc.GetName()] = rc
	}
	for _, c := range s.Clusters(p) {
		pc.clusters[c.GetName()] = c
	}
	for _, cla := range s.Endpoints(p) {
		pc.endpoints[cla.GetClusterName()] = cla
	}
	return pc
}

func (pc *proxyConfig) dump() proxyDump {
	d := proxyDump{Routes: []json.RawMessage{}, Clusters: sortedKeys(pc.clusters)}
	for _, name := range sortedKeys(pc.routes) {
		js, err := protojson.Marshal(pc.routes[name])
		if err != nil {
			js, _ = json.Marshal(map[string]string{"name": name, "error": err.Error()})
		}
		d.Routes = append(d.Routes, js)
	}
	return d
}

// plannedTarget is a target before it is run: the calls to make and the
// VirtualServices whose routes the proxy must have for its host (the self-check).
type plannedTarget struct {
	target
	routeName string              // the RouteConfiguration to use, if its name is known
	findRoute func(string) bool   // else this picks it (HTTPS gateway servers)
	calls     []callSpec          // before deduplication
	expect    map[string]struct{} // ns/name of VirtualServices that must show in the routes
}

type callSpec struct {
	path           string
	headers, query map[string]string
	probe          bool // not from a route's match: the "/" any caller may send
}

func (c callSpec) key() string {
	var b strings.Builder
	b.WriteString(c.path)
	for _, m := range []map[string]string{c.headers, c.query} {
		b.WriteString("\x00")
		for _, k := range sortedKeys(m) {
			b.WriteString(k + "=" + m[k] + "\x01")
		}
	}
	return b.String()
}

// run makes the calls; it returns a self-check failure, if any.
func (tg *plannedTarget) run(pc *proxyConfig) string {
	tg.Calls = []*callResult{}
	tg.Notes = unique(tg.Notes) // a target reached through two server hosts repeats them
	rc := pc.routes[tg.routeName]
	if rc == nil && tg.findRoute != nil {
		for _, name := range sortedKeys(pc.routes) {
			if tg.findRoute(name) {
				rc, tg.routeName = pc.routes[name], name
				break
			}
		}
	}
	if rc == nil {
		// A port that is not HTTP (a "tcp-" port name, say) has no route configuration.
		if tg.routeName != "" || tg.findRoute != nil {
			tg.Notes = append(tg.Notes, "the proxy has no HTTP route configuration for this port; not called")
		}
		return ""
	}
	tg.RouteConfig = rc.GetName()
	seen := map[string]*callResult{}
	for _, c := range tg.calls {
		if done := seen[c.key()]; done != nil {
			done.Probe = done.Probe && c.probe // a route names it after all
			continue
		}
		res := pc.call(rc, tg.Host, c)
		res.Probe = c.probe
		seen[c.key()] = res
		tg.Calls = append(tg.Calls, res)
	}
	// The self-check: the virtual host for this Host must carry routes from one of the
	// VirtualServices that name it. If istiod did not resolve their hosts (a missing
	// domain suffix, say), the proxy would silently use its default route instead.
	if len(tg.expect) == 0 {
		return ""
	}
	vh := selectVirtualHost(rc, tg.Host)
	for _, r := range vh.GetRoutes() {
		if _, ok := tg.expect[virtualServiceOf(r)]; ok {
			return ""
		}
	}
	where := "no virtual host"
	if vh != nil {
		where = fmt.Sprintf("virtual host %q", vh.GetName())
	}
	return fmt.Sprintf("%s:%d (route configuration %q): VirtualService %s names this host, but %s has no route from it; "+
		"istiod did not apply it (is the host resolvable, the domain suffix set, the VirtualService exported?)",
		tg.Host, tg.Port, rc.GetName(), strings.Join(sortedKeys(tg.expect), " or "), where)
}

// call routes one request through a route configuration.
func (pc *proxyConfig) call(rc *route.RouteConfiguration, host string, c callSpec) *callResult {
	out := &callResult{Path: c.path, Headers: c.headers, Query: c.query}
	if out.Headers == nil {
		out.Headers = map[string]string{}
	}
	vh := selectVirtualHost(rc, host)
	var r *route.Route
	if vh != nil {
		out.VirtualHost = vh.GetName()
		r = selectRoute(vh, request{host: host, path: c.path, headers: c.headers, query: c.query})
	}
	if r == nil {
		out.Outcome, out.Status = "no-route", 404
		return out
	}
	out.Route = r.GetName()
	out.VirtualService = virtualServiceOf(r)
	switch a := r.GetAction().(type) {
	case *route.Route_Route:
		out.Outcome = "routed"
		switch cs := a.Route.GetClusterSpecifier().(type) {
		case *route.RouteAction_Cluster:
			out.Clusters = []*clusterResult{pc.cluster(cs.Cluster, 100)}
		case *route.RouteAction_WeightedClusters:
			for _, wc := range cs.WeightedClusters.GetClusters() {
				out.Clusters = append(out.Clusters, pc.cluster(wc.GetName(), wc.GetWeight().GetValue()))
			}
		default:
			out.Outcome = "unsupported-cluster-specifier"
		}
		for _, cl := range out.Clusters {
			if !cl.Exists && cl.Weight > 0 {
				out.Outcome, out.Status = "no-cluster", 503
			}
		}
	case *route.Route_DirectResponse:
		out.Outcome, out.Status = "direct-response", int(a.DirectResponse.GetStatus())
	case *route.Route_Redirect:
		out.Outcome, out.Status = "redirect", redirectStatus(a.Redirect.GetResponseCode())
		out.Location = redirectLocation(a.Redirect, host, c.path)
	default:
		out.Outcome = "unsupported-action"
	}
	return out
}

// cluster describes one upstream cluster a route names, with its endpoints.
func (pc *proxyConfig) cluster(name string, weight uint32) *clusterResult {
	cr := &clusterResult{Name: name, Weight: weight, Endpoints: []*endpointResult{}}
	if parts := strings.Split(name, "|"); len(parts) == 4 {
		cr.Subset = parts[2] // outbound|port|subset|host
	}
	c, ok := pc.clusters[name]
	if !ok {
		return cr // Envoy answers 503 NC
	}
	cr.Exists = true
	if c.GetType() != clusterv3.Cluster_EDS {
		cr.Discovery = c.GetType().String()
	}
	cla := pc.endpoints[name]
	if cla == nil {
		cla = c.GetLoadAssignment() // STATIC / DNS clusters carry theirs inline
	}
	for _, locality := range cla.GetEndpoints() {
		for _, lb := range locality.GetLbEndpoints() {
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			health := lb.GetHealthStatus()
			cr.Endpoints = append(cr.Endpoints, &endpointResult{
				Address: sa.GetAddress(), Port: sa.GetPortValue(), Health: health.String(),
			})
			// istiod leaves endpoints of unready Pods out entirely; of those it
			// sends, only HEALTHY and UNKNOWN take traffic.
			if health == core.HealthStatus_HEALTHY || health == core.HealthStatus_UNKNOWN {
				cr.Ready++
			}
		}
	}
	return cr
}

// virtualServiceOf reads "ns/name" of the VirtualService a route was generated from,
// which istiod records in the route's metadata (filter_metadata.istio.config, a path
// like /apis/networking.istio.io/v1/namespaces/NS/virtual-service/NAME).
func virtualServiceOf(r *route.Route) string {
	path := r.GetMetadata().GetFilterMetadata()["istio"].GetFields()["config"].GetStringValue()
	parts := strings.Split(path, "/")
	if n := len(parts); n >= 4 && parts[n-2] == "virtual-service" && parts[n-4] == "namespaces" {
		return parts[n-3] + "/" + parts[n-1]
	}
	return ""
}

func redirectStatus(code route.RedirectAction_RedirectResponseCode) int {
	switch code {
	case route.RedirectAction_FOUND:
		return 302
	case route.RedirectAction_SEE_OTHER:
		return 303
	case route.RedirectAction_TEMPORARY_REDIRECT:
		return 307
	case route.RedirectAction_PERMANENT_REDIRECT:
		return 308
	}
	return 301
}

func redirectLocation(r *route.RedirectAction, host, path string) string {
	scheme := "http"
	if r.GetHttpsRedirect() {
		scheme = "https"
	} else if s := r.GetSchemeRedirect(); s != "" {
		scheme = s
	}
	if h := r.GetHostRedirect(); h != "" {
		host = h
	}
	if p := r.GetPathRedirect(); p != "" {
		path = p
	} else if p := r.GetPrefixRewrite(); p != "" {
		path = p + "…"
	}
	if port := r.GetPortRedirect(); port != 0 {
		host += ":" + strconv.Itoa(int(port))
	}
	return scheme + "://" + host + path
}

// --- planning the calls ---------------------------------------------------------------

// AnyHost is the Host header sent for a bare "*" host.
const AnyHost = "anyhost.example"

// meshTargets: every port of every Service in the caller's namespace, and of every
// Service that a mesh VirtualService visible to the caller names.
func meshTargets(st *state, opts options) []*plannedTarget {
	services := map[string]*serviceInfo{}
	for _, svc := range st.services {
		fqdn := svc.Name + "." + svc.Namespace + ".svc." + opts.domain
		var ports []int
		for _, p := range svc.Spec.Ports {
			ports = append(ports, int(p.Port))
		}
		services[fqdn] = &serviceInfo{namespace: svc.Namespace, ports: ports}
	}
	var meshVS []config.Config
	for _, vs := range st.vs {
		spec := vs.Spec.(*networking.VirtualService)
		if (len(spec.Gateways) == 0 || contains(spec.Gateways, "mesh")) && exportedTo(vs.Namespace, spec.ExportTo, opts.namespace) {
			meshVS = append(meshVS, vs)
		}
	}

	wanted, unresolvedSeen := map[string]bool{}, map[string]bool{}
	var unresolved []*plannedTarget
	for fqdn, si := range services {
		if si.namespace == opts.namespace {
			wanted[fqdn] = true
		}
	}
	for _, vs := range meshVS {
		for _, h := range vs.Spec.(*networking.VirtualService).Hosts {
			fqdn := resolveHost(h, vs.Namespace, opts.domain)
			if services[fqdn] != nil {
				wanted[fqdn] = true
			} else if !unresolvedSeen[fqdn] {
				unresolvedSeen[fqdn] = true
				unresolved = append(unresolved, &plannedTarget{target: target{
					Host: h, FQDN: fqdn, Calls: []*callResult{},
					Notes: []string{fmt.Sprintf("VirtualService %s/%s names this host, but no Service in the input has it; not called",
						vs.Namespace, vs.Name)},
				}})
			}
		}
	}

	var out []*plannedTarget
	for _, fqdn := range sortedKeys(wanted) {
		for _, port := range services[fqdn].ports {
			tg := &plannedTarget{
				target:    target{Host: callerHost(fqdn, opts.namespace, opts.domain), FQDN: fqdn, Port: port},
				routeName: strconv.Itoa(port),
				calls:     []callSpec{{path: "/", probe: true}},
				expect:    map[string]struct{}{},
			}
			for _, vs := range meshVS {
				spec := vs.Spec.(*networking.VirtualService)
				if !anyHostMatches(spec.Hosts, vs.Namespace, opts.domain, fqdn) {
					continue
				}
				caller := proxyIdentity{namespace: opts.namespace, matchGateways: func(gws []string) bool { return contains(gws, "mesh") }}
				calls, notes, applies := callsFrom(spec, uint32(port), caller)
				tg.calls = append(tg.calls, calls...)
				tg.Notes = append(tg.Notes, prefixed(vs, notes)...)
				if applies {
					tg.expect[vs.Namespace+"/"+vs.Name] = struct{}{}
				}
			}
			out = append(out, tg)
		}
	}
	return append(out, unresolved...)
}

type serviceInfo struct {
	namespace string
	ports     []int
}

// gatewayTargets: for every server of every Gateway that selects the gateway proxy,
// each of its hosts (for wildcard hosts: the hosts of the VirtualServices bound to the
// Gateway that fall under it) on the server's port.
func gatewayTargets(st *state, opts options) []*plannedTarget {
	var out []*plannedTarget
	seen := map[string]*plannedTarget{}
	for _, gw := range st.gw {
		spec := gw.Spec.(*networking.Gateway)
		if !subsetOf(spec.Selector, opts.gatewayLabels) {
			continue
		}
		gwRef := gw.Namespace + "/" + gw.Name
		var bound []config.Config
		for _, vs := range st.vs {
			vspec := vs.Spec.(*networking.VirtualService)
			if boundTo(vs.Namespace, vspec.Gateways, gw.Namespace, gw.Name) && exportedTo(vs.Namespace, vspec.ExportTo, opts.gatewayNS) {
				bound = append(bound, vs)
			}
		}
		for _, srv := range spec.Servers {
			port := srv.GetPort().GetNumber()
			routeName, findRoute, note := gatewayRouteName(srv, gw)
			for _, sh := range srv.Hosts {
				hostNS, host := "*", sh
				if ns, h, ok := strings.Cut(sh, "/"); ok {
					hostNS, host = ns, h
					if hostNS == "." {
						hostNS = gw.Namespace
					}
				}
				// The Host headers to send: the server's own host, or for a wildcard
				// the bound VirtualServices' hosts under it.
				var hosts []string
				if !strings.Contains(host, "*") {
					hosts = []string{host}
				} else {
					for _, vs := range bound {
						for _, h := range vs.Spec.(*networking.VirtualService).Hosts {
							if sample := sampleHost(h); sample != "" && hostMatches(host, sample) && !contains(hosts, sample) {
								hosts = append(hosts, sample)
							}
						}
					}
				}
				for _, h := range hosts {
					key := fmt.Sprintf("%s|%d|%s", gwRef, port, h)
					tg := seen[key]
					if tg == nil {
						tg = &plannedTarget{
							target:    target{Gateway: gwRef, Host: h, Port: int(port)},
							routeName: routeName, findRoute: findRoute,
							calls:  []callSpec{{path: "/", probe: true}},
							expect: map[string]struct{}{},
						}
						if note != "" {
							tg.Notes = append(tg.Notes, note)
						}
						seen[key] = tg
						out = append(out, tg)
					}
					for _, vs := range bound {
						vspec := vs.Spec.(*networking.VirtualService)
						if hostNS != "*" && hostNS != vs.Namespace {
							continue
						}
						if !anyHostMatches(vspec.Hosts, vs.Namespace, opts.domain, h) {
							continue
						}
						caller := proxyIdentity{labels: opts.gatewayLabels, namespace: opts.gatewayNS, matchGateways: func(gws []string) bool {
							return boundTo(vs.Namespace, gws, gw.Namespace, gw.Name)
						}}
						calls, notes, applies := callsFrom(vspec, port, caller)
						tg.calls = append(tg.calls, calls...)
						tg.Notes = append(tg.Notes, prefixed(vs, notes)...)
						if applies && (routeName != "" || findRoute != nil) {
							tg.expect[vs.Namespace+"/"+vs.Name] = struct{}{}
						}
					}
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Gateway != b.Gateway {
			return a.Gateway < b.Gateway
		}
		if a.Port != b.Port {
			return a.Port < b.Port
		}
		return a.Host < b.Host
	})
	return out
}

// gatewayRouteName tells which RouteConfiguration serves a Gateway server: "http.PORT"
// for plain HTTP, "https.PORT.PORTNAME.GATEWAY.NAMESPACE" for terminated HTTPS (found by
// prefix and suffix), none for TLS passthrough and TCP.
func gatewayRouteName(srv *networking.Server, gw config.Config) (string, func(string) bool, string) {
	port := srv.GetPort().GetNumber()
	proto := strings.ToUpper(srv.GetPort().GetProtocol())
	mode := srv.GetTls().GetMode()
	switch {
	case proto == "HTTP" || proto == "HTTP2" || proto == "GRPC" || proto == "GRPC-WEB":
		return fmt.Sprintf("http.%d", port), nil, ""
	case proto == "HTTPS" && mode != networking.ServerTLSSettings_PASSTHROUGH && mode != networking.ServerTLSSettings_AUTO_PASSTHROUGH:
		prefix, suffix := fmt.Sprintf("https.%d.", port), "."+gw.Name+"."+gw.Namespace
		return "", func(name string) bool { return strings.HasPrefix(name, prefix) && strings.HasSuffix(name, suffix) }, ""
	}
	return "", nil, fmt.Sprintf("server protocol %s (tls mode %s) has no HTTP routes; not called", proto, mode)
}

// proxyIdentity is what decides which HTTP matches istiod generates for a proxy.
type proxyIdentity struct {
	labels        map[string]string
	namespace     string
	matchGateways func([]string) bool // whether a match's own `gateways` list names this proxy
}

// callsFrom turns the HTTP matches of a VirtualService that apply to a port and to the
// calling proxy into calls. applies reports whether any HTTP route of it applies at all
// (then the proxy's routes for the host must come from it).
func callsFrom(vs *networking.VirtualService, port uint32, caller proxyIdentity) (calls []callSpec, notes []string, applies bool) {
	for i, hr := range vs.Http {
		if len(hr.Match) == 0 {
			applies = true
			calls = append(calls, callSpec{path: "/", headers: map[string]string{}}) // the catch-all
			continue
		}
		for j, m := range hr.Match {
			where := fmt.Sprintf("http[%d].match[%d]", i, j)
			if hr.Name != "" {
				where = fmt.Sprintf("http[%d] (%s).match[%d]", i, hr.Name, j)
			}
			if m.Port != 0 && m.Port != port {
				continue
			}
			if len(m.Gateways) > 0 && !caller.matchGateways(m.Gateways) {
				continue
			}
			// istiod leaves out matches for other source workloads altogether.
			if !subsetOf(m.SourceLabels, caller.labels) || (m.SourceNamespace != "" && m.SourceNamespace != caller.namespace) {
				continue
			}
			applies = true
			if m.Authority != nil {
				notes = append(notes, where+": matches on the authority; not called")
				continue
			}
			c := callSpec{path: "/", headers: map[string]string{}}
			ok := true
			if m.Uri != nil {
				c.path, ok = sample(m.Uri)
				if c.path == "" {
					c.path = "/"
				}
			}
			for name, sm := range m.Headers {
				v, good := sample(sm)
				ok = ok && good
				c.headers[strings.ToLower(name)] = v
			}
			if m.Method != nil {
				v, good := sample(m.Method)
				ok = ok && good
				c.headers[":method"] = v
			}
			for name, sm := range m.QueryParams {
				v, good := sample(sm)
				ok = ok && good
				if c.query == nil {
					c.query = map[string]string{}
				}
				c.query[name] = v
			}
			if !ok {
				notes = append(notes, where+": a regex match; not called")
				continue
			}
			calls = append(calls, c)
		}
	}
	return calls, notes, applies
}

// sample gives a value that an Istio StringMatch accepts (exact or prefix); regexes
// are not sampled.
func sample(m *networking.StringMatch) (string, bool) {
	switch v := m.GetMatchType().(type) {
	case *networking.StringMatch_Exact:
		return v.Exact, true
	case *networking.StringMatch_Prefix:
		return v.Prefix, true
	}
	return "", false
}

func prefixed(vs config.Config, notes []string) []string {
	out := make([]string, len(notes))
	for i, n := range notes {
		out[i] = fmt.Sprintf("VirtualService %s/%s %s", vs.Namespace, vs.Name, n)
	}
	return out
}

// --- hosts, namespaces and selectors ---------------------------------------------------

// resolveHost expands a short host the way istiod does for a config in namespace ns:
// "reviews" -> "reviews.ns.svc.<domain>"; hosts with a dot and "*" stay as they are.
func resolveHost(h, ns, domain string) string {
	if h == "*" || strings.Contains(h, ".") {
		return h
	}
	return h + "." + ns + ".svc." + domain
}

// callerHost is the name a workload in callerNS uses for a service FQDN.
func callerHost(fqdn, callerNS, domain string) string {
	if short, ok := strings.CutSuffix(fqdn, "."+callerNS+".svc."+domain); ok {
		return short
	}
	if nameNS, ok := strings.CutSuffix(fqdn, ".svc."+domain); ok {
		return nameNS
	}
	return fqdn
}

// hostMatches reports whether host falls under pattern ("*", "*.example.com" or exact).
func hostMatches(pattern, host string) bool {
	pattern, host = strings.ToLower(pattern), strings.ToLower(host)
	switch {
	case pattern == "*":
		return true
	case strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(host, pattern[1:])
	}
	return pattern == host
}

func anyHostMatches(hosts []string, ns, domain, host string) bool {
	for _, h := range hosts {
		if hostMatches(resolveHost(h, ns, domain), host) {
			return true
		}
	}
	return false
}

// sampleHost gives a concrete host for a VirtualService host: "*.example.com" ->
// "any.example.com"; a bare "*" gives "anyhost.example" (any host at all).
func sampleHost(h string) string {
	switch {
	case h == "*":
		return AnyHost
	case strings.HasPrefix(h, "*"):
		return "any" + h[1:]
	}
	return h
}

// boundTo reports whether a VirtualService in vsNS with these `gateways` binds to the
// Gateway gwNS/gwName. Names are "name" (the VirtualService's namespace), "ns/name", or
// the old "name.ns.svc.<domain>".
func boundTo(vsNS string, gateways []string, gwNS, gwName string) bool {
	for _, g := range gateways {
		ns, name := vsNS, g
		if n, nm, ok := strings.Cut(g, "/"); ok {
			ns, name = n, nm
		} else if parts := strings.Split(g, "."); len(parts) > 1 {
			name, ns = parts[0], parts[1]
		}
		if ns == gwNS && name == gwName {
			return true
		}
	}
	return false
}

// exportedTo applies a config's exportTo to a namespace ("*" and empty: everywhere,
// ".": its own namespace, "~": nowhere).
func exportedTo(cfgNS string, exportTo []string, ns string) bool {
	if len(exportTo) == 0 {
		return true
	}
	for _, e := range exportTo {
		if e == "*" || e == ns || (e == "." && cfgNS == ns) {
			return true
		}
	}
	return false
}

func subsetOf(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func unique(list []string) []string {
	var out []string
	for _, s := range list {
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
