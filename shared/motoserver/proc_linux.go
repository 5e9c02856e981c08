package motoserver

import "syscall"

// processAttrs runs the server in its own process group (so Stop can end it and
// anything it starts) and has the kernel end it if this process dies first.
func processAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
