package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/ast/astutil"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	cuejson "cuelang.org/go/encoding/json"
)

const (
	templateFile = "template.cue"
	preludeFile  = "oam-prelude.cue"
	// closedName is a definition added to every template: `#oamClosedParameter: parameter`.
	// Referencing `parameter` from a definition closes its structs recursively, so that
	// Allows and unification reject fields the schema does not declare, while pattern
	// constraints and `...` still let anything in.
	closedName = "#oamClosedParameter"
	maxErrors  = 20
)

var (
	closedPath    = cue.MakePath(cue.Def(closedName))
	parameterPath = cue.MakePath(cue.Str("parameter"))
	contextPath   = cue.MakePath(cue.Str("context"))
)

type compiled struct {
	val cue.Value
	err error
}

type session struct {
	ctx   *cue.Context
	cache map[string]*compiled // by template source
}

func newSession() *session {
	return &session{ctx: cuecontext.New(), cache: map[string]*compiled{}}
}

// compile parses the template with its comments (the patch directives are comments) and
// builds it together with a small prelude: the closed parameter definition, and
// `context: _` / `parameter: {}` when the template does not declare them (KubeVela fills
// context whether or not the template declares it).
func (s *session) compile(src string) *compiled {
	if c, ok := s.cache[src]; ok {
		return c
	}
	c := &compiled{}
	s.cache[src] = c
	f, err := parser.ParseFile(templateFile, src, parser.ParseComments)
	if err != nil {
		c.err = err
		return c
	}
	declared := map[string]bool{}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.Field); ok {
			if name, _, err := ast.LabelName(fd.Label); err == nil {
				declared[name] = true
			}
		}
	}
	prelude := closedName + ": parameter\n"
	if !declared["context"] {
		prelude += "context: _\n"
	}
	if !declared["parameter"] {
		prelude += "parameter: {}\n"
	}
	pf, err := parser.ParseFile(preludeFile, prelude)
	if err != nil {
		panic(err) // our own text
	}
	f.Decls = append(f.Decls, pf.Decls...)
	// The parser resolved identifiers already; resolve again so that references to the
	// prelude's context/parameter find them (resolved identifiers are kept as they are).
	f.Unresolved = nil
	astutil.Resolve(f, func(token.Pos, string, ...any) {})
	c.val = s.ctx.BuildFile(f)
	if err := c.val.Err(); err != nil {
		c.err = err
	}
	return c
}

// jsonValue turns a JSON object (absent: {}) into a CUE value, keeping 3 an int and 3.0 a float.
func (s *session) jsonValue(name string, raw json.RawMessage) (cue.Value, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		raw = []byte("{}")
	}
	if raw[0] != '{' {
		return cue.Value{}, fmt.Errorf("%s must be a JSON object", strings.TrimSuffix(name, ".json"))
	}
	expr, err := cuejson.Extract(name, raw)
	if err != nil {
		return cue.Value{}, err
	}
	v := s.ctx.BuildExpr(expr)
	return v, v.Err()
}

func (s *session) eval(j job) (*evalResult, []problem) {
	c := s.compile(j.Template)
	if c.err != nil {
		return nil, templateProblems(c.err)
	}
	pv, err := s.jsonValue("parameter.json", j.Parameter)
	if err != nil {
		return nil, []problem{{Path: []any{}, Message: err.Error()}}
	}
	cv, err := s.jsonValue("context.json", j.Context)
	if err != nil {
		return nil, []problem{{Path: []any{}, Message: err.Error()}}
	}

	// 1. fields the schema does not allow.
	closed := c.val.LookupPath(closedPath)
	var probs []problem
	unknownFields(closed, pv, []any{}, false, &probs)
	if len(probs) > 0 {
		return nil, probs
	}
	// 2. wrong types, enums, constraints: unify the user's values with the closed schema.
	if probs = parameterProblems(closed.Unify(pv).Validate(), pv, closedName); len(probs) > 0 {
		return nil, probs
	}
	full := c.val.FillPath(parameterPath, pv).FillPath(contextPath, cv)
	// 3. required fields without a value: what is still not concrete in parameter.
	if probs = parameterProblems(full.LookupPath(parameterPath).Validate(cue.Concrete(true)), pv, "parameter"); len(probs) > 0 {
		return nil, probs
	}
	// 4. the template itself.
	if err := full.Validate(); err != nil {
		return nil, templateProblems(err)
	}
	res := &evalResult{Outputs: json.RawMessage("{}"), Directives: []directive{}}
	var errs []problem
	export := func(name string) json.RawMessage {
		v := full.LookupPath(cue.MakePath(cue.Str(name)))
		if !v.Exists() {
			return nil
		}
		if err := v.Validate(cue.Concrete(true)); err != nil {
			errs = append(errs, templateProblems(err)...)
			return nil
		}
		b, err := v.MarshalJSON()
		if err != nil {
			errs = append(errs, templateProblems(err)...)
			return nil
		}
		return b
	}
	res.Output = export("output")
	if b := export("outputs"); b != nil {
		res.Outputs = b
	}
	res.Patch = export("patch")
	res.PatchOutputs = export("patchOutputs")
	if len(errs) > 0 {
		return nil, errs
	}
	if res.PatchOutputs != nil {
		res.OutputDirectives = map[string][]directive{}
		if it, err := full.LookupPath(cue.MakePath(cue.Str("patchOutputs"))).Fields(); err == nil {
			for it.Next() {
				found := []directive{}
				if d, ok := readDirective(it.Value(), []any{}); ok {
					found = append(found, d)
				}
				collectDirectives(it.Value(), []any{}, &found)
				res.OutputDirectives[it.Selector().Unquoted()] = found
			}
		}
	}
	if res.Patch != nil {
		patch := full.LookupPath(cue.MakePath(cue.Str("patch")))
		// A comment above `patch:` itself names the strategy of the whole patch (path []).
		if d, ok := readDirective(patch, []any{}); ok {
			res.Directives = append(res.Directives, d)
		}
		collectDirectives(patch, []any{}, &res.Directives)
	}
	return res, nil
}

