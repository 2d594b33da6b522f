//go:build !unix

package sinks

import "io/fs"

// noFollow is 0 where the system has no O_NOFOLLOW: the last component is
// checked with Lstat before the file is opened (checkResolved).
const noFollow = 0

// hardLinked is false where the number of a file's names is not known.
func hardLinked(fs.FileInfo) bool { return false }
