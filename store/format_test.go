package store

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/selfhub/hub/errors"
)

var quiet = slog.New(slog.DiscardHandler)

// setFormat writes v as the store's version, as a hub that reached it
// would have.
func setFormat(t *testing.T, s *Store, v FormatVersion) {
	t.Helper()
	if err := s.setFormat(v); err != nil {
		t.Fatal(err)
	}
}

// moveKeys is a migration shaped like the real ones: it moves every key
// under old/ to new/, one key per batch (each batch moves one whole), and
// calls after, when it is not nil, once each batch is committed; an error
// from after stops it.
func moveKeys(s *Store, after func(moved int) error) func(context.Context) error {
	return func(context.Context) error {
		moved := 0
		return s.Scan([]byte("old/"), func(k, v []byte) error {
			b := s.NewBatch()
			b.PutRaw(append([]byte("new/"), k[len("old/"):]...), v)
			b.Delete(k)
			if err := b.Commit(); err != nil {
				return err
			}
			moved++
			if after != nil {
				return after(moved)
			}
			return nil
		})
	}
}

// nothing is a migration with no work.
func nothing(context.Context) error { return nil }

// lastRuns is a whole list of migrations in which the one to FormatNewest
// runs run and every other does nothing.
func lastRuns(run func(context.Context) error) []Migration {
	var ms []Migration
	for v := FormatUnversioned + 1; v < FormatNewest; v++ {
		ms = append(ms, Migration{To: v, Run: nothing})
	}
	return append(ms, Migration{To: FormatNewest, Run: run})
}

// recordRuns is a list of migrations, one per version, that append the
// version they move to to *ran.
func recordRuns(ran *[]FormatVersion) []Migration {
	var ms []Migration
	for v := FormatUnversioned + 1; v <= FormatNewest; v++ {
		ms = append(ms, Migration{To: v, Run: func(context.Context) error { *ran = append(*ran, v); return nil }})
	}
	return ms
}

// TestMigrateInOrderOnce runs every migration on a store written before
// versions were kept, in order; the store then has the newest version and
// a second Migrate runs none.
func TestMigrateInOrderOnce(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	putOld(t, s, 1)
	var ran []FormatVersion
	list := func() []Migration { return recordRuns(&ran) }
	if v, err := s.Format(); err != nil || v != FormatUnversioned {
		t.Fatalf("an unversioned store's version = %s, %v; want %s", v, err, FormatUnversioned)
	}
	if err := s.Migrate(context.Background(), list(), quiet); err != nil {
		t.Fatal(err)
	}
	if len(ran) != int(FormatNewest) || ran[0] != 1 || ran[len(ran)-1] != FormatNewest {
		t.Fatalf("ran %v; want every version from 1 to %d in order", ran, FormatNewest)
	}
	s.Close()
	s = open(t, dir)
	defer s.Close()
	if v, err := s.Format(); err != nil || v != FormatNewest {
		t.Fatalf("version after migrating = %s, %v; want %s", v, err, FormatNewest)
	}
	ran = nil
	if err := s.Migrate(context.Background(), list(), quiet); err != nil || len(ran) != 0 {
		t.Fatalf("Migrate again ran %v, %v; want none", ran, err)
	}
}

// TestNewStoreStartsNewest: a store that holds nothing has nothing to
// migrate; Migrate runs no migration, logs none at Info, and leaves it at
// the newest version, which it keeps when reopened.
func TestNewStoreStartsNewest(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	var ran []FormatVersion
	var logged bytes.Buffer
	if err := s.Migrate(context.Background(), recordRuns(&ran), slog.New(slog.NewTextHandler(&logged, nil))); err != nil {
		t.Fatal(err)
	}
	if len(ran) != 0 || logged.Len() != 0 {
		t.Fatalf("Migrate of a new store ran %v and logged %q; want nothing of either", ran, logged.String())
	}
	s.Close()
	s = open(t, dir)
	defer s.Close()
	if v, err := s.Format(); err != nil || v != FormatNewest {
		t.Fatalf("a new store's version after Migrate = %s, %v; want %s", v, err, FormatNewest)
	}
}

// TestMigrateRefusesABadList: a list that misses a version, or names one
// out of order, is refused before any migration runs.
func TestMigrateRefusesABadList(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ran := false
	run := func(context.Context) error { ran = true; return nil }
	for name, list := range map[string][]Migration{
		"missing the newest": {{To: 1, Run: run}},
		"out of order":       {{To: 2, Run: run}, {To: 1, Run: run}},
		"no Run":             {{To: 1, Run: run}, {To: 2}},
	} {
		if err := s.Migrate(context.Background(), list, quiet); !errors.Is(errors.Internal, err) || ran {
			t.Errorf("%s: Migrate = %v (ran: %v); want an Internal error and nothing run", name, err, ran)
		}
	}
}

