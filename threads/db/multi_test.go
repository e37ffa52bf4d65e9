package db

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestCommitAll writes to two DBs in one commit, from two goroutines that
// name the DBs in opposite orders (as two users sending each other
// messages would): no deadlock, and every pair of writes lands together.
func TestCommitAll(t *testing.T) {
	m := newManager(t, Config{})
	alice, bob := user(t), user(t)
	da, db := newDB(t, m, alice), newDB(t, m, bob)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	send := func(from, to *DB, n int) error {
		for i := range n {
			txns, err := BeginWrites(ctx, WriteSpec{DB: from, Principal: alice, Collection: "people"}, WriteSpec{DB: to, Principal: bob, Collection: "people"})
			if err != nil {
				return err
			}
			id := fmt.Sprintf(`{"_id":"%p-%d","name":"x"}`, from, i)
			for _, x := range txns {
				if _, err := x.Create(ctx, [][]byte{[]byte(id)}); err != nil {
					return err
				}
			}
			if err := CommitAll(ctx, txns...); err != nil {
				return err
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() { errs <- send(da, db, 50) })
	wg.Go(func() { errs <- send(db, da, 50) })
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if a, b := len(find(t, da, alice, `{}`)), len(find(t, db, bob, `{}`)); a != 100 || b != 100 {
		t.Fatalf("instances: %d and %d; want 100 each", a, b)
	}
	// The same DB twice is refused, and frees what it took.
	if _, err := BeginWrites(ctx, WriteSpec{DB: da, Principal: alice, Collection: "people"}, WriteSpec{DB: da, Principal: alice, Collection: "people"}); err == nil {
		t.Fatal("the same DB twice was accepted")
	}
	x, err := da.WriteTxn(ctx, alice, "people")
	if err != nil {
		t.Fatalf("a refused BeginWrites kept a lock: %v", err)
	}
	x.Discard()
}
