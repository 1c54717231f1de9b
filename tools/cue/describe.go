package main

import (
	"bytes"
	"encoding/json"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
)

// node describes one value of the parameter schema.
type node struct {
	Type   string            `json:"type"`
	Fields *fieldList        `json:"fields,omitempty"`
	Open   *bool             `json:"open,omitempty"`
	Values *node             `json:"values,omitempty"`
	Items  *node             `json:"items,omitempty"`
	Enum   []json.RawMessage `json:"enum,omitempty"`
	AnyOf  []*node           `json:"anyOf,omitempty"`
}

type field struct {
	Node     *node           `json:"node"`
	Optional bool            `json:"optional"`
	Default  json.RawMessage `json:"default,omitempty"`
	Doc      string          `json:"doc"`
}

// fieldList marshals as a JSON object in declaration order.
type fieldList struct {
	names  []string
	fields []*field
}

func (l *fieldList) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, name := range l.names {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(name)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(l.fields[i])
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

const maxDepth = 32

// probeLabel is a field name no schema declares: a struct that allows it is open.
const probeLabel = "oam-cue probe: any other key"

func (s *session) describe(j job) (*node, []problem) {
	c := s.compile(j.Template)
	if c.err != nil {
		return nil, templateProblems(c.err)
	}
	closed := c.val.LookupPath(closedPath)
	if err := closed.Validate(); err != nil {
		return nil, templateProblems(err)
	}
	return describeValue(closed, 0, false), nil
}

// describeValue describes v. loose says that v was taken apart with Value.Expr (the
// alternatives of a disjunction), which loses the closedness the closed definition gave it.
func describeValue(v cue.Value, depth int, loose bool) *node {
	if depth > maxDepth || !v.Exists() {
		return &node{Type: "any"}
	}
	k := v.IncompleteKind()
	op, args := v.Expr()
	if op == cue.OrOp && len(args) > 1 {
		return describeDisjunction(args, depth)
	}
	if op == cue.NoOp && len(args) == 1 && k == cue.ListKind {
		// Expr drops a default that another alternative subsumes: *["a"] | [...string]
		// gives [...string], whose element type is the one to describe.
		v, loose = args[0], true
	}
	switch {
	case k == cue.StructKind:
		return describeStruct(v, depth, loose)
	case k == cue.ListKind:
		n := &node{Type: "array"}
		if items := v.LookupPath(cue.MakePath(cue.AnyIndex)); items.Exists() {
			n.Items = describeValue(items, depth+1, loose)
		} else if it, err := v.List(); err == nil {
			// a closed list such as [string, int]: describe its first element
			if it.Next() {
				n.Items = describeValue(it.Value(), depth+1, loose)
			}
		}
		return n
	}
	if t := scalarType(k); t != "" {
		n := &node{Type: t}
		if v.IsConcrete() {
			if b, err := v.MarshalJSON(); err == nil {
				n.Enum = []json.RawMessage{b}
			}
		}
		return n
	}
	// several kinds (say int | string without a disjunction we can see): one node per kind
	var alts []*node
	for _, kk := range []cue.Kind{cue.NullKind, cue.BoolKind, cue.IntKind, cue.FloatKind, cue.StringKind, cue.BytesKind, cue.ListKind, cue.StructKind} {
		if k&kk != 0 {
			if kk == cue.FloatKind && k&cue.IntKind != 0 {
				alts[len(alts)-1] = &node{Type: "number"}
				continue
			}
			t := scalarType(kk)
			if kk == cue.ListKind {
				t = "array"
			} else if kk == cue.StructKind {
				t = "object"
			}
			alts = append(alts, &node{Type: t})
		}
	}
	if len(alts) == 0 || k == cue.TopKind {
		return &node{Type: "any"}
	}
	return &node{Type: "any", AnyOf: alts}
}

func scalarType(k cue.Kind) string {
	switch k {
	case cue.StringKind, cue.BytesKind:
		return "string"
	case cue.IntKind:
		return "integer"
	case cue.FloatKind, cue.NumberKind:
		return "number"
	case cue.BoolKind:
		return "boolean"
	case cue.NullKind:
		return "null"
	}
	return ""
}

// describeDisjunction: concrete scalars make an enum; anything else an anyOf.
func describeDisjunction(args []cue.Value, depth int) *node {
	enum := true
	var kinds cue.Kind
	var values []json.RawMessage
	for _, a := range args {
		k := a.Kind()
		if !a.IsConcrete() || k == cue.StructKind || k == cue.ListKind || k == cue.BottomKind {
			enum = false
			break
		}
		b, err := a.MarshalJSON()
		if err != nil {
			enum = false
			break
		}
		kinds |= k
		values = append(values, b)
	}
	if enum {
		t := scalarType(kinds)
		if t == "" {
			t = "any"
		}
		return &node{Type: t, Enum: values}
	}
	n := &node{}
	for _, a := range args {
		n.AnyOf = append(n.AnyOf, describeValue(a, depth+1, true))
	}
	n.Type = n.AnyOf[0].Type
	for _, a := range n.AnyOf[1:] {
		if a.Type != n.Type {
			n.Type = "any"
		}
	}
	return n
}

func describeStruct(v cue.Value, depth int, loose bool) *node {
	open := allows(v, probeLabel, loose)
	n := &node{Type: "object", Fields: &fieldList{}, Open: &open}
	if values := v.LookupPath(cue.MakePath(cue.AnyString)); values.Exists() && values.IncompleteKind() != cue.TopKind {
		n.Values = describeValue(values, depth+1, loose)
	}
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return n
	}
	for it.Next() {
		fv := it.Value()
		f := &field{
			Node:     describeValue(fv, depth+1, loose),
			Optional: it.IsOptional(),
			Doc:      docText(fv),
		}
		if d, ok := fv.Default(); ok && d.Validate(cue.Concrete(true)) == nil {
			// an open list [...T] has the implicit default []: only an explicit *[] counts
			if d.Kind() != cue.ListKind || hasDefaultMarker(fv) {
				if b, err := d.MarshalJSON(); err == nil {
					f.Default = b
				}
			}
		}
		n.Fields.names = append(n.Fields.names, it.Selector().Unquoted())
		n.Fields.fields = append(n.Fields.fields, f)
	}
	return n
}

