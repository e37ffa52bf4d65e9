package abuse

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/selfhub/hub/api/pb/usersdpb"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/identity/identitytest"
	"github.com/selfhub/hub/test/testhub"
)

// TestQuotaIsTheApps pushes from several fresh identities of one app: they
// share the app's one bucket quota and are refused with ResourceExhausted
// once it is used up. Rewriting a bucket's owner through the threads API,
// to a victim's identity or to a made-up one, neither escapes the quota
// nor charges anyone else: the victim still has its whole quota, and the
// attacker's stored files and roots are unchanged.
func TestQuotaIsTheApps(t *testing.T) {
	const quota, push = 4 << 20, 3 << 19 // two pushes of 1.5 MiB fit, three do not
	h := startHub(t, "--bucket-quota", strconv.Itoa(quota))
	attacker, victim := newTenant(t, h, "attacker"), newTenant(t, h, "victim")

	type pushed struct {
		user context.Context // the identity's credentials, in its DB
		db   threadsclient.ID
		key  string
		root string
		data []byte
	}
	var kept []pushed
	var refused error
	for i := 0; i < 3 && refused == nil; i++ {
		user := attacker.User
		if i > 0 {
			user, _ = attacker.newUser(t) // a fresh identity of the same app
		}
		in, db, key := newBucket(t, attacker, user)
		data := randomBytes(push)
		p, err := attacker.Buckets.PushPath(in, key, "f.bin", bytes.NewReader(data), "")
		if err != nil {
			refused = err
			break
		}
		kept = append(kept, pushed{in, db, key, p.Root.Path, data})
	}
	if !errors.Is(errors.Exhausted, refused) || len(kept) != 2 {
		t.Fatalf("after %d pushes of %d bytes by fresh identities of one app: %v; want the third refused with ResourceExhausted", len(kept), push, refused)
	}

	// Rewrite the owner of the first identity's bucket, to the victim and
	// to a made-up identity, then push again.
	victimID, err := identity.String(victim.UserKey.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	_, madeUpID := identitytest.New(t)
	first := kept[0]
	for _, owner := range []string{string(victimID), string(madeUpID)} {
		raw, err := attacker.Threads.FindByID(first.user, first.db, "buckets", first.key)
		if err != nil {
			t.Fatal(err)
		}
		var inst map[string]any
		if err := json.Unmarshal(raw, &inst); err != nil {
			t.Fatal(err)
		}
		inst["owner"] = owner
		doc, _ := json.Marshal(inst)
		if err := attacker.Threads.Save(first.user, first.db, "buckets", doc); err != nil {
			t.Fatalf("rewrite the owner through the threads API: %v", err)
		}
		_, err = attacker.Buckets.PushPath(first.user, first.key, "more.bin", bytes.NewReader(randomBytes(push)), "")
		if !errors.Is(errors.Exhausted, err) {
			t.Fatalf("push after rewriting the owner to %s: %v; want ResourceExhausted", owner, err)
		}
	}

	// The victim is charged nothing: its whole quota takes two pushes.
	in, _, vkey := newBucket(t, victim, victim.User)
	for i := range 2 {
		if _, err := victim.Buckets.PushPath(in, vkey, "f"+strconv.Itoa(i), bytes.NewReader(randomBytes(push)), ""); err != nil {
			t.Fatalf("victim's push %d within its own quota: %v", i, err)
		}
	}
	// GetUsage reports the app's total to each of its identities, and the
	// victim only its own.
	conn := testhub.Dial(t, h.Addrs.API)
	bucketData := func(ctx context.Context) int64 {
		t.Helper()
		res, err := usersdpb.NewAPIServiceClient(conn).GetUsage(ctx, &usersdpb.GetUsageRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return res.Usage.Usage["bucket_data"].GetUnits()
	}
	app, second, mine := bucketData(kept[0].user), bucketData(kept[1].user), bucketData(victim.User)
	if app != second || app < 2*push || app > quota {
		t.Fatalf("GetUsage bucket_data: %d and %d for two identities of the app; want the app's total, 2 pushes of %d", app, second, push)
	}
	if mine < 2*push || mine > 2*push+64<<10 {
		t.Fatalf("GetUsage bucket_data of the victim: %d; want its own 2 pushes of %d", mine, push)
	}
	victim.mustBeServed(t)

	// The attacker's stored files and roots are as they were.
	for i, k := range kept {
		r, err := attacker.Buckets.Root(k.user, k.key)
		if err != nil || r.Path != k.root {
			t.Fatalf("bucket %d: root %s, %v; want %s", i, r.Path, err, k.root)
		}
		var got bytes.Buffer
		if _, err := attacker.Buckets.PullPath(k.user, k.key, "f.bin", &got); err != nil || !bytes.Equal(got.Bytes(), k.data) {
			t.Fatalf("bucket %d: file changed (%v)", i, err)
		}
	}
	h.alive(t)
}

// randomBytes returns n random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
