package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/selfhub/hub/errors"
)

// limits are what the machine allows, whoever does the work: both daemons
// hash every byte with SHA-256 (CIDs) and write it to disk, synced.
type limits struct {
	sha256 float64 // MB/s on one core
	disk   float64 // MB/s of a 1 GiB write with fsync at the end
}

// measureLimits times SHA-256 over 256 MiB and `dd conv=fsync` of 1 GiB
// into work.
func measureLimits(ctx context.Context, work string) (limits, error) {
	const op errors.Op = "kubobench.measureLimits"
	var l limits
	buf := make([]byte, 1<<20)
	const rounds = 256
	start := time.Now()
	h := sha256.New()
	for range rounds {
		h.Write(buf)
	}
	h.Sum(nil)
	l.sha256 = mbps(rounds<<20, time.Since(start))

	path := filepath.Join(work, "dd.bin")
	defer os.Remove(path)
	cmd := exec.CommandContext(ctx, "dd", "if=/dev/zero", "of="+path, "bs=1M", "count=1024", "conv=fsync")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start = time.Now()
	if err := cmd.Run(); err != nil {
		return l, errors.Errorf(op, errors.Internal, "dd: %v: %s", err, stderr.String())
	}
	l.disk = mbps(1<<30, time.Since(start))
	// Prefer dd's own figure, which leaves out its start-up.
	if m := ddRate.FindStringSubmatch(stderr.String()); m != nil {
		if secs, err := strconv.ParseFloat(m[1], 64); err == nil && secs > 0 {
			l.disk = float64(1<<30) / 1e6 / secs
		}
	}
	return l, nil
}

// ddRate finds the seconds in GNU dd's summary line.
var ddRate = regexp.MustCompile(`copied, ([0-9.]+) s`)

// mbps is n bytes in d, in MB/s (10^6 bytes).
func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }
