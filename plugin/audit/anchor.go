package audit

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/plugin/records"
)

// AnchorFile is the file of the data directory that holds the last head of
// the chain seen by the plugin: "v1 <seq> <hash>". A chain whose newest
// entries were deleted still links up; the anchor, kept out of the database,
// is how Verify finds that.
const AnchorFile = "impersonation_audit.head"

// anchor is the content of AnchorFile.
type anchor struct {
	Seq  int
	Hash string
}

// WriteAnchor records the chain's current head in AnchorFile (the plugin
// does it every minute and at shutdown). The file is replaced atomically.
func WriteAnchor(app core.App) error {
	var head row
	err := app.DB().NewQuery("SELECT [[seq]], [[hash]] FROM {{" + records.AuditCollection + "}} ORDER BY [[seq]] DESC LIMIT 1").One(&head)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	path := filepath.Join(app.DataDir(), AnchorFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%s %d %s\n", chainVersion, head.Seq, head.Hash), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readAnchor returns the anchor of app's data directory, if any.
func readAnchor(app core.App) (*anchor, error) {
	raw, err := os.ReadFile(filepath.Join(app.DataDir(), AnchorFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var version string
	var a anchor
	if _, err := fmt.Sscanf(string(raw), "%s %d %s", &version, &a.Seq, &a.Hash); err != nil || version != chainVersion {
		return nil, fmt.Errorf("audit: unreadable %s", AnchorFile)
	}
	return &a, nil
}
