package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent asks the kernel to kill cmd's process when ronbench dies,
// however it dies (SIGKILL included): a benchmark's rond, kubo, etcd and
// FileServer children must not outlive it, serving on loopback ports and
// holding their data directories. The signal follows the OS thread that
// started the child; Go ends a thread only when a goroutine locked to it
// exits still locked, which ronbench never does.
func dieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
