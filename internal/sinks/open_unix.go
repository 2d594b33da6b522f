//go:build unix

package sinks

import (
	"io/fs"
	"syscall"
)

// noFollow are the flags with which a file sink's file is opened: it fails
// when the file's last component is a symlink, and does not wait for a
// reader when it is a FIFO.
const noFollow = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

// hardLinked reports whether an opened file has another name, which could
// be one of the data directory's files.
func hardLinked(st fs.FileInfo) bool {
	s, ok := st.Sys().(*syscall.Stat_t)
	return ok && s.Nlink > 1
}
