//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockJournal takes, without waiting, the exclusive lock of the journal of
// data directory dir: an flock of JournalLockFile, which the kernel
// releases when its holder exits, however it exits. A Writer holds it from
// Open to Close; MoveLeftovers while it moves. It returns ErrJournalInUse
// when another holds it (another process, or another open of this one).
func lockJournal(dir string) (unlock func() error, err error) {
	f, err := os.OpenFile(filepath.Join(dir, JournalLockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: open the journal's lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrJournalInUse
		}
		return nil, fmt.Errorf("audit: lock the journal: %w", err)
	}
	return f.Close, nil
}
