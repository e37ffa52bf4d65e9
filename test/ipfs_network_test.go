package test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	bsclient "github.com/ipfs/boxo/bitswap/client"
	bsnet "github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/boxo/ipns"
	ipns_pb "github.com/ipfs/boxo/ipns/pb"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/selfhub/hub/buckets"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	"github.com/selfhub/hub/daemon"
	"github.com/selfhub/hub/ipfsnet"
	"github.com/selfhub/hub/test/testhub"
)

// ipfsPeer is an independent IPFS node in the test process: its own
// libp2p host, its own blockstore, and boxo's bitswap client.
type ipfsPeer struct {
	h       host.Host
	blocks  bstore.Blockstore
	dag     ipld.DAGService // fetches missing blocks over bitswap
	offline ipld.DAGService // reads only what the peer holds
}

func newIPFSPeer(t *testing.T) *ipfsPeer {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	blocks := bstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	net := bsnet.NewFromIpfsHost(h)
	client := bsclient.New(context.Background(), net, nil, blocks)
	net.Start(client)
	t.Cleanup(func() { client.Close(); net.Stop() })
	return &ipfsPeer{
		h:       h,
		blocks:  blocks,
		dag:     merkledag.NewDAGService(blockservice.New(blocks, client)),
		offline: merkledag.NewDAGService(blockservice.New(blocks, nil)),
	}
}

