package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"syscall"
	"time"
)

// results gathers the timings of every repetition.
type results struct {
	// runs holds, per workload and side ("hub", "kubo"), the MB/s of each
	// repetition.
	runs map[string]map[string][]float64
	// rss holds, per workload and side, the highest peak resident memory
	// of the daemon during one run, in bytes.
	rss         map[string]map[string]int64
	cidSame     map[string]int // per thing compared: how many times the CIDs matched
	cidMismatch []string
}

// step is one timed run of a workload by one side.
type step struct {
	workload, side string
	pid            int // the daemon doing the work
	fn             func() error
}

// steps runs each of steps, in reverse order on odd repetitions, and
// records them; each moves n bytes.
func (r *results) steps(rep int, n int64, steps ...step) error {
	if rep%2 == 1 {
		slices.Reverse(steps)
	}
	for _, s := range steps {
		if err := r.run(s, n); err != nil {
			return err
		}
	}
	return nil
}

// run times s, moving n bytes, and records its rate and the peak resident
// memory of its daemon during it. Written data is synced to disk first, so
// that no step pays for the writeback of the one before.
func (r *results) run(s step, n int64) error {
	workload, side, pid, fn := s.workload, s.side, s.pid, s.fn
	syscall.Sync()
	if err := resetPeakRSS(pid); err != nil {
		return err
	}
	start := time.Now()
	if err := fn(); err != nil {
		return err
	}
	d := time.Since(start)
	rss, err := peakRSS(pid)
	if err != nil {
		return err
	}
	if r.runs == nil {
		r.runs = map[string]map[string][]float64{}
		r.rss = map[string]map[string]int64{}
	}
	if r.runs[workload] == nil {
		r.runs[workload] = map[string][]float64{}
		r.rss[workload] = map[string]int64{}
	}
	r.runs[workload][side] = append(r.runs[workload][side], mbps(n, d))
	r.rss[workload][side] = max(r.rss[workload][side], rss)
	logf("  %-8s %-4s %8.1f MB/s (%v), peak RSS %d MiB", workload, side, mbps(n, d), d.Round(time.Millisecond), rss>>20)
	return nil
}

// sameCid records whether both sides made the same CID for what.
func (r *results) sameCid(what, hub, kubo string) {
	if hub == kubo {
		if r.cidSame == nil {
			r.cidSame = map[string]int{}
		}
		r.cidSame[what]++
		return
	}
	r.cidMismatch = append(r.cidMismatch, fmt.Sprintf("%s: hub %s, kubo %s", what, hub, kubo))
}

// median returns the median of xs and its range.
func median(xs []float64) (med, lo, hi float64) {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}

// print writes the Markdown table of medians and ratios, then the CID
// checks, the memory and the limits.
func (r *results) print(w io.Writer, o options, lim limits, ipfs string) {
	fmt.Fprintf(w, "\n%d repetition(s); median (min–max); MB/s = 10^6 bytes/s; ratio = hub/kubo within each repetition"+
		" (the two ran back to back), > 1 means the hub is faster; peak RSS = the daemon's highest during the step, over all repetitions.\n\n", o.reps)
	fmt.Fprintln(w, "| workload | hub | kubo | ratio | peak RSS hub / kubo |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	rows := []struct{ hubCase, kuboCase, name string }{
		{"push", "push", fmt.Sprintf("%s file: Go client PushPath over gRPC vs `ipfs add`", size(o.size))},
		{"small", "small", fmt.Sprintf("%d files of %s: one PushPaths vs `ipfs add -r`", o.files, size(int64(o.fileSize)))},
		{"pull", "gateway", fmt.Sprintf("%s file: hub PullPath over gRPC vs kubo gateway GET", size(o.size))},
		{"gateway", "gateway", fmt.Sprintf("%s file: gateway GET /ipfs/<cid>, hub vs kubo", size(o.size))},
	}
	for _, row := range rows {
		hub, hlo, hhi := median(r.runs[row.hubCase]["hub"])
		kubo, klo, khi := median(r.runs[row.kuboCase]["kubo"])
		unit := "MB/s"
		if row.hubCase == "small" { // files/s says more than MB/s for small files
			perFile := 1e6 / float64(o.fileSize)
			hub, hlo, hhi, kubo, klo, khi = hub*perFile, hlo*perFile, hhi*perFile, kubo*perFile, klo*perFile, khi*perFile
			unit = "files/s"
		}
		ratio, rlo, rhi := median(ratios(r.runs[row.hubCase]["hub"], r.runs[row.kuboCase]["kubo"]))
		fmt.Fprintf(w, "| %s | %.0f (%.0f–%.0f) %s | %.0f (%.0f–%.0f) %s | %.2f (%.2f–%.2f) | %d / %d MiB |\n",
			row.name, hub, hlo, hhi, unit, kubo, klo, khi, unit, ratio, rlo, rhi,
			r.rss[row.hubCase]["hub"]>>20, r.rss[row.kuboCase]["kubo"]>>20)
	}
	var peak [2]int64
	for _, bySide := range r.rss {
		peak[0], peak[1] = max(peak[0], bySide["hub"]), max(peak[1], bySide["kubo"])
	}
	fmt.Fprintf(w, "| whole run: peak RSS of each daemon | | | | %d / %d MiB |\n", peak[0]>>20, peak[1]>>20)
	fmt.Fprintln(w)
	for _, what := range slices.Sorted(maps.Keys(r.cidSame)) {
		fmt.Fprintf(w, "- %s: the same CID on both in %d of %d repetitions\n", what, r.cidSame[what], o.reps)
	}
	for _, c := range r.cidMismatch {
		fmt.Fprintln(w, "- different CIDs: "+c)
	}
	fmt.Fprintf(w, "- limits: SHA-256 on one core %.0f MB/s; disk write, 1 GiB with `dd conv=fsync`, %.0f MB/s\n", lim.sha256, lim.disk)
	fmt.Fprintf(w, "- kubo: %s\n", ipfs)
}

// ratios returns hub[i]/kubo[i] for each repetition i.
func ratios(hub, kubo []float64) []float64 {
	out := make([]float64, min(len(hub), len(kubo)))
	for i := range out {
		out[i] = hub[i] / kubo[i]
	}
	return out
}

// size formats n bytes in binary units.
func size(n int64) string {
	for _, u := range []struct {
		name  string
		shift uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d B", n)
}
