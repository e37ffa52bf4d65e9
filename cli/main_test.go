package cli

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/selfhub/hub/test/testhub"
)

// runCLIEnv, set in its environment, makes the test binary the hub
// command: see TestMain.
const runCLIEnv = "HUB_TEST_RUN_CLI"

// TestMain runs the tests with testhub's binaries (testhub.Main), and
// lets the test binary stand in for the hub binary, to measure it. With runCLIEnv set it runs the hub command on its arguments, then
// writes its peak resident size on the last line of stderr, "VmHWM <n>"
// in bytes. It reads VmHWM, which starts afresh with the new program,
// because the rusage a parent gets back is seeded by Linux with the
// parent's own peak (os/exec starts children with vfork).
func TestMain(m *testing.M) {
	if os.Getenv(runCLIEnv) == "" {
		os.Exit(testhub.Main(m))
	}
	code := Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	hwm, err := peakRSS()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Fprintf(os.Stderr, "VmHWM %d\n", hwm)
	os.Exit(code)
}

// peakRSS returns this process's peak resident size in bytes.
func peakRSS() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}
