package replicate

import (
	"bufio"
	"context"
	"fmt"
	"io"
)

// readRecordFrame reads a record frame of at most MaxFrame bytes from a
// peer within the hub-wide MaxMemory: it takes the frame's size from it
// first, waiting while ctx lasts for room, so that memory is bounded
// however many peers and streams send frames at once. The caller calls
// release once done with the frame (an empty frame holds nothing, and
// needs no release).
func (s *Service) readRecordFrame(ctx context.Context, r *bufio.Reader) (frame []byte, release func(), err error) {
	n, err := readFrameLen(r, s.cfg.MaxFrame)
	if err != nil {
		return nil, nil, err
	}
	if err := s.frames.Acquire(ctx, int64(n)); err != nil {
		return nil, nil, fmt.Errorf("no room to read a frame of %d bytes before the stream's deadline: %w", n, err)
	}
	release = func() { s.frames.Release(int64(n)) }
	frame = make([]byte, n)
	if _, err := io.ReadFull(r, frame); err != nil {
		release()
		return nil, nil, err
	}
	return frame, release, nil
}
