package localchain

import "syscall"

// childAttr puts every child in a process group of its own, so that a
// Ctrl-C at the terminal reaches the program only (which then stops the
// children in order), and has the kernel kill the child if the program
// itself dies without cleaning up.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
