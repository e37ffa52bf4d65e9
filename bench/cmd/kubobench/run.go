package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/selfhub/hub/errors"
)

// run builds both daemons, starts them, runs o.reps repetitions of every
// workload and prints the table.
func run(ctx context.Context, o options) error {
	const op errors.Op = "kubobench.run"
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	if o.ipfs == "" {
		if o.ipfs, err = buildKubo(ctx, root); err != nil {
			return err
		}
	}
	work := o.dir
	if work == "" {
		if work, err = os.MkdirTemp("", "kubobench-"); err != nil {
			return errors.E(op, errors.Internal, err)
		}
		defer os.RemoveAll(work)
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return errors.E(op, errors.Internal, err)
	}
	if o.hubd == "" {
		logf("building hubd from %s", root)
		o.hubd = filepath.Join(work, "hubd")
		if err := command(ctx, root, "go", "build", "-o", o.hubd, "./cmd/hubd").Run(); err != nil {
			return errors.Errorf(op, errors.Internal, "go build ./cmd/hubd: %v; fix the build and run again", err)
		}
	}

	lim, err := measureLimits(ctx, work)
	if err != nil {
		return err
	}
	logf("limits: SHA-256 %.0f MB/s on one core, disk write with fsync %.0f MB/s", lim.sha256, lim.disk)

	h, err := startHub(ctx, o.hubd, work)
	if err != nil {
		return err
	}
	defer h.stop()
	k, err := startKubo(ctx, o.ipfs, work)
	if err != nil {
		return err
	}
	defer k.stop()

	var res results
	for rep := 0; rep < o.reps; rep++ {
		if err := runRep(ctx, o, work, rep, h, k, &res); err != nil {
			return err
		}
	}
	res.print(os.Stdout, o, lim, o.ipfs)
	if len(res.cidMismatch) > 0 {
		return errors.Errorf(op, errors.Internal, "the hub and kubo made different CIDs for the same data:\n%s",
			strings.Join(res.cidMismatch, "\n"))
	}
	return nil
}

// runRep runs every workload once, on fresh data, and adds the timings to
// res. Odd repetitions run the two sides of each workload in the opposite
// order, so that neither always goes first on a machine whose load drifts.
func runRep(ctx context.Context, o options, work string, rep int, h *hubd, k *kubo, res *results) error {
	const op errors.Op = "kubobench.runRep"
	logf("repetition %d of %d", rep+1, o.reps)
	bucket, err := h.newBucket(ctx, fmt.Sprintf("bench%d", rep))
	if err != nil {
		return err
	}

	big := filepath.Join(work, fmt.Sprintf("big-%d.bin", rep))
	if err := writeRandomFile(big, o.size, uint64(rep)); err != nil {
		return err
	}
	defer os.Remove(big)
	var hubCid, kuboCid string
	err = res.steps(rep, o.size,
		step{"push", "hub", h.pid(), func() (err error) {
			hubCid, err = h.pushFile(ctx, bucket, "big.bin", big)
			return err
		}},
		step{"push", "kubo", k.pid(), func() (err error) {
			kuboCid, err = k.add(ctx, big)
			return err
		}})
	if err != nil {
		return err
	}
	res.sameCid("large file", hubCid, kuboCid)
	read := func(side, what string, get func() (int64, error)) func() error {
		return func() error {
			n, err := get()
			if err == nil && n != o.size {
				err = errors.Errorf(op, errors.Internal, "%s %s read %d bytes of a %d-byte file", side, what, n, o.size)
			}
			return err
		}
	}
	err = res.steps(rep, o.size,
		step{"pull", "hub", h.pid(), read("hub", "PullPath", func() (int64, error) { return h.pull(ctx, bucket, "big.bin") })},
		step{"gateway", "hub", h.pid(), read("hub", "gateway", func() (int64, error) { return h.gatewayGet(ctx, hubCid) })},
		step{"gateway", "kubo", k.pid(), read("kubo", "gateway", func() (int64, error) { return k.gatewayGet(ctx, kuboCid) })})
	if err != nil {
		return err
	}
	if err := os.Remove(big); err != nil {
		return errors.E(op, errors.Internal, err)
	}

	small := filepath.Join(work, fmt.Sprintf("small-%d", rep))
	names, err := writeSmallFiles(small, o.files, o.fileSize, uint64(rep))
	if err != nil {
		return err
	}
	defer os.RemoveAll(small)
	var hubDir, kuboDir string
	err = res.steps(rep, int64(o.files)*int64(o.fileSize),
		step{"small", "hub", h.pid(), func() (err error) {
			hubDir, err = h.pushDir(ctx, bucket, "small", small, names)
			return err
		}},
		step{"small", "kubo", k.pid(), func() (err error) {
			kuboDir, err = k.addDir(ctx, small)
			return err
		}})
	if err != nil {
		return err
	}
	res.sameCid("small-file directory", hubDir, kuboDir)
	return nil
}

// moduleRoot returns the directory of this tree's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	const op errors.Op = "kubobench.moduleRoot"
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.Errorf(op, errors.Invalid,
			"cannot find the hub module (go env GOMOD: %q, %v); run kubobench from inside the hub tree", gomod, err)
	}
	return filepath.Dir(gomod), nil
}

// buildKubo runs bench/kubo/build.sh and returns the ipfs binary it names
// on its last line of output.
func buildKubo(ctx context.Context, root string) (string, error) {
	const op errors.Op = "kubobench.buildKubo"
	logf("building kubo with bench/kubo/build.sh (cached after the first time)")
	cmd := command(ctx, root, filepath.Join(root, "bench", "kubo", "build.sh"))
	cmd.Stdout = nil
	out, err := cmd.Output()
	if err != nil {
		return "", errors.Errorf(op, errors.Internal, "bench/kubo/build.sh failed (%v); its messages are above", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1], nil
}

// command returns cmd with its output going to our stderr, run in dir.
func command(ctx context.Context, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	return cmd
}

// logf reports progress on stderr; the table goes to stdout.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kubobench: "+format+"\n", args...)
}
