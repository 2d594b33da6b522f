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
//	impersonation audit export [--format jsonl|csv] [--filter '...'] [--dir pb_data]
//
// Both work with the database directly, so with the server stopped too.
// verify shows its progress on stderr and exits non-zero on a broken chain,
// naming the first bad entry; export streams the entries to stdout.
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
	var format, filter string
	export := &cobra.Command{
		Use:          "export",
		Short:        "Write the impersonation audit to stdout, as JSON lines or CSV",
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := app.FindCollectionByNameOrId(records.AuditCollection); err != nil {
				return fmt.Errorf("there is no audit in %s yet: start the server (serve) once first", app.DataDir())
			}
			x, err := audit.NewExport(app, format, filter)
			if err != nil {
				return err
			}
			n, err := x.Run(cmd.OutOrStdout())
			fmt.Fprintf(cmd.ErrOrStderr(), "exported %d entries\n", n)
			return err
		},
	}
	export.Flags().StringVar(&format, "format", audit.FormatJSONL, "jsonl or csv")
	export.Flags().StringVar(&filter, "filter", "", `records API filter, e.g. 'event = "request" && created >= "2026-11-01"'`)

	auditCmd := &cobra.Command{Use: "audit", Short: "Work with the impersonation audit"}
	auditCmd.AddCommand(verify, export)
	root := &cobra.Command{Use: "impersonation", Short: "Tools of the impersonation plugin"}
	root.AddCommand(auditCmd)
	return root
}
