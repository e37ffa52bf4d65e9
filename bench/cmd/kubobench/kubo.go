package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/selfhub/hub/errors"
)

// kubo is a kubo daemon child process with its own repo.
type kubo struct {
	*process
	bin     string
	repo    string // IPFS_PATH
	gateway string // host:port
}

// startKubo initialises a fresh repo under work with the test profile
// (loopback only, random ports, no bootstrap) and the unixfs-v1-2025 import
// profile, turns on flatfs sync so blocks are on disk when `ipfs add`
// returns (as hubd syncs its blocks), and starts the daemon offline.
func startKubo(ctx context.Context, bin, work string) (*kubo, error) {
	const op errors.Op = "kubobench.startKubo"
	k := &kubo{bin: bin, repo: filepath.Join(work, "kubo-repo")}
	if _, err := k.ipfs(ctx, "init", "--empty-repo", "--profile", "test,unixfs-v1-2025"); err != nil {
		return nil, err
	}
	if err := k.syncFlatfs(); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "daemon", "--offline")
	cmd.Env = k.env()
	p, err := startProcess(cmd, filepath.Join(work, "kubo.log"), func(line string) (bool, error) {
		if addr, ok := strings.CutPrefix(line, "Gateway server listening on "); ok {
			hostPort, err := tcpHostPort(addr)
			k.gateway = hostPort
			return false, err
		}
		return line == "Daemon is ready", nil
	})
	if err != nil {
		return nil, err
	}
	k.process = p
	if k.gateway == "" {
		k.stop()
		return nil, errors.E(op, errors.Internal, "kubo was ready without saying where its gateway listens")
	}
	out, _ := k.ipfs(ctx, "version")
	logf("kubo ready: %s, gateway %s, repo %s", strings.TrimSpace(out), k.gateway, k.repo)
	return k, nil
}

// syncFlatfs sets "sync": true on the repo's flatfs mount (kubo's default
// is false since it leans on the OS to write blocks back).
func (k *kubo) syncFlatfs() error {
	const op errors.Op = "kubobench.syncFlatfs"
	path := filepath.Join(k.repo, "config")
	raw, err := os.ReadFile(path)
	if err != nil {
		return errors.E(op, errors.Internal, err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return errors.E(op, errors.Internal, err)
	}
	ds, _ := cfg["Datastore"].(map[string]any)
	spec, _ := ds["Spec"].(map[string]any)
	mounts, _ := spec["mounts"].([]any)
	found := false
	for _, m := range mounts {
		if m, ok := m.(map[string]any); ok && m["type"] == "flatfs" {
			m["sync"] = true
			found = true
		}
	}
	if !found {
		return errors.Errorf(op, errors.Internal, "no flatfs mount in %s; kubo's default datastore layout changed", path)
	}
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return errors.E(op, errors.Internal, err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		return errors.E(op, errors.Internal, err)
	}
	return nil
}

// add runs `ipfs add` of the file at path through the daemon and returns
// the CID.
func (k *kubo) add(ctx context.Context, path string) (string, error) {
	out, err := k.ipfs(ctx, "add", "--quieter", path)
	return strings.TrimSpace(out), err
}

// addDir runs `ipfs add -r` of dir through the daemon and returns the
// directory's CID.
func (k *kubo) addDir(ctx context.Context, dir string) (string, error) {
	out, err := k.ipfs(ctx, "add", "-r", "--quieter", dir)
	return strings.TrimSpace(out), err
}

// gatewayGet reads /ipfs/<cid> from kubo's gateway.
func (k *kubo) gatewayGet(ctx context.Context, cid string) (int64, error) {
	return httpGet(ctx, "http://"+k.gateway+"/ipfs/"+cid)
}

// ipfs runs the ipfs command on the repo and returns its standard output.
func (k *kubo) ipfs(ctx context.Context, args ...string) (string, error) {
	const op errors.Op = "kubobench.ipfs"
	cmd := exec.CommandContext(ctx, k.bin, args...)
	cmd.Env = k.env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", errors.Errorf(op, errors.Internal, "ipfs %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// env is the environment of every ipfs command: ours with IPFS_PATH set.
func (k *kubo) env() []string { return append(os.Environ(), "IPFS_PATH="+k.repo) }

// tcpHostPort turns /ip4/<host>/tcp/<port> into host:port.
func tcpHostPort(addr string) (string, error) {
	const op errors.Op = "kubobench.tcpHostPort"
	f := strings.Split(strings.TrimSpace(addr), "/")
	if len(f) != 5 || f[0] != "" || f[1] != "ip4" || f[3] != "tcp" {
		return "", errors.Errorf(op, errors.Internal, "kubo's gateway address %q is not /ip4/<host>/tcp/<port>", addr)
	}
	return f[2] + ":" + f[4], nil
}
