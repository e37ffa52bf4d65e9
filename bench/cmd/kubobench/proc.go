package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/selfhub/hub/errors"
)

// process is a daemon we started.
type process struct {
	cmd  *exec.Cmd
	log  *os.File      // where its output goes
	done chan struct{} // closed when it has exited
}

// pid is the daemon's process ID.
func (p *process) pid() int { return p.cmd.Process.Pid }

// stop asks the daemon to shut down and waits for it, killing it if it
// does not end within 30 seconds.
func (p *process) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}

// peakRSS returns the peak resident memory of process pid, in bytes
// (VmHWM in /proc/<pid>/status, Linux).
func peakRSS(pid int) (int64, error) {
	const op errors.Op = "kubobench.peakRSS"
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, errors.Errorf(op, errors.Internal, "read process status (Linux only): %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" && f[2] == "kB" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, errors.E(op, errors.Internal, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.Errorf(op, errors.Internal, "no VmHWM line in /proc/%d/status", pid)
}

// resetPeakRSS makes the kernel start counting process pid's peak resident
// memory afresh (Linux: 5 to /proc/<pid>/clear_refs).
func resetPeakRSS(pid int) error {
	const op errors.Op = "kubobench.resetPeakRSS"
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return errors.Errorf(op, errors.Internal, "reset the peak memory count (Linux only): %v", err)
	}
	return nil
}

// startProcess starts cmd with its output written to logPath and passes
// each line of output to ready until ready returns true (the daemon is up)
// or a non-nil error. It fails if the daemon exits first or is not ready
// within a minute.
func startProcess(cmd *exec.Cmd, logPath string, ready func(line string) (bool, error)) (*process, error) {
	const op errors.Op = "kubobench.startProcess"
	name := cmd.Path
	log, err := os.Create(logPath)
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		log.Close()
		return nil, errors.E(op, errors.Internal, err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		log.Close()
		pr.Close()
		pw.Close()
		return nil, errors.Errorf(op, errors.Internal, "start %s: %v", name, err)
	}
	pw.Close()
	p := &process{cmd: cmd, log: log, done: make(chan struct{})}
	up := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		waiting := true
		for sc.Scan() {
			log.Write(append(sc.Bytes(), '\n'))
			if waiting {
				ok, err := ready(sc.Text())
				if ok || err != nil {
					up <- err
					waiting = false
				}
			}
		}
		io.Copy(log, pr) // a line too long for the scanner
		pr.Close()
	}()
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	select {
	case err := <-up:
		if err != nil {
			p.stop()
			return nil, errors.E(op, errors.Internal, err)
		}
		return p, nil
	case <-p.done:
		p.log.Close()
		return nil, errors.Errorf(op, errors.Internal, "%s exited before it was ready (%v); see %s", name, cmd.ProcessState, logPath)
	case <-time.After(time.Minute):
		p.stop()
		return nil, errors.Errorf(op, errors.Internal, "%s was not ready within a minute; see %s", name, logPath)
	}
}
