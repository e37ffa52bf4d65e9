package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"

	"google.golang.org/grpc"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
)

// hubd is a hubd child process and a developer on it.
type hubd struct {
	*process
	*hubClient
}

// hubClient is a developer on a hub with an account key (insecure: no
// signature) and a DB named "buckets", as an app would use.
type hubClient struct {
	gateway string // host:port
	conn    *grpc.ClientConn
	key     string // the account key
	db      string // the DB's thread ID
	bc      *bucketsclient.Client
}

// startHub starts bin on a fresh repo under work, on loopback ports, and
// signs up a developer.
func startHub(ctx context.Context, bin, work string) (*hubd, error) {
	const op errors.Op = "kubobench.startHub"
	repo := filepath.Join(work, "hubd-repo")
	cmd := exec.CommandContext(ctx, bin, "--repo", repo, "--dev",
		"--api-addr", "127.0.0.1:0", "--web-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0", "--s3-addr", "127.0.0.1:0",
		"--p2p-addr", "/ip4/127.0.0.1/tcp/0", "--log-format", "json")
	var api, gateway string
	p, err := startProcess(cmd, filepath.Join(work, "hubd.log"), func(line string) (bool, error) {
		var rec struct{ Msg, API, Gateway string }
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "hubd ready" {
			return false, nil
		}
		api, gateway = rec.API, rec.Gateway
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	c, err := signup(ctx, api, gateway)
	if err != nil {
		p.stop()
		return nil, errors.E(op, err)
	}
	logf("hubd ready: gRPC %s, gateway %s, repo %s", api, gateway, repo)
	return &hubd{process: p, hubClient: c}, nil
}

// stop closes the connection and stops the daemon.
func (h *hubd) stop() {
	h.conn.Close()
	h.process.stop()
}

// signup makes a developer with an account key and a "buckets" DB on the
// hub at api (gRPC) and gateway (HTTP), both host:port.
func signup(ctx context.Context, api, gateway string) (*hubClient, error) {
	conn, err := client.Dial(ctx, api)
	if err != nil {
		return nil, err
	}
	c := &hubClient{gateway: gateway, conn: conn, bc: bucketsclient.New(conn)}
	if err := c.register(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// register signs up, makes the key and the DB.
func (h *hubClient) register(ctx context.Context) error {
	hc := hubclient.New(h.conn)
	sess, err := hc.Signup(ctx, "bench", "bench@example.com")
	if err != nil {
		return err
	}
	k, err := hc.CreateKey(client.WithSession(ctx, sess.ID), hub.AccountKey, false)
	if err != nil {
		return err
	}
	h.key = k.Key
	id, err := threadsclient.New(h.conn).NewDB(h.with(ctx), "", threadsclient.DBOptions{Name: "buckets"})
	if err != nil {
		return err
	}
	h.db = id.String()
	return nil
}

// newBucket creates a bucket and returns its key.
func (h *hubClient) newBucket(ctx context.Context, name string) (string, error) {
	created, err := h.bc.Create(h.with(ctx), name, bucketsclient.CreateOptions{})
	if err != nil {
		return "", err
	}
	return created.Root.Key, nil
}

// with returns ctx carrying the developer's key and, once made, the DB.
func (h *hubClient) with(ctx context.Context) context.Context {
	ctx, _ = client.WithAPIKey(ctx, h.key, "") // fails only for a bad secret; there is none
	if h.db == "" {
		return ctx
	}
	return client.WithThread(ctx, h.db)
}

// pushFile pushes the file at src to path in the bucket and returns the
// file's CID.
func (h *hubClient) pushFile(ctx context.Context, bucket, path, src string) (string, error) {
	const op errors.Op = "kubobench.pushFile"
	f, err := os.Open(src)
	if err != nil {
		return "", errors.E(op, errors.Internal, err)
	}
	defer f.Close()
	pushed, err := h.bc.PushPath(h.with(ctx), bucket, path, f, "")
	if err != nil {
		return "", err
	}
	return pushed.Cid, nil
}

// pushDir pushes the named files of dir, in one PushPaths call, under the
// bucket's directory path and returns that directory's CID.
func (h *hubClient) pushDir(ctx context.Context, bucket, path, dir string, names []string) (string, error) {
	files := make([]bucketsclient.File, len(names))
	for i, n := range names {
		files[i] = bucketsclient.File{Path: path + "/" + n, Data: &lazyFile{path: filepath.Join(dir, n)}}
	}
	if _, _, err := h.bc.PushFiles(h.with(ctx), bucket, "", files); err != nil {
		return "", err
	}
	item, _, err := h.bc.ListPath(h.with(ctx), bucket, path)
	if err != nil {
		return "", err
	}
	return item.Cid, nil
}

// pull reads the file at path over gRPC and returns its length.
func (h *hubClient) pull(ctx context.Context, bucket, path string) (int64, error) {
	return h.bc.PullPath(h.with(ctx), bucket, path, io.Discard)
}

// gatewayGet reads /ipfs/<cid> from the hub's gateway.
func (h *hubClient) gatewayGet(ctx context.Context, cid string) (int64, error) {
	return httpGet(ctx, "http://"+h.gateway+"/ipfs/"+cid)
}

// httpGet reads url to its end and returns its length.
func httpGet(ctx context.Context, url string) (int64, error) {
	const op errors.Op = "kubobench.httpGet"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, errors.E(op, errors.Internal, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, errors.E(op, errors.Internal, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, errors.Errorf(op, errors.Internal, "GET %s: %s", url, resp.Status)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, errors.E(op, errors.Internal, err)
	}
	return n, nil
}
