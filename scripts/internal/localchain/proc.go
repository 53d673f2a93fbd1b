package localchain

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Proc is one long-running poktrolld process (node, RelayMiner or AppGate)
// that a program starts, may kill and restart, and finally stops. Every
// start appends to the same log file, after a marker line.
//
// An exit the program did not ask for (a crash, or the process giving up)
// is recorded and handed to OnCrash.
type Proc struct {
	Name    string
	Bin     string
	Args    []string
	LogPath string
	Tag     string // the program's name, in the log's marker lines
	// OnCrash is called, in a goroutine of its own, when the process exits
	// on its own; it may call RestartAfterCrash.
	OnCrash func(p *Proc, crashed *exec.Cmd, err error)

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed once cmd has exited
	expected bool          // the current process is being stopped on purpose
	stopping bool          // final stop: never start again
	starts   int
	crashes  []string // one line per unexpected exit
}

// Start starts the process (again).
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.startLocked()
}

func (p *Proc) startLocked() error {
	if p.stopping {
		return errors.New(p.Name + " is being stopped")
	}
	f, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(f, "\n===== %s: start #%d of %s at %s =====\n", p.Tag, p.starts, p.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.Bin, p.Args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.expected = cmd, done, false
	go p.watch(cmd, done, f)
	return nil
}

// watch waits for cmd to exit and reports exits nobody asked for.
func (p *Proc) watch(cmd *exec.Cmd, done chan struct{}, log *os.File) {
	err := cmd.Wait()
	fmt.Fprintf(log, "===== %s: %s (pid %d) exited: %v =====\n", p.Tag, p.Name, cmd.Process.Pid, ExitText(err))
	log.Close()
	close(done)

	p.mu.Lock()
	unexpected := p.cmd == cmd && !p.expected && !p.stopping
	if unexpected {
		p.crashes = append(p.crashes, fmt.Sprintf("%s pid %d exited on its own: %s", time.Now().Format("15:04:05"), cmd.Process.Pid, ExitText(err)))
	}
	p.mu.Unlock()
	if unexpected && p.OnCrash != nil {
		p.OnCrash(p, cmd, err)
	}
}

// RestartAfterCrash starts the process again after delay, unless it was
// started or stopped meanwhile.
func (p *Proc) RestartAfterCrash(crashed *exec.Cmd, delay time.Duration) error {
	time.Sleep(delay)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != crashed || p.stopping {
		return nil
	}
	return p.startLocked()
}

// Current returns the running command (nil before the first start).
func (p *Proc) Current() *exec.Cmd {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd
}

// PID is the pid of the current process (0 before the first start).
func (p *Proc) PID() int {
	if cmd := p.Current(); cmd != nil && cmd.Process != nil {
		return cmd.Process.Pid
	}
	return 0
}

// ExitedOnItsOwn reports whether the current process has exited without
// being asked to.
func (p *Proc) ExitedOnItsOwn() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done != nil && exited(p.done) && !p.expected
}

// signalAndWaitLocked sends sig to the running process and waits for it to
// exit; after grace it sends SIGKILL. The caller holds p.mu.
func (p *Proc) signalAndWaitLocked(sig syscall.Signal, grace time.Duration) {
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

// Kill9AndRestart sends SIGKILL, then starts the process again at once with
// the same arguments.
func (p *Proc) Kill9AndRestart() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.signalAndWaitLocked(syscall.SIGKILL, time.Minute)
	return p.startLocked()
}

// Stop stops the process with sig (SIGKILL after grace) and leaves it
// stopped; Start brings it back.
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.signalAndWaitLocked(sig, grace)
}

// Shutdown is the final stop: SIGTERM, SIGKILL after 15s, never restarted.
func (p *Proc) Shutdown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopping = true
	p.signalAndWaitLocked(syscall.SIGTERM, 15*time.Second)
}

// Crashes returns the unexpected exits recorded so far.
func (p *Proc) Crashes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.crashes...)
}

// Started returns those of procs that were started (nil ones are skipped),
// in order: what a program stops on exit.
func Started(procs ...*Proc) []*Proc {
	var out []*Proc
	for _, p := range procs {
		if p != nil && p.Current() != nil {
			out = append(out, p)
		}
	}
	return out
}

func exited(done chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// ExitText describes how a process exited.
func ExitText(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}
