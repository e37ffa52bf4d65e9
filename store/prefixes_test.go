package store

import (
	"strings"
	"testing"
)

// TestPrefixesDisjoint checks that no listed prefix starts another: a scan
// or range deletion of one owner's keys never reaches another's.
func TestPrefixesDisjoint(t *testing.T) {
	ps := Prefixes()
	for i, a := range ps {
		if a.Key == "" || a.Owner == "" || a.Holds == "" {
			t.Errorf("prefix %q: every prefix needs a key, an owner and what it holds", a.Key)
		}
		for j, b := range ps {
			if i != j && strings.HasPrefix(b.Key, a.Key) {
				t.Errorf("prefix %q (%s) starts prefix %q (%s)", a.Key, a.Owner, b.Key, b.Owner)
			}
		}
	}
}

// TestPrefixOf finds the owner of keys built the ways packages build them,
// and none for a key outside every prefix.
func TestPrefixOf(t *testing.T) {
	for _, c := range []struct {
		key   []byte
		owner string
	}{
		{Key(AuthAccounts, "bkey"), "auth"},
		{Key(AuthAccountKeys, "bkey", "k"), "auth"},
		{Key(AuthInvitees, "a@b", "t"), "auth"},
		{BinaryKey(DBs, []byte{1, 0x55, 7}, 0), "threads/db"},
		{BinaryKey(ThreadHeads, []byte{1, 0x55, 7}, 0), "threads/logstore"},
		{Key(LegacyBlocksMoved, "blocks-by-cid"), "threads/logstore"},
		{[]byte(LegacyRecordsDone), "buckets"},
	} {
		p, ok := PrefixOf(c.key)
		if !ok || p.Owner != c.owner {
			t.Errorf("PrefixOf(%q) = %+v, %v; want owner %s", c.key, p, ok, c.owner)
		}
	}
	if p, ok := PrefixOf([]byte("stray/key")); ok {
		t.Errorf("PrefixOf(stray/key) = %+v; want none", p)
	}
}
