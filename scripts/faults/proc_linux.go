package main

import "syscall"

// childAttr puts every child in a process group of its own, so that a
// Ctrl-C at the terminal reaches the benchmark only (which then stops the
// children in order), and has the kernel kill the child if the benchmark
// itself dies without cleaning up.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