// unknownFields reports every field of the user's value that the (closed) schema does not
// allow, descending into nested structs and list elements. For a disjunction of structs the
// alternative that allows the most wins; what cannot be decided here is left to unification.
func unknownFields(schema, user cue.Value, path []any, loose bool, out *[]problem) {
	if !schema.Exists() {
		return
	}
	switch user.Kind() {
	case cue.StructKind:
		if op, args := schema.Expr(); op == cue.OrOp && len(args) > 1 {
			var best []problem
			found := false
			for _, alt := range args {
				if alt.IncompleteKind()&cue.StructKind == 0 {
					continue
				}
				var p []problem
				unknownFields(alt, user, path, true, &p)
				if !found || len(p) < len(best) {
					best, found = p, true
				}
			}
			*out = append(*out, best...)
			return
		}
		if schema.IncompleteKind()&cue.StructKind == 0 {
			return // a type conflict, reported by unification
		}
		it, err := user.Fields()
		if err != nil {
			return
		}
		for it.Next() {
			name := it.Selector().Unquoted()
			p := appendPath(path, name)
			if !allows(schema, name, loose) {
				allowed := fieldNames(schema)
				msg := fmt.Sprintf("unknown field %q", name)
				if len(allowed) > 0 {
					msg += " (allowed: " + strings.Join(allowed, ", ") + ")"
				} else {
					msg += " (no fields are allowed here)"
				}
				*out = append(*out, problem{Path: p, Message: msg})
				continue
			}
			unknownFields(fieldSchema(schema, name), it.Value(), p, loose, out)
		}
	case cue.ListKind:
		if schema.IncompleteKind()&cue.ListKind == 0 {
			return
		}
		it, err := user.List()
		if err != nil {
			return
		}
		for i := 0; it.Next(); i++ {
			elem := schema.LookupPath(cue.MakePath(cue.Index(i)))
			if !elem.Exists() {
				elem = schema.LookupPath(cue.MakePath(cue.AnyIndex))
			}
			unknownFields(elem, it.Value(), appendPath(path, i), loose, out)
		}
	}
}

func appendPath(path []any, elem any) []any {
	p := make([]any, len(path), len(path)+1)
	copy(p, path)
	return append(p, elem)
}

// lookupField finds the declared field name: a regular, optional or required one.
func lookupField(schema cue.Value, name string) cue.Value {
	sel := cue.Str(name)
	for _, s := range []cue.Selector{sel, sel.Optional(), sel.Required()} {
		if v := schema.LookupPath(cue.MakePath(s)); v.Exists() {
			return v
		}
	}
	return cue.Value{}
}

// fieldSchema is the schema of field name: the declared field, or else the value of a
// pattern constraint. A zero Value means unconstrained.
func fieldSchema(schema cue.Value, name string) cue.Value {
	if v := lookupField(schema, name); v.Exists() {
		return v
	}
	return schema.LookupPath(cue.MakePath(cue.AnyString))
}

// fieldNames lists the fields a struct declares (optional and required ones too).
func fieldNames(v cue.Value) []string {
	var names []string
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return nil
	}
	for it.Next() {
		names = append(names, it.Selector().Unquoted())
	}
	return names
}

