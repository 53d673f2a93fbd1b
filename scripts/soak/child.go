package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
)

// minerProc is the RelayMiner process, seen from the load process.
type minerProc struct {
	cmd         *exec.Cmd
	stdin       io.WriteCloser
	stdout      chan struct{} // closed once its stdout is drained
	info        ready
	control     string // http://control-address
	client      *http.Client
	exited      chan struct{} // closed once it exited
	exitErr     error
	stdinClosed bool
}

// startMiner re-executes this program as the RelayMiner process, with the
// same flags, and waits for its ready line. gogc and memLimit, if set, are
// its GOGC and GOMEMLIMIT (the load process keeps its own).
func startMiner(backend string, appPub *secp256k1.PubKey, supKey *secp256k1.PrivKey, gogc, memLimit string) (*minerProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(),
		roleEnv+"="+roleRelayMiner,
		backendEnv+"="+backend,
		appPubKeyEnv+"="+hex.EncodeToString(appPub.Key),
		supplierKeyEnv+"="+hex.EncodeToString(supKey.Key))
	if gogc != "" {
		cmd.Env = append(cmd.Env, "GOGC="+gogc)
	}
	if memLimit != "" {
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+memLimit)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &minerProc{cmd: cmd, stdin: stdin, stdout: make(chan struct{}), exited: make(chan struct{}),
		client: &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Minute}}
	// The ready line, then anything else it prints is passed on.
	type readyLine struct {
		line string
		err  error
	}
	readyCh := make(chan readyLine, 1)
	go func() {
		defer close(p.stdout)
		br := bufio.NewReader(stdout)
		line, err := br.ReadString('\n')
		readyCh <- readyLine{line, err}
		_, _ = io.Copy(os.Stdout, br)
	}()
	go func() {
		<-p.stdout
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()
	var rerr error
	select {
	case r := <-readyCh:
		if rerr = r.err; rerr == nil {
			rerr = json.Unmarshal([]byte(r.line), &p.info)
		}
	case <-time.After(time.Minute):
		rerr = errors.New("no ready line within a minute")
	}
	if rerr != nil {
		_ = p.stop()
		return nil, fmt.Errorf("the RelayMiner process did not start (%v): %v", rerr, p.exitErr)
	}
	p.control = "http://" + p.info.Control
	return p, nil
}

// stop closes its stdin, which makes it stop and clean up, and waits for it
// to exit (killing it after a minute).
func (p *minerProc) stop() error {
	if !p.stdinClosed {
		p.stdinClosed = true
		_ = p.stdin.Close()
	}
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return errors.New("the RelayMiner process did not stop within a minute after its stdin closed; killed")
	}
	if p.exitErr != nil {
		return fmt.Errorf("the RelayMiner process: %v", p.exitErr)
	}
	return nil
}

func (p *minerProc) pid() int { return p.cmd.Process.Pid }

// call sends a control request and decodes the JSON answer into out (if
// not nil).
func (p *minerProc) call(method, path string, out any) error {
	req, err := http.NewRequest(method, p.control+path, nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		select {
		case <-p.exited:
			return fmt.Errorf("the RelayMiner process exited (%v): %w", p.exitErr, err)
		case <-time.After(time.Second):
			return err
		}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// height hands height h to the RelayMiner (wait: waiting for the manager's
// background work before and after).
func (p *minerProc) height(h int64, wait bool) error {
	q := "/height?h=" + strconv.FormatInt(h, 10)
	if wait {
		q += "&wait=1"
	}
	return p.call(http.MethodPost, q, nil)
}

func (p *minerProc) stats() (minerStats, error) {
	var s minerStats
	err := p.call(http.MethodGet, "/stats", &s)
	return s, err
}
