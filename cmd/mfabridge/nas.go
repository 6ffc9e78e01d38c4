package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"github.com/mfabridge/mfabridge/internal/msgauth"
)

// Exit codes of `mfabridge test`.
const (
	testAccepted = 0
	testRejected = 1
	testUsage    = 2
	testNoAnswer = 3
)

// terminal reads the user's answers: without echo from a terminal when the
// server asks for it, line by line otherwise.
type terminal struct {
	in  *bufio.Reader
	fd  int
	tty bool
	out io.Writer
}

func (t *terminal) read(prompt string, echo bool) (string, error) {
	fmt.Fprint(t.out, prompt)
	if t.tty && !echo {
		b, err := term.ReadPassword(t.fd)
		fmt.Fprintln(t.out)
		return string(b), err
	}
	line, err := t.in.ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// runTest is `mfabridge test`: it acts like a NAS, sending an Access-Request
// to a running mfabridge and answering each Access-Challenge from the
// terminal.
func runTest(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "127.0.0.1:1812", "mfabridge's address (host:port)")
	secret := fs.String("secret", "", "the shared secret of this host's [[client]] entry")
	secretFile := fs.String("secret-file", "", "read the shared secret from this file")
	user := fs.String("user", "", "the user name (asked when not given)")
	password := fs.String("password", "", "the password (asked without echo when not given)")
	nasID := fs.String("nas-id", "mfabridge-test", "the NAS-Identifier to send")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for each answer (a held push takes a while)")
	retry := fs.Duration("retry", 5*time.Second, "resend an unanswered request after this long, as a NAS does")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: mfabridge test [flags]

Acts like a NAS: sends an Access-Request (PAP, with Message-Authenticator)
to a running mfabridge, shows each prompt, reads the answer, and prints the
result. Exit status: 0 accepted, 1 rejected, 3 no answer.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return testUsage
	}
	if *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			fmt.Fprintf(stderr, "mfabridge test: %v\n", err)
			return testUsage
		}
		*secret = strings.TrimRight(string(b), "\r\n")
	}
	if *secret == "" {
		fmt.Fprintln(stderr, "mfabridge test: give the shared secret with --secret or --secret-file")
		return testUsage
	}
	t := &terminal{in: bufio.NewReader(stdin), out: stdout}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		t.fd, t.tty = int(f.Fd()), true
	}
	var err error
	if *user == "" {
		if *user, err = t.read("User: ", true); err != nil {
			fmt.Fprintf(stderr, "mfabridge test: %v\n", err)
			return testUsage
		}
	}
	answer := *password
	if answer == "" {
		if answer, err = t.read("Password: ", false); err != nil {
			fmt.Fprintf(stderr, "mfabridge test: %v\n", err)
			return testUsage
		}
	}
	conn, err := net.Dial("udp", *server)
	if err != nil {
		fmt.Fprintf(stderr, "mfabridge test: %v\n", err)
		return testUsage
	}
	defer conn.Close()

	var state []byte
	for round := 1; ; round++ {
		req := radius.New(radius.CodeAccessRequest, []byte(*secret))
		_ = rfc2865.UserName_SetString(req, *user)
		if err := rfc2865.UserPassword_SetString(req, answer); err != nil {
			fmt.Fprintf(stderr, "mfabridge test: %v\n", err)
			return testUsage
		}
		_ = rfc2865.NASIdentifier_SetString(req, *nasID)
		if state != nil {
			_ = rfc2865.State_Set(req, state)
		}
		began := time.Now()
		reply, err := exchange(ctx, conn, req, *timeout, *retry)
		if err != nil {
			fmt.Fprintf(stdout, "No answer from %s after %v: %v.\nIs mfabridge running there, is this host's address a [[client]] in its radius.conf, and is the secret the same? Its log says why it dropped a packet.\n", *server, *timeout, err)
			return testNoAnswer
		}
		msg := strings.Join(replyMessages(reply), "")
		took := time.Since(began).Round(time.Millisecond)
		switch reply.Code {
		case radius.CodeAccessAccept:
			fmt.Fprintf(stdout, "Access-Accept (%v)", took)
			if msg != "" {
				fmt.Fprintf(stdout, ": %s", msg)
			}
			fmt.Fprintln(stdout)
			return testAccepted
		case radius.CodeAccessReject:
			fmt.Fprintf(stdout, "Access-Reject (%v)", took)
			if msg != "" {
				fmt.Fprintf(stdout, ": %s", msg)
			}
			fmt.Fprintln(stdout)
			return testRejected
		case radius.CodeAccessChallenge:
			state = rfc2865.State_Get(reply)
			echo := true
			if p, err := rfc2869.Prompt_Lookup(reply); err == nil && p == rfc2869.Prompt_Value_NoEcho {
				echo = false
			}
			fmt.Fprintf(stdout, "Access-Challenge (%v):\n", took)
			if answer, err = t.read(msg+" ", echo); err != nil {
				fmt.Fprintf(stderr, "mfabridge test: no answer typed: %v\n", err)
				return testUsage
			}
		default:
			fmt.Fprintf(stdout, "Unexpected %v\n", reply.Code)
			return testRejected
		}
	}
}

func replyMessages(p *radius.Packet) []string {
	var out []string
	for _, a := range p.Attributes {
		if a.Type == rfc2865.ReplyMessage_Type {
			out = append(out, string(a.Attribute))
		}
	}
	return out
}

// exchange sends req and waits for its answer, resending the same packet
// every retry as a NAS does, and checks the answer's authenticators.
func exchange(ctx context.Context, conn net.Conn, req *radius.Packet, timeout, retry time.Duration) (*radius.Packet, error) {
	var id [1]byte
	_, _ = rand.Read(id[:])
	req.Identifier = id[0]
	wire, err := msgauth.Encode(req)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	buf := make([]byte, radius.MaxPacketLength)
	for next := time.Now(); ; {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !time.Now().Before(next) {
			if _, err := conn.Write(wire); err != nil {
				return nil, err
			}
			next = time.Now().Add(retry)
		}
		wait := next
		if deadline.Before(wait) {
			wait = deadline
		}
		_ = conn.SetReadDeadline(wait)
		n, err := conn.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if !time.Now().Before(deadline) {
					return nil, errors.New("timed out")
				}
				continue
			}
			return nil, err
		}
		resp := buf[:n]
		if n < 20 || resp[1] != req.Identifier {
			continue
		}
		if !msgauth.VerifyResponse(resp, req.Authenticator, req.Secret) {
			return nil, errors.New("the answer does not verify with this secret (wrong secret, or no Message-Authenticator)")
		}
		return radius.Parse(resp, req.Secret)
	}
}
