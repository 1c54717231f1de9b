package main

// Envoy's HTTP routing, done by hand on the generated RouteConfiguration: pick the
// virtual host by the Host header, then the first route whose match accepts the
// request. Written from Envoy's documented semantics (route.v3.VirtualHost.domains,
// RouteMatch, HeaderMatcher, StringMatcher).

import (
	"regexp"
	"sort"
	"strings"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// request is one HTTP call as the router sees it.
type request struct {
	host    string            // Host / :authority, without a port
	path    string            // path, without a query string
	headers map[string]string // lower-case names; ":method" defaults to GET
	query   map[string]string
}

// header returns a request header, including the pseudo-headers Envoy matches on.
func (r request) header(name string) (string, bool) {
	switch name {
	case ":authority", "host":
		return r.host, true
	case ":path":
		return r.path, true
	case ":scheme":
		return "http", true
	}
	v, ok := r.headers[name]
	if !ok && name == ":method" {
		return "GET", true
	}
	return v, ok
}

// selectVirtualHost applies Envoy's domain precedence: an exact domain, then the
// longest suffix wildcard ("*.example.com", "*-bar.com"), then the longest prefix
// wildcard ("foo.*"), then "*". Domains compare case-insensitively.
func selectVirtualHost(rc *route.RouteConfiguration, host string) *route.VirtualHost {
	host = strings.ToLower(host)
	var suffix, prefix, any *route.VirtualHost
	suffixLen, prefixLen := -1, -1
	for _, vh := range rc.GetVirtualHosts() {
		for _, d := range vh.GetDomains() {
			d = strings.ToLower(d)
			switch {
			case d == "*":
				if any == nil {
					any = vh
				}
			case d == host:
				return vh
			case strings.HasPrefix(d, "*"):
				// The wildcard stands for at least one character.
				if s := d[1:]; len(host) > len(s) && strings.HasSuffix(host, s) && len(s) > suffixLen {
					suffix, suffixLen = vh, len(s)
				}
			case strings.HasSuffix(d, "*"):
				if p := d[:len(d)-1]; len(host) > len(p) && strings.HasPrefix(host, p) && len(p) > prefixLen {
					prefix, prefixLen = vh, len(p)
				}
			}
		}
	}
	switch {
	case suffix != nil:
		return suffix
	case prefix != nil:
		return prefix
	}
	return any
}

// selectRoute returns the first route of the virtual host that matches the request.
func selectRoute(vh *route.VirtualHost, req request) *route.Route {
	for _, r := range vh.GetRoutes() {
		if routeMatches(r.GetMatch(), req) {
			return r
		}
	}
	return nil
}

func routeMatches(m *route.RouteMatch, req request) bool {
	if m == nil {
		return false
	}
	caseSensitive := m.GetCaseSensitive() == nil || m.GetCaseSensitive().GetValue()
	path := req.path
	fold := func(s string) string {
		if caseSensitive {
			return s
		}
		return strings.ToLower(s)
	}
	switch p := m.GetPathSpecifier().(type) {
	case *route.RouteMatch_Prefix:
		if !strings.HasPrefix(fold(path), fold(p.Prefix)) {
			return false
		}
	case *route.RouteMatch_Path:
		if fold(path) != fold(p.Path) {
			return false
		}
	case *route.RouteMatch_SafeRegex:
		if !fullMatch(p.SafeRegex.GetRegex(), path) {
			return false
		}
	case *route.RouteMatch_PathSeparatedPrefix:
		// "/foo" matches "/foo" and "/foo/..." but not "/foobar".
		pre, pth := fold(p.PathSeparatedPrefix), fold(path)
		if pth != pre && !strings.HasPrefix(pth, pre+"/") {
			return false
		}
	default:
		return false // CONNECT matchers and path-match extensions: not for plain calls
	}
	for _, h := range m.GetHeaders() {
		if !headerMatches(h, req) {
			return false
		}
	}
	for _, q := range m.GetQueryParameters() {
		v, ok := req.query[q.GetName()]
		switch {
		case q.GetPresentMatch():
			if !ok {
				return false
			}
		case q.GetStringMatch() != nil:
			if !ok || !stringMatches(q.GetStringMatch(), v) {
				return false
			}
		default: // no specifier: the parameter must be present
			if !ok {
				return false
			}
		}
	}
	// grpc, tls_context, dynamic_metadata, cookies and runtime_fraction are not
	// generated for VirtualService HTTP routes and are treated as matching.
	return true
}

// headerMatches follows Envoy: a missing header fails every matcher except a
// present_match that expects absence (inverted or not), unless
// treat_missing_header_as_empty says to match against "".
func headerMatches(h *route.HeaderMatcher, req request) bool {
	v, ok := req.header(strings.ToLower(h.GetName()))
	_, present := h.GetHeaderMatchSpecifier().(*route.HeaderMatcher_PresentMatch)
	if !ok && !h.GetTreatMissingHeaderAsEmpty() {
		if h.GetInvertMatch() {
			return present && h.GetPresentMatch()
		}
		return present && !h.GetPresentMatch()
	}
	var match bool
	switch s := h.GetHeaderMatchSpecifier().(type) {
	case *route.HeaderMatcher_StringMatch:
		match = stringMatches(s.StringMatch, v)
	case *route.HeaderMatcher_ExactMatch:
		match = v == s.ExactMatch
	case *route.HeaderMatcher_PrefixMatch:
		match = strings.HasPrefix(v, s.PrefixMatch)
	case *route.HeaderMatcher_SuffixMatch:
		match = strings.HasSuffix(v, s.SuffixMatch)
	case *route.HeaderMatcher_ContainsMatch:
		match = strings.Contains(v, s.ContainsMatch)
	case *route.HeaderMatcher_SafeRegexMatch:
		match = fullMatch(s.SafeRegexMatch.GetRegex(), v)
	case *route.HeaderMatcher_PresentMatch:
		match = s.PresentMatch
	case nil:
		match = ok // no specifier: presence
	default:
		match = false // range matches: our calls carry no numeric headers
	}
	return match != h.GetInvertMatch()
}

func stringMatches(m *matcher.StringMatcher, v string) bool {
	if re, ok := m.GetMatchPattern().(*matcher.StringMatcher_SafeRegex); ok {
		return fullMatch(re.SafeRegex.GetRegex(), v) // ignore_case does not apply to regexes
	}
	fold := func(s string) string { return s }
	if m.GetIgnoreCase() {
		fold = strings.ToLower
	}
	v = fold(v)
	switch p := m.GetMatchPattern().(type) {
	case *matcher.StringMatcher_Exact:
		return v == fold(p.Exact)
	case *matcher.StringMatcher_Prefix:
		return strings.HasPrefix(v, fold(p.Prefix))
	case *matcher.StringMatcher_Suffix:
		return strings.HasSuffix(v, fold(p.Suffix))
	case *matcher.StringMatcher_Contains:
		return strings.Contains(v, fold(p.Contains))
	}
	return false
}

// fullMatch is RE2 full-string matching; Go's regexp speaks RE2.
func fullMatch(expr, s string) bool {
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	return err == nil && re.MatchString(s)
}

// sortedKeys is a small helper for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
