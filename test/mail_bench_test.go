package test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/selfhub/hub"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	usersclient "github.com/selfhub/hub/client/users"
	"github.com/selfhub/hub/daemon"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/test/testhub"
)

// benchMailWorld is mailWorld for benchmarks: a hub whose per-sender rate
// limit is out of the way (the benchmarks measure the hub, not the limit),
// and n users of one app, each with a mailbox.
func benchMailWorld(b *testing.B, n int) (*testhub.Hub, *usersclient.Client, []mailUser) {
	b.Helper()
	h := testhub.Start(b, func(c *daemon.Config) { c.MailRate, c.MailBurst, c.MaxNewIDs = 1_000_000, 1_000_000, 1_000_000 })
	hc := hubclient.New(h.Conn)
	dev, _ := signup(b, hc, "benchdev")
	key, err := hc.CreateKey(dev, hub.UserKey, true)
	if err != nil {
		b.Fatal(err)
	}
	tc := threadsclient.New(h.Conn)
	uc := usersclient.New(h.Conn)
	users := make([]mailUser, n)
	for i := range users {
		ctx, priv := testhub.NewUser(b, tc, key)
		pub, _ := identity.String(priv.GetPublic())
		users[i] = mailUser{priv: priv, pub: pub, ctx: ctx}
		if _, err := uc.SetupMailbox(users[i].ctx); err != nil {
			b.Fatal(err)
		}
	}
	return h, uc, users
}

// BenchmarkMailSendToWatch: one message, from the sender's SendMessage call
// until the recipient's watch (a Listen on the inbox) delivers it, over
// loopback gRPC. Reports the median and 99th percentile.
func BenchmarkMailSendToWatch(b *testing.B) {
	h, uc, us := benchMailWorld(b, 2)
	alice, bob := us[0], us[1]
	box, err := uc.SetupMailbox(bob.ctx)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bob.ctx)
	defer cancel()
	arrived := make(chan string, 1024)
	go threadsclient.New(h.Conn).Listen(ctx, box, []threadsclient.ListenFilter{{Collection: "inbox", Action: threadsclient.ActionCreate}}, 0,
		func(ev threadsclient.ListenEvent) error {
			arrived <- ev.InstanceID
			return nil
		})
	send := func() string {
		m, err := usersclient.Send(alice.ctx, uc, alice.priv, bob.priv.GetPublic(), []byte("ping"))
		if err != nil {
			b.Fatal(err)
		}
		return m.ID
	}
	// Place the watcher: send until one message arrives, then drain.
	for placed := false; !placed; {
		send()
		select {
		case <-arrived:
			placed = true
		case <-time.After(200 * time.Millisecond):
		}
	}
	for drained := false; !drained; {
		select {
		case <-arrived:
		case <-time.After(100 * time.Millisecond):
			drained = true
		}
	}
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		id := send()
		for got := <-arrived; got != id; got = <-arrived {
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkMailSendParallel: the sustained send rate of 50 senders (each
// its own identity, each with one call in flight), to one shared inbox and
// to 50 different inboxes. Reports messages per second.
func BenchmarkMailSendParallel(b *testing.B) {
	const senders = 50
	_, uc, us := benchMailWorld(b, 2*senders)
	from, to := us[:senders], us[senders:]
	run := func(b *testing.B, recipient func(i int) mailUser) {
		var next atomic.Int64
		var wg sync.WaitGroup
		b.ResetTimer()
		for i := range senders {
			wg.Go(func() {
				s, r := from[i], recipient(i)
				for next.Add(1) <= int64(b.N) {
					if _, err := usersclient.Send(s.ctx, uc, s.priv, r.priv.GetPublic(), []byte("hello")); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	}
	b.Run("one-inbox", func(b *testing.B) { run(b, func(int) mailUser { return to[0] }) })
	b.Run("50-inboxes", func(b *testing.B) { run(b, func(i int) mailUser { return to[i] }) })
}

// BenchmarkMailListPages: one page of 100 from a 10,000-message inbox, the
// pages taken in turn (each seeking past the last), newest first (the
// default) and oldest first.
func BenchmarkMailListPages(b *testing.B) {
	const (
		size     = 10000
		page     = 100
		fillers  = 20
		perFill  = size / fillers
		fillBody = "a message of about the size people send"
	)
	_, uc, us := benchMailWorld(b, fillers+1)
	bob, senders := us[0], us[1:]
	var wg sync.WaitGroup
	for _, s := range senders {
		wg.Go(func() {
			for range perFill {
				if _, err := usersclient.Send(s.ctx, uc, s.priv, bob.priv.GetPublic(), []byte(fillBody)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	for _, asc := range []bool{false, true} {
		name := "newest-first"
		if asc {
			name = "oldest-first"
		}
		b.Run(name, func(b *testing.B) {
			opts := usersclient.ListOptions{Limit: page, Ascending: asc}
			pages := 0
			for b.Loop() {
				ms, err := uc.ListInboxMessages(bob.ctx, opts)
				if err != nil {
					b.Fatal(err)
				}
				if len(ms) == 0 || len(ms) < page {
					opts.Seek = "" // the end: start again
				} else {
					opts.Seek = ms[len(ms)-1].ID
				}
				pages++
			}
			if pages < size/page {
				b.Logf("%d pages: fewer than the %d in the inbox; run longer to average over all of them", pages, size/page)
			}
		})
	}
}
