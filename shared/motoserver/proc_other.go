//go:build !linux

package motoserver

import "syscall"

// processAttrs runs the server in its own process group, so Stop can end all of it.
func processAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
