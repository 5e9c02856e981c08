package childproc

import "syscall"

// Attrs runs the process in its own process group (so its owner can end it and
// anything it starts) and has the kernel end it if this process dies first.
func Attrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
