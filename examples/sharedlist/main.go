// Command sharedlist is a shared list that two people keep on two
// machines, each in an embedded ThreadDB (package threaddb), with a hubd
// as the list's replicator: the hub relays every item and keeps it while
// the other person is away, and can read none of them.
//
//	sharedlist -dir ~/.mylist create            # prints an invitation
//	sharedlist -dir ~/.theirlist join INVITATION
//	sharedlist -dir DIR run                     # each line read is added; every item is printed
//
// create and join talk to the hub: -hub-api is its gRPC address, -hub-p2p
// its libp2p address (hubd logs both as "hubd ready"); HUB_KEY and
// HUB_SECRET are an API key of the hub: an account key, or a user group
// key with -user-key (the list's identity then signs in for a user token).
// run needs no flag but -dir: the list and its peers are stored there, and
// it writes while the hub is out of reach and syncs when it is back (an
// item added just before run ends reaches the hub the next time it runs).
//
// run prints "item <id> <text>" once for each item, those already there
// first, then each as it arrives from either side, until its input ends
// or it is interrupted.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/threaddb"
	"github.com/selfhub/hub/threads"
)

const usage = `usage: sharedlist [flags] create | join INVITATION | run`

// items is the collection the list keeps; an item is {"_id", "text"}.
var items = hub.CollectionConfig{Name: "items", Schema: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}`)}

func main() {
	fs := flag.NewFlagSet("sharedlist", flag.ExitOnError)
	dir := fs.String("dir", "sharedlist", "directory of this copy of the list")
	listen := fs.String("listen", "/ip4/0.0.0.0/tcp/0", "libp2p listen address")
	hubAPI := fs.String("hub-api", "127.0.0.1:3006", "hubd gRPC address (create, join)")
	hubP2P := fs.String("hub-p2p", "", "hubd libp2p address, ending in /p2p/<peer ID> (create)")
	userKey := fs.Bool("user-key", false, "HUB_KEY is a user group key: sign in with the list's identity for a token (create)")
	fs.Parse(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, fs.Args(), *dir, *listen, hubOpts{*hubAPI, *hubP2P, *userKey}); err != nil {
		fmt.Fprintln(os.Stderr, "sharedlist:", err)
		os.Exit(1)
	}
}

// hubOpts say how create reaches the hub.
type hubOpts struct {
	api, p2p string
	userKey  bool
}

func run(ctx context.Context, args []string, dir, listen string, h hubOpts) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", usage)
	}
	n, err := threaddb.Open(ctx, threaddb.Config{Dir: dir, ListenAddrs: []string{listen}})
	if err != nil {
		return err
	}
	defer n.Close()
	switch {
	case args[0] == "create" && len(args) == 1:
		return create(ctx, n, dir, h)
	case args[0] == "join" && len(args) == 2:
		return join(ctx, n, dir, args[1])
	case args[0] == "run" && len(args) == 1:
		return serve(ctx, n, dir, os.Stdin, os.Stdout)
	}
	return fmt.Errorf("%s", usage)
}

// listFile holds the list's DB ID in dir.
func listFile(dir string) string { return filepath.Join(dir, "list") }

// create makes the list, adds the hub as its replicator and prints the
// invitation: the list's address at the hub and its key.
func create(ctx context.Context, n *threaddb.Node, dir string, h hubOpts) error {
	hubAddr, err := ma.NewMultiaddr(h.p2p)
	if err != nil {
		return fmt.Errorf("-hub-p2p: %v", err)
	}
	tc, cctx, err := hubClient(ctx, dir, h)
	if err != nil {
		return err
	}
	db, err := n.NewDB(ctx, "", hub.DBOptions{Name: "list", Collections: []hub.CollectionConfig{items}})
	if err != nil {
		return err
	}
	if err := n.AddReplicator(cctx, tc, hubAddr, db); err != nil {
		n.DeleteDB(ctx, db)
		return fmt.Errorf("adding the hub as the list's replicator: %w", err)
	}
	info, err := n.GetDBInfo(ctx, db)
	if err != nil {
		return err
	}
	if err := os.WriteFile(listFile(dir), []byte(db.String()), 0o600); err != nil {
		return err
	}
	key, _ := threads.KeyFromBytes(info.Key)
	fmt.Printf("%s/thread/%s:%s\n", hubAddr, db, key)
	return nil
}

// join joins the list of an invitation, through the hub.
func join(ctx context.Context, n *threaddb.Node, dir, invitation string) error {
	i := strings.LastIndexByte(invitation, ':')
	if i < 0 {
		return fmt.Errorf("an invitation is ADDRESS:KEY, as create prints it")
	}
	key, err := threads.KeyFromString(invitation[i+1:])
	if err != nil {
		return err
	}
	db, err := n.Join(ctx, invitation[:i], key.Bytes(), "list")
	if err != nil {
		return err
	}
	return os.WriteFile(listFile(dir), []byte(db.String()), 0o600)
}

// hubClient returns a client of the hub and the context that carries
// HUB_KEY and HUB_SECRET, and, for a user group key, the token of the
// list's identity (kept in dir).
func hubClient(ctx context.Context, dir string, h hubOpts) (*threadsclient.Client, context.Context, error) {
	conn, err := client.Dial(ctx, h.api)
	if err != nil {
		return nil, nil, err
	}
	tc := threadsclient.New(conn)
	cctx, err := client.WithAPIKey(ctx, os.Getenv("HUB_KEY"), os.Getenv("HUB_SECRET"))
	if err != nil {
		return nil, nil, err
	}
	if !h.userKey {
		return tc, cctx, nil
	}
	priv, err := identity.LoadOrCreate(filepath.Join(dir, "identity.key"))
	if err != nil {
		return nil, nil, err
	}
	token, err := tc.GetToken(cctx, priv)
	if err != nil {
		return nil, nil, fmt.Errorf("signing in to the hub with the list's identity: %w", err)
	}
	return tc, client.WithToken(cctx, token), nil
}

// serve adds each line of in as an item and prints every item once to
// out, until in ends or ctx does.
func serve(ctx context.Context, n *threaddb.Node, dir string, in io.Reader, out io.Writer) error {
	raw, err := os.ReadFile(listFile(dir))
	if err != nil {
		return fmt.Errorf("no list here yet: create or join one first (%v)", err)
	}
	db, err := threads.Decode(strings.TrimSpace(string(raw)))
	if err != nil {
		return fmt.Errorf("%s: %v", listFile(dir), err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := printer{out: out, seen: map[string]bool{}}
	listening := make(chan error, 1)
	go func() {
		listening <- n.Listen(ctx, db, []hub.ListenFilter{{Collection: items.Name, Action: hub.ActionCreate}}, 0, func(ev hub.ListenEvent) error {
			p.print(ev.InstanceID, ev.Instance)
			return nil
		})
	}()
	found, err := n.Find(ctx, db, items.Name, nil)
	if err != nil {
		return err
	}
	for _, it := range found {
		var v struct {
			ID string `json:"_id"`
		}
		json.Unmarshal(it, &v)
		p.print(v.ID, it)
	}
	fmt.Fprintln(out, "ready")
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-listening:
			return err
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			doc, _ := json.Marshal(map[string]string{"text": line})
			if _, err := n.Create(ctx, db, items.Name, []json.RawMessage{doc}); err != nil {
				return err
			}
		}
	}
}

// printer prints each item once, whether Find or Listen saw it first.
type printer struct {
	out io.Writer
	// mu guards seen and out.
	mu   sync.Mutex
	seen map[string]bool
}

func (p *printer) print(id string, raw json.RawMessage) {
	var v struct {
		Text string `json:"text"`
	}
	json.Unmarshal(raw, &v)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen[id] {
		return
	}
	p.seen[id] = true
	fmt.Fprintf(p.out, "item %s %s\n", id, v.Text)
}
