// Package faults makes the emulated tenants misbehave on demand: answer a
// path slowly, with an error status, an HTML page or broken JSON, for a
// number of calls.
package faults

import (
	"net/http"
	"sync"
	"time"
)

// Fault is how a path misbehaves.
type Fault struct {
	// Status is the HTTP status to answer with; 0 answers normally after
	// Delay.
	Status int
	// Body and ContentType are the answer (default content type text/html).
	Body        string
	ContentType string
	// Header holds further response headers (Retry-After on a 429).
	Header map[string]string
	// Delay is waited before answering or failing.
	Delay time.Duration
	// Times is how many calls the fault applies to; 0 means every call.
	Times int
}

// Set holds faults by path; the zero value is ready to use.
type Set struct {
	mu sync.Mutex
	m  map[string][]*Fault
}

// Add queues f for path.
func (s *Set) Add(path string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]*Fault{}
	}
	s.m[path] = append(s.m[path], &f)
}

// Clear removes every fault.
func (s *Set) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = nil
}

func (s *Set) next(path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs := s.m[path]
	if len(fs) == 0 {
		return nil
	}
	f := *fs[0]
	if fs[0].Times > 0 {
		fs[0].Times--
		if fs[0].Times == 0 {
			s.m[path] = fs[1:]
		}
	}
	return &f
}

// Serve applies the next fault for path: it waits the fault's delay
// (dropping the connection if the client gives up meanwhile) and, when the
// fault has a status, answers with it. It reports whether it answered.
func (s *Set) Serve(w http.ResponseWriter, r *http.Request, path string) bool {
	f := s.next(path)
	if f == nil {
		return false
	}
	if f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			// The client gave up: close the connection without an answer.
			panic(http.ErrAbortHandler)
		}
	}
	if f.Status == 0 {
		return false
	}
	ct := f.ContentType
	if ct == "" {
		ct = "text/html"
	}
	w.Header().Set("Content-Type", ct)
	for k, v := range f.Header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(f.Status)
	_, _ = w.Write([]byte(f.Body))
	return true
}
