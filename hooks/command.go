package hooks

import (
	"fmt"

	"github.com/pocketbase/pocketbase/core"
	"github.com/spf13/cobra"

	"github.com/pbimpersonation/impersonation/plugin/audit"
	"github.com/pbimpersonation/impersonation/plugin/records"
)

// NewCommand returns the plugin's command for PocketBase's command root:
//
//	impersonation audit verify [--dir pb_data]
//
// It verifies the audit's hash chain with the database directly, so it
// works with the server stopped, shows its progress on stderr, and exits
// non-zero on a broken chain, naming the first bad entry.
func NewCommand(app core.App) *cobra.Command {
	verify := &cobra.Command{
		Use:          "verify",
		Short:        "Verify that the impersonation audit was not edited",
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := app.FindCollectionByNameOrId(records.AuditCollection); err != nil {
				return fmt.Errorf("there is no audit in %s yet: start the server (serve) once first", app.DataDir())
			}
			res, err := audit.Verify(app, func(done, total int) {
				fmt.Fprintf(cmd.ErrOrStderr(), "\rverified %d of %d entries", done, total)
			})
			fmt.Fprintln(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if !res.OK {
				return fmt.Errorf("the audit chain is broken at entry %q (%d entries verified before it): %s",
					res.FirstBadId, res.Entries, res.Problem)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d entries\n", res.Entries)
			return nil
		},
	}
	auditCmd := &cobra.Command{Use: "audit", Short: "Work with the impersonation audit"}
	auditCmd.AddCommand(verify)
	root := &cobra.Command{Use: "impersonation", Short: "Tools of the impersonation plugin"}
	root.AddCommand(auditCmd)
	return root
}
