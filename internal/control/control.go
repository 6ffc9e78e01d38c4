// Package control is mfabridge's runtime control: a Unix socket that only
// root and the service's group may use (mode 0660), on which `mfabridge
// ctl` asks the running daemon what it holds and changes what needs no
// restart. A request is one JSON object on one line; the answer is one JSON
// object (or, for a trace, one a line until the client goes away).
//
// Nothing a request or an answer carries is a password, code, token or
// secret: the daemon never hands them out.
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Request is a command to the daemon.
type Request struct {
	Cmd  string   `json:"cmd"`
	Args []string `json:"args,omitempty"`
}

// Response is the daemon's answer: Data on success, Error otherwise.
type Response struct {
	Error string          `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// Handler answers a command. Stream, when set, makes the answer a stream:
// the handler writes lines to w until ctx ends (the client went away).
type Handler func(ctx context.Context, req Request, w io.Writer) (data any, err error)

// Serve listens on the socket at path until ctx ends. The socket is made
// with mode 0660: root and the service's group.
func Serve(ctx context.Context, path string, h Handler) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	_ = os.Remove(path) // a socket left by a process that died
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return err
	}
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	defer os.Remove(path)
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go handle(ctx, c, h)
	}
}

func handle(ctx context.Context, c net.Conn, h Handler) {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(c, 1<<16)).ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	var req Request
	enc := json.NewEncoder(c)
	if err := json.Unmarshal(line, &req); err != nil {
		_ = enc.Encode(Response{Error: "the request is not a JSON object on one line"})
		return
	}
	// The request ends when the client closes its side.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, c)
		cancel()
	}()
	data, err := h(rctx, req, c)
	resp := Response{}
	if err != nil {
		resp.Error = err.Error()
	} else if data != nil {
		b, merr := json.Marshal(data)
		if merr != nil {
			resp.Error = merr.Error()
		}
		resp.Data = b
	}
	_ = enc.Encode(resp)
}

// Do sends req to the daemon at path and returns its answer's data.
func Do(path string, req Request) (json.RawMessage, error) {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the daemon's control socket %s: %w (is mfabridge running, and are you root or in its group?)", path, err)
	}
	defer c.Close()
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return nil, err
	}
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return nil, fmt.Errorf("no answer from the daemon: %w", err)
	}
	if resp.Error != "" {
		return nil, errors.New(resp.Error)
	}
	return resp.Data, nil
}

// Stream sends req and copies the daemon's lines to out until ctx ends or
// the daemon closes.
func Stream(ctx context.Context, path string, req Request, out io.Writer) error {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return fmt.Errorf("cannot reach the daemon's control socket %s: %w (is mfabridge running, and are you root or in its group?)", path, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return err
	}
	_, err = io.Copy(out, c)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
