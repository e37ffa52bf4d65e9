package server

import (
	"context"
	"time"

	"github.com/selfhub/hub/errors"
)

// DefaultUploadIdleTimeout is how long an upload stream (PushPath,
// PushPaths, ImportCar) may deliver nothing before hubd ends it: far
// longer than any pause of a client that is still sending, short enough
// that a stalled one does not hold a stream, its buffers and its hold on
// garbage collection for long.
const DefaultUploadIdleTimeout = time.Minute

// idleLimited wraps recv, the Recv of the client stream of the upload
// call, so that a receive that waits more than idle for the next message
// fails with DeadlineExceeded, and so does every receive after it. The
// handler then returns, which ends the stream; the upload's blocks, never
// linked, are garbage. Only time spent waiting for the client counts:
// the time the hub spends on what it received does not. A receive also
// ends when ctx, the handler's context, does (an org's access revoked),
// with ctx's cause.
//
// The stream cannot be interrupted in the middle of a receive, so each
// receive runs in a goroutine of its own; after a stall that goroutine
// ends when the handler has returned and gRPC closes the stream.
func idleLimited[M any](ctx context.Context, call string, idle time.Duration, recv func() (M, error)) func() (M, error) {
	type result struct {
		msg M
		err error
	}
	var ended error // set when a receive was abandoned; only the handler's goroutine receives
	return func() (M, error) {
		var zero M
		if ended != nil {
			return zero, ended
		}
		got := make(chan result, 1)
		go func() {
			msg, err := recv()
			got <- result{msg, err}
		}()
		t := time.NewTimer(idle)
		defer t.Stop()
		select {
		case r := <-got:
			return r.msg, r.err
		case <-ctx.Done():
			ended = context.Cause(ctx)
		case <-t.C:
			ended = errors.Errorf("", errors.DeadlineExceeded,
				"%s stalled: the client sent nothing for %s, so hubd ended the upload; nothing was committed and the bucket is unchanged; send the data again without pausing", call, idle)
		}
		return zero, ended
	}
}
