package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// proc is one long-running poktrolld process (node, RelayMiner or AppGate)
// that the benchmark starts, kills, restarts and finally stops. Every start
// appends to the same log file, after a marker line.
//
// An exit the benchmark did not ask for (a crash, or the process giving up)
// is recorded and handed to onCrash.
type proc struct {
	name    string
	bin     string
	args    []string
	logPath string
	// onCrash is called, in a goroutine of its own, when the process exits
	// on its own; it may call restartAfterCrash.
	onCrash func(p *proc, crashed *exec.Cmd, err error)

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed once cmd has exited
	expected bool          // the current process is being stopped on purpose
	stopping bool          // final stop: never start again
	starts   int
	crashes  []string // one line per unexpected exit
}

// start starts the process (again).
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.startLocked()
}

func (p *proc) startLocked() error {
	if p.stopping {
		return errors.New(p.name + " is being stopped")
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(f, "\n===== faults: start #%d of %s at %s =====\n", p.starts, p.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.expected = cmd, done, false
	go p.watch(cmd, done, f)
	return nil
}

// watch waits for cmd to exit and reports exits nobody asked for.
func (p *proc) watch(cmd *exec.Cmd, done chan struct{}, log *os.File) {
	err := cmd.Wait()
	fmt.Fprintf(log, "===== faults: %s (pid %d) exited: %v =====\n", p.name, cmd.Process.Pid, exitText(err))
	log.Close()
	close(done)

	p.mu.Lock()
	unexpected := p.cmd == cmd && !p.expected && !p.stopping
	if unexpected {
		p.crashes = append(p.crashes, fmt.Sprintf("%s pid %d exited on its own: %s", time.Now().Format("15:04:05"), cmd.Process.Pid, exitText(err)))
	}
	p.mu.Unlock()
	if unexpected && p.onCrash != nil {
		p.onCrash(p, cmd, err)
	}
}

// restartAfterCrash starts the process again after delay, unless it was
// started or stopped meanwhile.
func (p *proc) restartAfterCrash(crashed *exec.Cmd, delay time.Duration) error {
	time.Sleep(delay)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != crashed || p.stopping {
		return nil
	}
	return p.startLocked()
}

// current returns the running command (nil before the first start).
func (p *proc) current() *exec.Cmd {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd
}

func (p *proc) pid() int {
	if cmd := p.current(); cmd != nil && cmd.Process != nil {
		return cmd.Process.Pid
	}
	return 0
}

// signalAndWaitLocked sends sig to the running process and waits for it to exit;
// after grace it sends SIGKILL. The caller holds p.mu.
func (p *proc) signalAndWaitLocked(sig syscall.Signal, grace time.Duration) {
	if p.cmd == nil || exited(p.done) {
		return
	}
	p.expected = true
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// kill9AndRestart is the RelayMiner fault: SIGKILL, then an immediate
// restart with the same arguments (same config, same store).
func (p *proc) kill9AndRestart() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.signalAndWaitLocked(syscall.SIGKILL, time.Minute)
	return p.startLocked()
}

// stop stops the process with sig (SIGKILL after grace) and leaves it
// stopped; start brings it back.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.signalAndWaitLocked(sig, grace)
}

// shutdown is the final stop: SIGTERM, SIGKILL after 15s, never restarted.
func (p *proc) shutdown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopping = true
	p.signalAndWaitLocked(syscall.SIGTERM, 15*time.Second)
}

// crashList returns the unexpected exits recorded so far.
func (p *proc) crashList() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.crashes...)
}

func exited(done chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

func exitText(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

// waitHTTP polls url until it answers 200, for at most timeout.
func waitHTTP(parent context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return parent.Err()
			}
			return fmt.Errorf("%s not answering 200 after %s", url, timeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
