package metering

import (
	"context"
	"slices"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
)

// Sources are where a usage report finds the figures the meter does not
// count itself. They are functions so that metering imports none of the
// services (threads/db counts into the meter).
type Sources struct {
	// Users lists the app users recorded against an account
	// (auth.Service.Users).
	Users func(ctx context.Context, account hub.PubKey) ([]hub.PubKey, error)
	// Instances returns the bytes of the ThreadDB instances a principal
	// stores (db.Manager.StoredBytes).
	Instances func(ctx context.Context, p hub.Principal) (int64, error)
	// Buckets returns the bytes the buckets charged to an account hold
	// (buckets.Service.StoredBytes); nil when the hub serves no buckets,
	// which then report none.
	Buckets func(ctx context.Context, account hub.PubKey) (int64, error)
	// Replicas returns the bytes of the thread records the hub keeps, as
	// their replicator, for an account (replicate.Service.ReplicaBytes);
	// nil reports none.
	Replicas func(ctx context.Context, account hub.PubKey) (int64, error)
}

// Figure is one line of a usage report. Names are the wire names of the
// Textile Hub's usage report.
type Figure struct {
	Name        string
	Description string
	Units       int64
}

// Report is the usage of one identity: totals since its first use, free
// and uncharged (a self-hosted hub bills no one).
type Report struct {
	Subject hub.Principal // whose usage: Subject.Owner() within Subject.Account
	Figures []Figure
}

// Reporter answers usage questions: who may read whose usage, and the
// figures. It is safe for concurrent use.
type Reporter struct {
	m   *Meter
	src Sources
}

// NewReporter returns a Reporter over the meter's counts and src.
func NewReporter(m *Meter, src Sources) *Reporter { return &Reporter{m: m, src: src} }

// Report returns the usage of p or, when p is a developer or an org and key
// names one of its app's users, of that user. A user asking for another
// identity's usage is refused with Permission; a key that is not a user of
// p's account with NotExist.
func (r *Reporter) Report(ctx context.Context, p hub.Principal, key hub.PubKey) (Report, error) {
	const op errors.Op = "metering.Report"
	subject := p
	if key != "" && key != p.Owner() {
		if p.Kind == hub.UserPrincipal {
			return Report{}, errors.E(op, errors.Permission, "a user may read only its own usage; leave key empty")
		}
		users, err := r.src.Users(ctx, p.Account)
		if err != nil {
			return Report{}, errors.E(op, err)
		}
		if !slices.Contains(users, key) {
			return Report{}, errors.Errorf(op, errors.NotExist, "%q is not a user of this account", errors.Clip(string(key)))
		}
		subject = hub.Principal{Kind: hub.UserPrincipal, Account: p.Account, Identity: key}
	}
	counts, err := r.m.Usage(ctx, SubjectOf(subject))
	if err != nil {
		return Report{}, errors.E(op, err)
	}
	stored, err := r.src.Instances(ctx, subject)
	if err != nil {
		return Report{}, errors.E(op, err)
	}
	var inBuckets int64
	if r.src.Buckets != nil {
		if inBuckets, err = r.src.Buckets(ctx, subject.Account); err != nil {
			return Report{}, errors.E(op, err)
		}
	}
	var replicas int64
	if r.src.Replicas != nil {
		if replicas, err = r.src.Replicas(ctx, subject.Account); err != nil {
			return Report{}, errors.E(op, err)
		}
	}
	return Report{Subject: subject, Figures: []Figure{
		{"stored_data", "bytes of ThreadDB instances stored", stored},
		{"bucket_data", "bytes stored in the buckets of the account, its app's users' included (cumulative DAG sizes), which the bucket quota caps", inBuckets},
		{"replica_data", "bytes of the thread records the hub keeps as replicator for the account, its app's users' included, which --repl-max-replica-bytes caps", replicas},
		{"network_egress", "bytes sent in API responses", counts.Egress},
		{"instance_reads", "ThreadDB instances read", counts.Reads},
		{"instance_writes", "ThreadDB instances written", counts.Writes},
	}}, nil
}