// allows reports whether struct v accepts a field name. For a loose value (see
// describeValue), Allows says yes to anything unless v is itself closed, so the source is
// consulted: a declared field, a pattern constraint or `...` allow it.
func allows(v cue.Value, name string, loose bool) bool {
	if !v.Allows(cue.Str(name)) {
		return false
	}
	if !loose {
		return true
	}
	if lookupField(v, name).Exists() {
		return true
	}
	src, ok := v.Source().(*ast.StructLit)
	if !ok {
		return true // not a plain struct literal: trust Allows
	}
	for _, e := range src.Elts {
		if _, ok := e.(*ast.Ellipsis); ok {
			return true
		}
	}
	return false
}

// hasDefaultMarker reports whether the field's source has a `*default` mark.
func hasDefaultMarker(v cue.Value) bool {
	found := false
	var check func(cue.Value)
	check = func(v cue.Value) {
		if src := v.Source(); src != nil {
			ast.Walk(src, func(n ast.Node) bool {
				if u, ok := n.(*ast.UnaryExpr); ok && u.Op == token.MUL {
					found = true
				}
				return !found
			}, nil)
		}
	}
	check(v)
	if !found {
		if _, args := v.Expr(); len(args) > 1 {
			for _, a := range args {
				check(a)
			}
		}
	}
	return found
}

// docText is the field's doc comment: KubeVela's `+usage=` text when there is one, else the
// plain comment lines; other `+key=value` markers are left out.
func docText(v cue.Value) string {
	var usage, plain []string
	for _, cg := range v.Doc() {
		for _, line := range strings.Split(cg.Text(), "\n") {
			line = strings.TrimSpace(line)
			switch {
			case line == "":
			case strings.HasPrefix(line, "+usage="):
				usage = append(usage, strings.TrimSpace(strings.TrimPrefix(line, "+usage=")))
			case strings.HasPrefix(line, "+"):
			default:
				plain = append(plain, line)
			}
		}
	}
	if len(usage) > 0 {
		return strings.Join(usage, "\n")
	}
	return strings.Join(plain, "\n")
}
