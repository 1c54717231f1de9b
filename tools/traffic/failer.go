package main

import (
	"fmt"
	"os"
	"sync"
)

// failer is the test.Failer that Istio's in-memory discovery server wants. Those
// helpers only call Fatal when Istio's own machinery breaks (not for bad input, which
// we reject before), so failing means: say why on stderr and exit 2. Cleanups run in
// reverse order when a state is done, which stops the server's goroutines.
type failer struct {
	mu       sync.Mutex
	cleanups []func()
	verbose  bool
}

func (f *failer) Fatal(args ...any) {
	fmt.Fprintf(os.Stderr, "oam-traffic: istio: %s\n", fmt.Sprint(args...))
	os.Exit(2)
}

func (f *failer) Fatalf(format string, args ...any) { f.Fatal(fmt.Sprintf(format, args...)) }
func (f *failer) Fail()                             { f.Fatal("failed") }
func (f *failer) FailNow()                          { f.Fatal("failed") }
func (f *failer) Skip(args ...any)                  { f.Fatal(args...) }
func (f *failer) Helper()                           {}

func (f *failer) Log(args ...any) {
	if f.verbose {
		fmt.Fprintln(os.Stderr, args...)
	}
}

func (f *failer) Logf(format string, args ...any) { f.Log(fmt.Sprintf(format, args...)) }

func (f *failer) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

func (f *failer) TempDir() string {
	dir, err := os.MkdirTemp("", "oam-traffic-")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// done runs the registered cleanups, last first.
func (f *failer) done() {
	f.mu.Lock()
	fns := f.cleanups
	f.cleanups = nil
	f.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}
