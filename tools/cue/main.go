// Command oam-cue evaluates KubeVela-style CUE definition templates with the CUE evaluator
// (cuelang.org/go). One process handles many jobs:
//
//	stdin:  {"jobs": [{"id": "...", "op": "eval"|"describe", "template": "...",
//	                   "parameter": {...}, "context": {...}}, ...]}
//	stdout: {"results": [{"id": "...", ...}, ...]}  (same order as the jobs)
//
// eval answers {"output", "outputs", "patch", "directives", and "patchOutputs" with its
// "outputDirectives" when the template sets it} or {"errors": [...]};
// describe answers {"parameter": NODE}, the parameter schema as a tree. The exit status is 0
// unless stdin is not readable JSON (2). With --serve, each line of stdin is one such request and
// each gets one line of results, until stdin closes.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

type job struct {
	ID        json.RawMessage `json:"id"`
	Op        string          `json:"op"`
	Template  string          `json:"template"`
	Parameter json.RawMessage `json:"parameter"`
	Context   json.RawMessage `json:"context"`
}

type request struct {
	Jobs []job `json:"jobs"`
}

// problem is one entry of a result's "errors" list.
type problem struct {
	Path    []any  `json:"path"`
	Message string `json:"message"`
	Line    *int   `json:"line,omitempty"`
}

type errorResult struct {
	ID     json.RawMessage `json:"id"`
	Errors []problem       `json:"errors"`
}

type evalResult struct {
	ID         json.RawMessage `json:"id"`
	Output     json.RawMessage `json:"output"`
	Outputs    json.RawMessage `json:"outputs"`
	Patch      json.RawMessage `json:"patch"`
	Directives []directive     `json:"directives"`
	// patchOutputs: name -> the patch of the output of that name, with its own directives.
	PatchOutputs     json.RawMessage        `json:"patchOutputs,omitempty"`
	OutputDirectives map[string][]directive `json:"outputDirectives,omitempty"`
}

type describeResult struct {
	ID        json.RawMessage `json:"id"`
	Parameter *node           `json:"parameter"`
}

func main() {
	s := newSession()
	if len(os.Args) > 1 && os.Args[1] == "--serve" {
		serve(s)
		return
	}
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "oam-cue: reading stdin: %v\n", err)
		os.Exit(2)
	}
	var req request
	if err := json.Unmarshal(data, &req); err != nil {
		fmt.Fprintf(os.Stderr, "oam-cue: stdin is not a {\"jobs\": [...]} JSON document: %v\n", err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	if err := answer(s, req, w); err != nil {
		fmt.Fprintf(os.Stderr, "oam-cue: writing results: %v\n", err)
		os.Exit(1)
	}
}

// serve answers one request per line of stdin, one line of results each, until stdin closes: a
// caller with many requests over time (one program run) starts the evaluator once, and compiled
// templates are kept between requests.
func serve(s *session) {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	w := bufio.NewWriter(os.Stdout)
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			var req request
			if jerr := json.Unmarshal(line, &req); jerr != nil {
				fmt.Fprintf(os.Stderr, "oam-cue: a line of stdin is not a {\"jobs\": [...]} JSON document: %v\n", jerr)
				os.Exit(2)
			}
			if werr := answer(s, req, w); werr != nil {
				fmt.Fprintf(os.Stderr, "oam-cue: writing results: %v\n", werr)
				os.Exit(1)
			}
		}
		if err != nil {
			return // io.EOF: the caller is done
		}
	}
}

// answer runs the request's jobs and writes their results as one line of JSON.
func answer(s *session, req request, w *bufio.Writer) error {
	results := make([]any, 0, len(req.Jobs))
	for _, j := range req.Jobs {
		results = append(results, s.run(j))
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]any{"results": results}); err != nil {
		return err
	}
	return w.Flush()
}

// run answers one job; a panic inside CUE becomes an error result for that job only.
func (s *session) run(j job) (res any) {
	id := j.ID
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "oam-cue: job %s: panic: %v\n%s", id, r, debug.Stack())
			res = errorResult{ID: id, Errors: []problem{{Path: []any{}, Message: fmt.Sprintf("internal error while evaluating the template: %v", r)}}}
		}
	}()
	var errs []problem
	switch j.Op {
	case "eval":
		var ok *evalResult
		ok, errs = s.eval(j)
		if errs == nil {
			ok.ID = id
			return ok
		}
	case "describe":
		var n *node
		n, errs = s.describe(j)
		if errs == nil {
			return describeResult{ID: id, Parameter: n}
		}
	default:
		errs = []problem{{Path: []any{}, Message: fmt.Sprintf("unknown op %q (want \"eval\" or \"describe\")", j.Op)}}
	}
	return errorResult{ID: id, Errors: errs}
}
