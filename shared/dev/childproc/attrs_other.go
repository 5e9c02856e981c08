//go:build !linux

package childproc

import "syscall"

// Attrs runs the process in its own process group, so its owner can end all of it.
func Attrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