// connect connects the peer to the first of addrs.
func (p *ipfsPeer) connect(t *testing.T, ctx context.Context, addrs []string) peer.ID {
	t.Helper()
	if len(addrs) == 0 {
		t.Fatal("hubd reports no p2p address")
	}
	ai, err := peer.AddrInfoFromString(addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := p.h.Connect(ctx, *ai); err != nil {
		t.Fatalf("connect to hubd at %s: %v", addrs[0], err)
	}
	return ai.ID
}

// cat reads the file at p under root from dag.
func cat(t *testing.T, ctx context.Context, dag ipld.DAGService, root cid.Cid, p string) []byte {
	t.Helper()
	nd, err := dag.Get(ctx, root)
	if err != nil {
		t.Fatalf("get root %s: %v", root, err)
	}
	for _, name := range strings.Split(p, "/") {
		dir, err := uio.NewDirectoryFromNode(dag, nd)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if nd, err = dir.Find(ctx, name); err != nil {
			t.Fatalf("%s: find %s: %v", p, name, err)
		}
	}
	r, err := uio.NewDagReader(ctx, nd, dag)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return b
}

func mustCid(t *testing.T, p string) cid.Cid {
	t.Helper()
	c, err := cid.Decode(strings.TrimPrefix(p, "/ipfs/"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestIPFSBitswapServesBuckets fetches a pushed bucket's whole DAG from
// hubd over bitswap, by root CID alone, into an independent node, and
// reads the files back offline from that node's own blockstore.
func TestIPFSBitswapServesBuckets(t *testing.T) {
	w := newGatewayWorld(t)
	p := newIPFSPeer(t)
	ctx, cancel := context.WithTimeout(w.ctx, time.Minute)
	defer cancel()
	p.connect(t, ctx, w.h.Addrs.P2P)
	root := mustCid(t, w.root)
	if err := merkledag.FetchGraph(ctx, root, p.dag); err != nil {
		t.Fatalf("fetch %s over bitswap: %v", root, err)
	}
	if got := cat(t, ctx, p.offline, root, "big.bin"); !bytes.Equal(got, w.big) {
		t.Errorf("big.bin fetched over bitswap: %d bytes, not the %d pushed", len(got), len(w.big))
	}
	for path, want := range w.files {
		if got := cat(t, ctx, p.offline, root, path); string(got) != want {
			t.Errorf("%s fetched over bitswap = %q; want %q", path, got, want)
		}
	}
}

// ipnsRecord fetches the bucket key's IPNS record from the gateway with
// the given header pairs, checks it with boxo against the key, and
// returns it with its protobuf form.
func ipnsRecord(t *testing.T, url, key string, hdr ...string) (*ipns.Record, *ipns_pb.IpnsRecord) {
	t.Helper()
	resp, body := get(t, url, hdr...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.ipfs.ipns-record" {
		t.Errorf("Content-Type = %q", ct)
	}
	rec, err := ipns.UnmarshalRecord(body)
	if err != nil {
		t.Fatal(err)
	}
	name, err := ipns.NameFromString(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := ipns.ValidateWithName(rec, name); err != nil {
		t.Fatalf("record does not validate against bucket key %s: %v", key, err)
	}
	var pb ipns_pb.IpnsRecord
	if err := proto.Unmarshal(body, &pb); err != nil {
		t.Fatal(err)
	}
	// V1 signature, for older resolvers: value, validity and type, signed.
	pk, err := name.Peer().ExtractPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	v1 := append(append(append([]byte{}, pb.GetValue()...), pb.GetValidity()...), []byte(pb.GetValidityType().String())...)
	if ok, err := pk.Verify(v1, pb.GetSignatureV1()); err != nil || !ok {
		t.Errorf("V1 signature does not verify (%v)", err)
	}
	return rec, &pb
}

// recordState is what a record says.
func recordState(t *testing.T, rec *ipns.Record) (string, uint64) {
	t.Helper()
	v, err := rec.Value()
	if err != nil {
		t.Fatal(err)
	}
	seq, err := rec.Sequence()
	if err != nil {
		t.Fatal(err)
	}
	return v.String(), seq
}

// TestIPNSRecordFollowsBucket checks the signed IPNS record the gateway
// serves for a bucket key: valid for the key, naming the current root,
// with a sequence number that grows with every change, across a restart,
// and gone with the bucket.
func TestIPNSRecordFollowsBucket(t *testing.T) {
	w := newGatewayWorld(t)
	recordURL := w.base + "/ipns/" + w.key + "?format=ipns-record"

	rec, _ := ipnsRecord(t, recordURL, w.key)
	value, seq := recordState(t, rec)
	if value != w.root {
		t.Fatalf("record names %s; the bucket is at %s", value, w.root)
	}
	// Create signed sequence 0; each push since signed the next one.
	if seq == 0 {
		t.Errorf("sequence after create and pushes = 0; want it to count the pushes")
	}
	if ttl, err := rec.TTL(); err != nil || ttl != ipfsnet.DefaultTTL {
		t.Errorf("TTL = %v (%v); want %v", ttl, err, ipfsnet.DefaultTTL)
	}
	if eol, err := rec.Validity(); err != nil || time.Until(eol) < ipfsnet.DefaultValidity-time.Hour {
		t.Errorf("valid until %v (%v); want about %v from now", eol, err, ipfsnet.DefaultValidity)
	}
	// Bad record requests.
	_, otherKey, err := buckets.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, url string
		code      int
	}{
		{"unknown key", w.base + "/ipns/" + otherKey + "?format=ipns-record", http.StatusNotFound},
		{"a path below the name", w.base + "/ipns/" + w.key + "/docs?format=ipns-record", http.StatusBadRequest},
	} {
		if resp, body := get(t, c.url); resp.StatusCode != c.code {
			t.Errorf("%s: %s %s; want %d", c.name, resp.Status, body, c.code)
		}
	}
	// The media type asked for in Accept gets the same record.
	byAccept, _ := ipnsRecord(t, w.base+"/ipns/"+w.key, w.key, "Accept", "application/vnd.ipfs.ipns-record")
	if v, s := recordState(t, byAccept); v != value || s != seq {
		t.Errorf("record by Accept names %s seq %d; by format %s seq %d", v, s, value, seq)
	}

	// Every kind of change signs a newer record naming the new root.
	changes := []struct {
		name   string
		change func() string // returns the new root
	}{
		{"push", func() string {
			pushed, err := w.bc.PushPath(w.ctx, w.key, "docs/c.txt", strings.NewReader("third"), w.root)
			if err != nil {
				t.Fatal(err)
			}
			return pushed.Root.Path
		}},
		{"push paths", func() string {
			_, r, err := w.bc.PushFiles(w.ctx, w.key, w.root, []bucketsclient.File{
				{Path: "many/x.txt", Data: strings.NewReader("x")},
				{Path: "many/y.txt", Data: strings.NewReader("y")},
			})
			if err != nil {
				t.Fatal(err)
			}
			return r.Path
		}},
		{"set path", func() string {
			if err := w.bc.SetPath(w.ctx, w.key, "big-copy.bin", w.bigCID); err != nil {
				t.Fatal(err)
			}
			r, err := w.bc.Root(w.ctx, w.key)
			if err != nil {
				t.Fatal(err)
			}
			return r.Path
		}},
		{"move", func() string {
			if err := w.bc.MovePath(w.ctx, w.key, "docs/c.txt", "docs/d.txt"); err != nil {
				t.Fatal(err)
			}
			r, err := w.bc.Root(w.ctx, w.key)
			if err != nil {
				t.Fatal(err)
			}
			return r.Path
		}},
		{"remove path", func() string {
			r, err := w.bc.RemovePath(w.ctx, w.key, "docs/d.txt", "")
			if err != nil {
				t.Fatal(err)
			}
			return r.Path
		}},
	}
	for _, c := range changes {
		w.root = c.change()
		rec, _ := ipnsRecord(t, recordURL, w.key)
		v, s := recordState(t, rec)
		if v != w.root || s <= seq {
			t.Errorf("after %s: record names %s seq %d; want %s with seq > %d", c.name, v, s, w.root, seq)
		}
		seq = s
	}

	// Sequence numbers keep growing across a restart.
	w.h.Restart()
	w.bc = bucketsclient.New(w.h.Conn)
	w.base = "http://" + w.h.Addrs.Gateway
	recordURL = w.base + "/ipns/" + w.key + "?format=ipns-record"
	pushed, err := w.bc.PushPath(w.ctx, w.key, "after-restart.txt", strings.NewReader("again"), w.root)
	if err != nil {
		t.Fatal(err)
	}
	w.root = pushed.Root.Path
	rec, _ = ipnsRecord(t, recordURL, w.key)
	if v, s := recordState(t, rec); v != w.root || s <= seq {
		t.Errorf("after a restart and a push: record names %s seq %d; want %s with seq > %d", v, s, w.root, seq)
	}
	if resp, body := get(t, w.base+"/ipns/"+w.key+"/after-restart.txt"); resp.StatusCode != http.StatusOK || string(body) != "again" {
		t.Errorf("/ipns/<key>/after-restart.txt: %s %q", resp.Status, body)
	}

	// A removed bucket's name stops resolving.
	if err := w.bc.Remove(w.ctx, w.key); err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{recordURL, w.base + "/ipns/" + w.key + "/docs/a.txt"} {
		if resp, body := get(t, url); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s after Remove: %s %s; want 404", url, resp.Status, body)
		}
	}
}

// TestIPFSNetworkDHT runs a loopback DHT: a server peer that hubd and an
// independent node bootstrap from. The node finds hubd as a provider of a
// bucket's root, fetches it over bitswap, and resolves the bucket's name
// through the DHT to the current root.
func TestIPFSNetworkDHT(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	boot := newDHTPeer(t, dht.ModeServer)
	bootAddr := boot.h.Addrs()[0].String() + "/p2p/" + boot.h.ID().String()

	h := testhub.Start(t, func(c *daemon.Config) { c.IPFSBootstrap = []string{bootAddr} })
	w := newBucketsUser(t, h, "dht")
	created, err := w.bc.Create(w.ctx, "on the dht", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data := randomData(300 << 10)
	pushed, err := w.bc.PushPath(w.ctx, created.Root.Key, "file.bin", bytes.NewReader(data), created.Root.Path)
	if err != nil {
		t.Fatal(err)
	}
	root := mustCid(t, pushed.Root.Path)
	hubID, err := peer.AddrInfoFromString(h.Addrs.P2P[0])
	if err != nil {
		t.Fatal(err)
	}

	node := newDHTPeer(t, dht.ModeClient)
	node.connectTo(t, ctx, boot.h)
	// The announcement happens in the background: poll until it lands.
	var found bool
	for !found {
		if ctx.Err() != nil {
			t.Fatalf("hubd never appeared as a provider of %s on the DHT", root)
		}
		for ai := range node.dht.FindProvidersAsync(ctx, root, 10) {
			if ai.ID == hubID.ID {
				found = true
			}
		}
		pause(ctx)
	}
	p := node.ipfsPeer
	p.connect(t, ctx, h.Addrs.P2P)
	if got := cat(t, ctx, p.dag, root, "file.bin"); !bytes.Equal(got, data) {
		t.Errorf("file.bin found through the DHT: %d bytes, not the %d pushed", len(got), len(data))
	}

	name, err := ipns.NameFromString(created.Root.Key)
	if err != nil {
		t.Fatal(err)
	}
	for {
		raw, err := node.dht.GetValue(ctx, string(name.RoutingKey()))
		if err == nil {
			rec, err := ipns.UnmarshalRecord(raw)
			if err != nil {
				t.Fatal(err)
			}
			if err := ipns.ValidateWithName(rec, name); err != nil {
				t.Fatalf("record from the DHT: %v", err)
			}
			if v, _ := recordState(t, rec); v == pushed.Root.Path {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("the DHT never resolved %s to %s (last error %v)", name, pushed.Root.Path, err)
		}
		pause(ctx)
	}
}

// pause waits a moment between polls, or until ctx ends.
func pause(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(20 * time.Millisecond):
	}
}

// dhtPeer is an ipfsPeer that also runs a DHT.
type dhtPeer struct {
	*ipfsPeer
	dht *dht.IpfsDHT
}

func newDHTPeer(t *testing.T, mode dht.ModeOpt) *dhtPeer {
	t.Helper()
	p := newIPFSPeer(t)
	d, err := dht.New(p.h, dht.Mode(mode))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return &dhtPeer{ipfsPeer: p, dht: d}
}

// connectTo connects to other and waits until other is in the DHT's
// routing table.
func (p *dhtPeer) connectTo(t *testing.T, ctx context.Context, other host.Host) {
	t.Helper()
	if err := p.h.Connect(ctx, peer.AddrInfo{ID: other.ID(), Addrs: other.Addrs()}); err != nil {
		t.Fatal(err)
	}
	for p.dht.RoutingTable().Find(other.ID()) == "" {
		if ctx.Err() != nil {
			t.Fatalf("%s never entered the routing table", other.ID())
		}
		pause(ctx)
	}
}

// TestIPFSConfigErrors checks that bad IPFS settings are refused with a
// message that names the setting.
func TestIPFSConfigErrors(t *testing.T) {
	cases := []struct {
		name, flag, want string
	}{
		{"dht mode", "--ipfs-dht=sometimes", "ipfs-dht"},
		{"bootstrap not a multiaddr", "--ipfs-bootstrap=example.org:4001", "ipfs-bootstrap"},
		{"bootstrap without peer ID", "--ipfs-bootstrap=/ip4/192.0.2.1/tcp/4001", "/p2p/<peer ID>"},
		{"validity too short", "--ipns-validity=1s", "ipns-validity"},
		{"negative ttl", "--ipns-ttl=-1s", "ipns-ttl"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := daemon.LoadConfig([]string{"--repo", t.TempDir(), c.flag}, func(string) string { return "" })
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("LoadConfig(%s) = %v; want an error mentioning %q", c.flag, err, c.want)
			}
		})
	}
}

// TestIPNSRecordSignedAgain checks that records are signed again before
// they expire: a hub whose records were signed for a minute, restarted
// with the default validity, signs them again at once, with the bucket's
// current root and a higher sequence number.
func TestIPNSRecordSignedAgain(t *testing.T) {
	h := testhub.Start(t, func(c *daemon.Config) { c.IPNSValidity = time.Minute })
	w := newBucketsUser(t, h, "resign")
	created, err := w.bc.Create(w.ctx, "short-lived", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key := created.Root.Key
	rec, _ := ipnsRecord(t, "http://"+h.Addrs.Gateway+"/ipns/"+key+"?format=ipns-record", key)
	_, seq := recordState(t, rec)
	if eol, _ := rec.Validity(); time.Until(eol) > time.Minute {
		t.Fatalf("valid until %s; want a minute from now", eol)
	}

	h.Config.IPNSValidity = ipfsnet.DefaultValidity
	h.Restart()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := "http://" + h.Addrs.Gateway + "/ipns/" + key + "?format=ipns-record"
	for {
		rec, _ = ipnsRecord(t, url, key)
		if v, s := recordState(t, rec); s > seq {
			if v != created.Root.Path {
				t.Errorf("signed again naming %s; the bucket is at %s", v, created.Root.Path)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the record was never signed again")
		}
		pause(ctx)
	}
	if eol, _ := rec.Validity(); time.Until(eol) < ipfsnet.DefaultValidity-time.Hour {
		t.Errorf("signed again valid until %s; want about %s from now", eol, ipfsnet.DefaultValidity)
	}
}

// BenchmarkBucketPushSmall pushes a 1 KiB file per operation over gRPC:
// the push whose time a per-change cost, such as signing and storing the
// bucket's IPNS record, shows most in.
func BenchmarkBucketPushSmall(b *testing.B) {
	w := newBucketsWorld(b, "pushsmall")
	created, err := w.bc.Create(w.ctx, "small", bucketsclient.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	root := created.Root.Path
	data := randomData(1 << 10)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		pushed, err := w.bc.PushPath(w.ctx, created.Root.Key, "f.bin", bytes.NewReader(data), root)
		if err != nil {
			b.Fatal(err)
		}
		root = pushed.Root.Path
	}
}
