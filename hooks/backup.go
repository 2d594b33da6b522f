package hooks

import (
	"fmt"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/checkpoints"
	"github.com/pbimpersonation/impersonation/internal/sinks"
)

// trustFiles are the files of the data directory that never travel with
// the data: keyFile (the audit key), the checkpoint key and log, the file
// sinks' folder, the chain's anchor and the journal.
// Whoever holds the key can rewrite the chain undetectably and test guesses
// of redacted values against their hashes, so a backup, made to be copied
// around, must not hold it; an anchor restored with the data it anchors
// would accept the rollback a restore is; so would checkpoints, and file
// sinks, restored with it (they are witnesses of the chain). The journal's entries are in the
// database once the writer is flushed, and its lock belongs to the running
// process.
func trustFiles(keyFile string) []string {
	files := append([]string{keyFile, checkpoints.KeyFile, checkpoints.LogFile, sinks.Dir, audit.JournalLockFile}, audit.AnchorFiles...)
	return append(files, audit.JournalFiles[:]...)
}

// backupCreate flushes the audit writer, so every journalled entry is in
// data.db before PocketBase copies it, and keeps the trust files out of the
// backup. A backup that would miss journalled entries is refused.
func (p *handlers) backupCreate(e *core.BackupEvent) error {
	if err := p.opts.Audit.Writer.Flush(); err != nil {
		return fmt.Errorf("impersonation: flush the audit journal before the backup: %w", err)
	}
	e.Exclude = append(e.Exclude, trustFiles(p.opts.KeyFile)...)
	return e.Next()
}

// backupRestore keeps the current trust files where they are: PocketBase
// moves neither the current nor the backup's copy of an excluded name, so
// the key and the anchor of this install survive the restore, and an old
// backup that still holds them cannot bring back its own. A restore whose
// data no longer reaches the kept anchor is a loss that verify reports.
// The writer is flushed first, so the journal kept holds nothing of the
// data being replaced. From then until the restart the anchor is not
// written: the app may already read the restored data, whose head would
// roll the kept anchor back.
func (p *handlers) backupRestore(e *core.BackupEvent) error {
	if err := p.opts.Audit.Writer.Flush(); err != nil {
		return fmt.Errorf("impersonation: flush the audit journal before the restore: %w", err)
	}
	e.Exclude = append(e.Exclude, trustFiles(p.opts.KeyFile)...)
	p.restoring.Store(true)
	err := e.Next()
	if err != nil { // the restore failed and was reverted: no restart comes
		p.restoring.Store(false)
	}
	return err
}