// TestMigrateFailureResumes: a migration that fails partway leaves the
// version where it was, and the next Migrate runs it again from what it
// had committed, to the end.
func TestMigrateFailureResumes(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	putOld(t, s, 10)
	setFormat(t, s, FormatNewest-1)
	list := lastRuns(moveKeys(s, func(moved int) error {
		if moved == 4 {
			return fmt.Errorf("disk full")
		}
		return nil
	}))
	if err := s.Migrate(context.Background(), list, quiet); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Migrate = %v; want the migration's error", err)
	}
	if v, _ := s.Format(); v != FormatNewest-1 {
		t.Fatalf("version after a failed migration = %s; want %s", v, FormatNewest-1)
	}
	if n := count(t, s, "new/"); n != 4 {
		t.Fatalf("%d keys moved before the failure; want the 4 committed", n)
	}
	s.Close()
	s = open(t, dir)
	defer s.Close()
	list[len(list)-1].Run = moveKeys(s, nil)
	if err := s.Migrate(context.Background(), list, quiet); err != nil {
		t.Fatal(err)
	}
	wantMoved(t, s, 10)
}

// TestMigrationKilledMidway kills a child process (SIGKILL, no clean
// close) in the middle of a migration, after it committed three of its
// ten batches: the store opens at the version before, with the three
// moved, and the next Migrate finishes the move and moves the version.
func TestMigrationKilledMidway(t *testing.T) {
	if dir := os.Getenv("HUB_STORE_MIGRATE_CHILD"); dir != "" {
		s := open(t, dir)
		list := lastRuns(moveKeys(s, func(moved int) error {
			if moved == 3 {
				self, _ := os.FindProcess(os.Getpid())
				self.Kill()
				select {} // the signal ends the process
			}
			return nil
		}))
		s.Migrate(context.Background(), list, quiet)
		t.Fatal("the migration ended; the child should have been killed in it")
	}
	dir := t.TempDir()
	s := open(t, dir)
	putOld(t, s, 10)
	setFormat(t, s, FormatNewest-1)
	s.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestMigrationKilledMidway$")
	cmd.Env = append(os.Environ(), "HUB_STORE_MIGRATE_CHILD="+dir)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ProcessState.Exited() {
		t.Fatalf("child: %v; want it killed by a signal\n%s", err, out)
	}

	s = open(t, dir)
	defer s.Close()
	if v, _ := s.Format(); v != FormatNewest-1 {
		t.Fatalf("version after the kill = %s; want %s", v, FormatNewest-1)
	}
	if n := count(t, s, "new/"); n != 3 {
		t.Fatalf("%d keys moved before the kill; want the 3 committed", n)
	}
	if err := s.Migrate(context.Background(), lastRuns(moveKeys(s, nil)), quiet); err != nil {
		t.Fatal(err)
	}
	wantMoved(t, s, 10)
}

// TestOpenRefusesANewerStore: a store whose version is past this build's
// is refused with FailedPrecondition and a message that says what to do.
func TestOpenRefusesANewerStore(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	setFormat(t, s, FormatNewest+1)
	s.Close()
	// Twice: the first refusal closed pebble, so the second meets the
	// same refusal and not pebble's lock on the directory.
	for range 2 {
		_, err := Open(dir, quiet)
		if !errors.Is(errors.FailedPrecondition, err) || !strings.Contains(err.Error(), "newer hubd") {
			t.Fatalf("Open of a newer store = %v; want FailedPrecondition naming a newer hubd", err)
		}
	}
}

func putOld(t *testing.T, s *Store, n int) {
	t.Helper()
	b := s.NewBatch()
	for i := range n {
		b.PutRaw(fmt.Appendf(nil, "old/%02d", i), fmt.Appendf(nil, "v%d", i))
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, s *Store, prefix string) int {
	t.Helper()
	n := 0
	if err := s.Scan([]byte(prefix), func(_, _ []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// wantMoved checks that the n keys are all under new/, with their values,
// and the version is the newest.
func wantMoved(t *testing.T, s *Store, n int) {
	t.Helper()
	if v, _ := s.Format(); v != FormatNewest {
		t.Fatalf("version = %s; want %s", v, FormatNewest)
	}
	if left := count(t, s, "old/"); left != 0 {
		t.Fatalf("%d keys left unmoved", left)
	}
	for i := range n {
		v, err := s.GetRaw(fmt.Appendf(nil, "new/%02d", i))
		if err != nil || string(v) != fmt.Sprintf("v%d", i) {
			t.Fatalf("new/%02d = %q, %v", i, v, err)
		}
	}
}
