//go:build !unix

package conformance

import "os/exec"

// killProcessGroupOnCancel: without process groups, the default (killing
// node itself when the context ends) is all there is.
func killProcessGroupOnCancel(cmd *exec.Cmd) {}
