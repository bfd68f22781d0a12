//go:build unix

package conformance

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the testee in its own process group, so that a
// kill reaches what it started too (go run, sh -c, a JVM launcher).
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func killProcessGroup(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
