package upstream

import (
	"context"
	"math/rand/v2"
	"time"
)

// Retry runs try, and again while it asks to and retries are left (1 +
// retries calls at most), waiting backoff before the second call and twice
// as long before each further one, each wait lengthened by up to half at
// random so that instances do not retry in step. It returns try's last
// error, or the context's error (wrapping nothing of try's) when ctx ends
// during a wait. The HTTP providers share it: which calls are safe to
// repeat and which answers are worth repeating is theirs to say.
func Retry(ctx context.Context, retries int, backoff time.Duration, try func(attempt int) (again bool, err error)) error {
	for attempt := 0; ; attempt++ {
		again, err := try(attempt)
		if err == nil || !again || attempt >= retries || ctx.Err() != nil {
			return err
		}
		wait := backoff << attempt
		wait += time.Duration(rand.Int64N(int64(wait)/2 + 1))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return &Interrupted{Ctx: ctx.Err(), Last: err}
		case <-t.C:
		}
	}
}

// Interrupted is Retry's error when the context ended while it waited to
// try again.
type Interrupted struct {
	Ctx  error // the context's error
	Last error // the last try's error
}

func (e *Interrupted) Error() string { return e.Ctx.Error() + " (after " + e.Last.Error() + ")" }

// Unwrap returns the context's error.
func (e *Interrupted) Unwrap() error { return e.Ctx }
