package ipfsnet

import (
	"context"
	"time"

	"github.com/ipfs/boxo/ipns"
	"github.com/ipfs/boxo/path"

	"github.com/selfhub/hub/errors"
)

// loop announces due names, signs records again before they expire, and
// queues everything for a fresh announcement every reannounceEvery.
func (n *Node) loop(names Names) {
	defer close(n.done)
	retry := time.NewTicker(retryEvery)
	defer retry.Stop()
	resignEvery := min(n.cfg.Records.validity/4, time.Hour)
	// The first pass runs at once: a hub that was stopped for long has
	// records near or past their end of validity.
	nextResign, nextReannounce := time.Now(), time.Now()
	for {
		now := time.Now()
		if !now.Before(nextResign) {
			n.resign(names)
			nextResign = now.Add(resignEvery)
		}
		if n.dht != nil && !now.Before(nextReannounce) {
			n.markAll()
			nextReannounce = now.Add(reannounceEvery)
		}
		n.announce()
		select {
		case <-n.ctx.Done():
			return
		case <-n.wake:
		case <-retry.C:
		}
	}
}

// resign signs again, with the bucket's current root, every record that
// has less than half its validity left. A record whose bucket is gone is
// deleted (a crash between removing a bucket and its record). Signing with
// the current root also repairs a record left behind by a crash between a
// bucket change and its record.
func (n *Node) resign(names Names) {
	rs := n.cfg.Records
	horizon := rs.now().Add(rs.validity / 2)
	var stale []ipns.Name
	err := rs.each(func(name ipns.Name, rec *ipns.Record) error {
		if eol, err := rec.Validity(); err != nil || eol.Before(horizon) {
			stale = append(stale, name)
		}
		return nil
	})
	if err != nil {
		n.log.Error("ipfs: list IPNS records", "err", err)
		return
	}
	for _, name := range stale {
		if n.ctx.Err() != nil {
			return
		}
		err := names.Republish(n.ctx, name.String())
		if errors.Is(errors.NotExist, err) {
			err = n.Unpublish(n.ctx, name.String())
		}
		if err != nil && n.ctx.Err() == nil {
			n.log.Error("ipfs: sign an IPNS record again", "name", name, "err", err)
		}
	}
}

// markAll queues every stored record for announcement.
func (n *Node) markAll() {
	var all []ipns.Name
	if err := n.cfg.Records.each(func(name ipns.Name, _ *ipns.Record) error {
		all = append(all, name)
		return nil
	}); err != nil {
		n.log.Error("ipfs: list IPNS records", "err", err)
		return
	}
	n.markDue(all...)
}

// announce puts each due name's record to the DHT and, when announcing is
// on, provides the root it names. With no DHT peer yet it leaves them due
// and says nothing: a hub with no network is normal. A name whose
// announcement fails waits for the next reannouncement.
func (n *Node) announce() {
	if n.dht == nil || n.dht.RoutingTable().Size() == 0 {
		return
	}
	n.mu.Lock()
	due := make([]ipns.Name, 0, len(n.due))
	for name := range n.due {
		due = append(due, name)
	}
	clear(n.due)
	n.mu.Unlock()
	for _, name := range due {
		if n.ctx.Err() != nil {
			return
		}
		if err := n.announceName(name); err != nil && n.ctx.Err() == nil {
			n.log.Debug("ipfs: announce", "name", name, "err", err)
		}
	}
}

// announceName announces one name's record and root.
func (n *Node) announceName(name ipns.Name) error {
	rec, raw, err := n.cfg.Records.Get(n.ctx, name)
	if errors.Is(errors.NotExist, err) {
		return nil // unpublished meanwhile
	} else if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(n.ctx, announceTimeout)
	defer cancel()
	if n.cfg.Announce {
		v, err := rec.Value()
		if err != nil {
			return err
		}
		root, err := path.NewImmutablePath(v)
		if err != nil {
			return err
		}
		if err := n.dht.Provide(ctx, root.RootCid(), true); err != nil {
			return err
		}
	}
	return n.dht.PutValue(ctx, string(name.RoutingKey()), raw)
}
