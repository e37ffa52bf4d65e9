package mail

import (
	"math"
	"sync"
	"time"
)

// limiter is a token bucket per sender: each sender may send burst
// messages at once and rate a second after that. It is in memory: a
// restart forgives everyone, which for an abuse limit is harmless.
type limiter struct {
	rate  float64 // tokens added per second
	burst float64 // bucket size

	// mu guards buckets and sweepAt.
	mu      sync.Mutex
	buckets map[string]*bucket
	// sweepAt is the map size at which idle buckets are next dropped, so
	// the map holds only senders that sent recently.
	sweepAt int
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

const minSweep = 1024

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), buckets: map[string]*bucket{}, sweepAt: minSweep}
}

// take takes a token for key at now. It returns 0 when the message may be
// sent, else how long until a token is available.
func (l *limiter) take(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.sweepAt {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	wait := time.Duration(math.Ceil((1 - b.tokens) / l.rate * float64(time.Second)))
	return max(wait, time.Millisecond)
}

func (l *limiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.at).Seconds(); el > 0 {
		b.tokens = math.Min(l.burst, b.tokens+el*l.rate)
		b.at = now
	}
}

// sweep drops the buckets that have refilled: a new bucket starts full,
// so dropping them changes nothing. l.mu is held.
func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
	l.sweepAt = max(minSweep, 2*len(l.buckets))
}