// parameterProblems turns CUE's errors about the parameter into problems with paths relative
// to parameter (root is the first path element CUE reports: the closed definition or
// "parameter"). An empty disjunction's sub-errors are folded into one message per path.
func parameterProblems(err error, user cue.Value, root string) []problem {
	if err == nil {
		return nil
	}
	type group struct {
		path    []any
		key     string
		head    string
		details []string
		line    *int
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, e := range errors.Errors(err) {
		segs := e.Path()
		if len(segs) > 0 && segs[0] == root {
			segs = segs[1:]
		}
		path := userPath(segs, user)
		key := fmt.Sprint(path)
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		switch {
		case msg == "field not allowed" && len(path) > 0:
			msg = fmt.Sprintf("unknown field %q", fmt.Sprint(path[len(path)-1]))
		case strings.HasPrefix(msg, "incomplete value") || msg == "field is required but not present":
			if len(path) > 0 {
				msg = fmt.Sprintf("missing required field %q (%s)", fmt.Sprint(path[len(path)-1]), msg)
			}
		}
		g := byKey[key]
		if g == nil {
			g = &group{path: path, key: key}
			byKey[key] = g
			groups = append(groups, g)
		}
		if g.line == nil {
			g.line = templateLine(e)
		}
		if strings.HasSuffix(msg, "errors in empty disjunction:") {
			g.head = msg
		} else if !slices.Contains(g.details, msg) {
			g.details = append(g.details, msg)
		}
	}
	var out []problem
	for _, g := range groups {
		msg := strings.Join(g.details, "; ")
		if g.head != "" {
			msg = strings.TrimSpace(g.head + " " + msg)
		}
		out = append(out, problem{Path: g.path, Message: msg, Line: g.line})
		if len(out) == maxErrors {
			break
		}
	}
	return out
}

// userPath converts CUE's path strings into JSON path elements: list indices become ints
// (where the user's value is a list there), quoted labels are unquoted.
func userPath(segs []string, user cue.Value) []any {
	path := []any{}
	cur := user
	for _, s := range segs {
		if cur.Exists() && cur.Kind() == cue.ListKind {
			if i, err := strconv.Atoi(s); err == nil {
				path = append(path, i)
				cur = cur.LookupPath(cue.MakePath(cue.Index(i)))
				continue
			}
		}
		if strings.HasPrefix(s, `"`) {
			if u, err := strconv.Unquote(s); err == nil {
				s = u
			}
		}
		path = append(path, s)
		if cur.Exists() {
			cur = cur.LookupPath(cue.MakePath(cue.Str(s)))
		}
	}
	return path
}

// templateLine is the first position of the error inside the template, if any.
func templateLine(e errors.Error) *int {
	positions := append([]token.Pos{e.Position()}, e.InputPositions()...)
	var lines []int
	for _, p := range positions {
		if p.IsValid() && p.Filename() == templateFile {
			lines = append(lines, p.Line())
		}
	}
	if len(lines) == 0 {
		return nil
	}
	if e.Position().IsValid() && e.Position().Filename() == templateFile {
		l := e.Position().Line()
		return &l
	}
	sort.Ints(lines)
	return &lines[0]
}

// templateProblems reports errors of the template's evaluation: CUE's text, with the
// positions (file:line:column) it gives, and the first line inside the template.
func templateProblems(err error) []problem {
	var out []problem
	for _, e := range errors.Errors(err) {
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		if p := e.Path(); len(p) > 0 {
			msg = strings.Join(p, ".") + ": " + msg
		}
		var pos []string
		seen := map[string]bool{}
		for _, p := range append([]token.Pos{e.Position()}, e.InputPositions()...) {
			if !p.IsValid() {
				continue
			}
			s := fmt.Sprintf("%s:%d:%d", p.Filename(), p.Line(), p.Column())
			if !seen[s] {
				seen[s] = true
				pos = append(pos, s)
			}
		}
		if len(pos) > 0 {
			msg += " (" + strings.Join(pos, ", ") + ")"
		}
		out = append(out, problem{Path: []any{}, Message: msg, Line: templateLine(e)})
		if len(out) == maxErrors {
			break
		}
	}
	if len(out) == 0 {
		out = append(out, problem{Path: []any{}, Message: err.Error()})
	}
	return out
}

// directive is one field of the patch carrying `// +patchKey=` or `// +patchStrategy=`.
type directive struct {
	Path          []any  `json:"path"`
	PatchKey      string `json:"patchKey,omitempty"`
	PatchStrategy string `json:"patchStrategy,omitempty"`
}

// collectDirectives walks the evaluated patch, reading each field's doc comments. CUE keeps
// a comment above `a: b: c: x` for the innermost field c, as its exporter does.
func collectDirectives(v cue.Value, path []any, out *[]directive) {
	switch v.IncompleteKind() {
	case cue.StructKind:
		it, err := v.Fields()
		if err != nil {
			return
		}
		for it.Next() {
			p := appendPath(path, it.Selector().Unquoted())
			fv := it.Value()
			if d, ok := readDirective(fv, p); ok {
				*out = append(*out, d)
			}
			collectDirectives(fv, p, out)
		}
	case cue.ListKind:
		it, err := v.List()
		if err != nil {
			return
		}
		for i := 0; it.Next(); i++ {
			collectDirectives(it.Value(), appendPath(path, i), out)
		}
	}
}

// readDirective reads the `+patchKey=` and `+patchStrategy=` lines of a field's doc comments.
func readDirective(fv cue.Value, p []any) (directive, bool) {
	d := directive{Path: p}
	for _, cg := range fv.Doc() {
		for _, line := range strings.Split(cg.Text(), "\n") {
			line = strings.TrimSpace(line)
			if k, ok := strings.CutPrefix(line, "+patchKey="); ok {
				d.PatchKey = strings.TrimSpace(k)
			} else if k, ok := strings.CutPrefix(line, "+patchStrategy="); ok {
				d.PatchStrategy = strings.TrimSpace(k)
			}
		}
	}
	return d, d.PatchKey != "" || d.PatchStrategy != ""
}
