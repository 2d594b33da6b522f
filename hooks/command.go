package hooks

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/fatih/color"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/spf13/cobra"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/internal/checkpoints"
	"github.com/pbimpersonation/impersonation/internal/ids"
	"github.com/pbimpersonation/impersonation/internal/reasons"
	"github.com/pbimpersonation/impersonation/internal/records"
)

// AttachCommand adds the plugin's command (NewCommand) to root, as
// migratecmd and ghupdate add theirs, and binds an OnBootstrap handler that,
// when the command about to run (os.Args, as PocketBase reads them) is one
// of the plugin's, makes stdout carry its data alone: in dev mode (go run)
// PocketBase prints each SQL statement, through the color package, on
// stdout, from the bootstrap on. From then on the process's os.Stdout and
// color's output are stderr, and the command writes its data to the stdout
// it had. What the commands report on stderr (progress, counts) goes to
// the process's stderr even where root discards its error output, as
// PocketBase's does; an error they return is reported by the app (Start's
// error), not printed by them.
func AttachCommand(app core.App, log *audit.Log, root *cobra.Command) {
	cmd := NewCommand(app, log)
	// PocketBase's root discards what commands write to their error
	// output (it reports a returned error itself): progress and counts
	// go to stderr all the same
	cmd.SetErr(os.Stderr)
	root.AddCommand(cmd)
	app.OnBootstrap().Bind(&hook.Handler[*core.BootstrapEvent]{
		Id:       ids.CommandOutputId,
		Priority: -999,
		Func: func(e *core.BootstrapEvent) error {
			if found, _, err := root.Find(os.Args[1:]); err == nil && within(found, cmd) {
				dataOnlyOnStdout(cmd)
			}
			return e.Next()
		},
	})
}

// within reports whether c is cmd or one of its subcommands.
func within(c, cmd *cobra.Command) bool {
	for ; c != nil; c = c.Parent() {
		if c == cmd {
			return true
		}
	}
	return false
}

// dataOnlyOnStdout gives cmd the process's stdout for its data, and makes
// everything else that prints to stdout print to stderr.
func dataOnlyOnStdout(cmd *cobra.Command) {
	if os.Stdout == os.Stderr {
		return // done already
	}
	var data io.Writer = os.Stdout
	cmd.SetOut(data)
	os.Stdout = os.Stderr
	color.Output = os.Stderr
}

// NewCommand returns the plugin's command for PocketBase's command root:
//
//	impersonation audit verify [--witness FILE] [--dir pb_data]
//	impersonation audit export [--format jsonl|csv] [--filter '...'] [--dir pb_data]
//	impersonation audit acknowledge --reason '...' [--dir pb_data]
//
// They work with the database directly, with the server stopped or beside
// it,
// and first see to the entries still in the audit journal (see
// readEverything). verify shows its progress on stderr and exits non-zero
// on a broken chain, naming the first bad entry, or on a chain that no
// longer reaches its anchored head (see audit.AnchorFile); export streams
// the entries to stdout; acknowledge, with the server stopped, accepts such
// a loss as audit.Acknowledge does.
func NewCommand(app core.App, log *audit.Log) *cobra.Command {
	var witness string
	verify := &cobra.Command{
		Use:   "verify [--witness FILE]",
		Short: "Verify that the impersonation audit was not edited",
		Long: `Verify that the impersonation audit was not edited: each entry's hash, the chain
from the first entry to the last, and that the chain still reaches the head it
anchored last (so that no committed entry was deleted).

With --witness FILE (the JSON lines a sink received: entries and checkpoints),
it also checks every checkpoint of FILE: its signature, under this install's
checkpoint key, and that the chain still holds its entry (seq, hash). A chain
rewritten with the audit key, or rolled back by a restore, fails, naming the
first checkpoint it contradicts.

It reads the database directly: it works with the server stopped, and beside a
running server (whose last few entries, still in its journal, it counts and
leaves out). Progress goes to stderr; stdout gets one line, "ok: N entries".

Exit codes:
  0  the chain is whole and reaches its anchored head
  1  the chain is broken (the first bad entry is named), it no longer reaches
     its anchored head (entries were deleted: see "acknowledge"), the witness
     contradicts it, or the audit could not be read; the reason is on stderr`,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := readEverything(cmd, app, log, "verify"); err != nil {
				return err
			}
			res, err := log.Verify(func(done, total int) {
				fmt.Fprintf(cmd.ErrOrStderr(), "\rverified %d of %d entries", done, total)
			})
			fmt.Fprintln(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			chainErr := verifyError(res)
			if chainErr == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "ok: %d entries\n", res.Entries)
			}
			if witness == "" {
				return chainErr
			}
			return errors.Join(chainErr, checkWitnessFile(cmd, app, witness, res))
		},
	}
	verify.Flags().StringVar(&witness, "witness", "", "a JSON lines file of checkpoints as a sink received them: "+
		"each must be signed with this install's checkpoint key, and held by the chain")
	var reason string
	acknowledge := &cobra.Command{
		Use:           "acknowledge",
		Short:         "Accept, with a reason, that the impersonation audit lost the entries verify reports",
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if reasons.Length(reason) == 0 {
				return errors.New("--reason is required: it is recorded in the audit")
			}
			if _, err := app.FindCollectionByNameOrId(records.AuditCollection); err != nil {
				return fmt.Errorf("there is no audit in %s yet: start the server (serve) once first", app.DataDir())
			}
			left, err := log.MoveLeftovers()
			if left.Owned {
				return fmt.Errorf("a server is running on %s: acknowledge through POST %s as a superuser", app.DataDir(), acknowledgePath)
			}
			if err != nil {
				return err
			}
			by := audit.Entry{Client: audit.Client{UserAgent: "impersonation audit acknowledge (command line)"}}
			ack, err := log.Acknowledge(by, reasons.Clean(reason))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "acknowledged: the anchored head #%d (%s) is lost; entry #%d (%s) records it, after the head #%d\n",
				ack.Anchored.Seq, ack.Anchored.Hash, ack.Entry.Seq, ack.Id, ack.Head.Seq)
			return nil
		},
	}
	acknowledge.Flags().StringVar(&reason, "reason", "", "why the loss is accepted (required, recorded in the audit)")

	var format, filter string
	export := &cobra.Command{
		Use:   "export",
		Short: "Write the impersonation audit to stdout, as JSON lines or CSV",
		Long: `Write the impersonation audit to stdout, as JSON lines (one object per entry)
or CSV (a header, then one row per entry). Stdout gets the entries and nothing
else, in dev mode too; progress and messages go to stderr:

  impersonation audit export > audit.jsonl

It reads the database directly: it works with the server stopped, and beside a
running server. Exit code 0 when every matching entry was written, 1 otherwise.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := readEverything(cmd, app, log, "export"); err != nil {
				return err
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
	auditCmd.AddCommand(verify, export, acknowledge)
	root := &cobra.Command{Use: "impersonation", Short: "Tools of the impersonation plugin"}
	root.AddCommand(auditCmd)
	return root
}

// readEverything makes the audit table hold every entry answered so far,
// for the command named what. With the server stopped, what a killed one
// left in the journal is moved in, as its next start would. With a server
// running on the data directory the journal is that server's: nothing is
// moved, and stderr says how many entries its mover had yet to add, which
// are not in this run.
func readEverything(cmd *cobra.Command, app core.App, log *audit.Log, what string) error {
	if _, err := app.FindCollectionByNameOrId(records.AuditCollection); err != nil {
		return fmt.Errorf("there is no audit in %s yet: start the server (serve) once first", app.DataDir())
	}
	left, err := log.MoveLeftovers()
	switch {
	case left.Owned && err != nil:
		fmt.Fprintf(cmd.ErrOrStderr(), "a server owns the audit journal in %s; entries it answered in the last moments may be missing from this %s (counting them: %v)\n",
			app.DataDir(), what, err)
	case left.Owned:
		fmt.Fprintf(cmd.ErrOrStderr(), "a server owns the audit journal in %s: %d entries it answered in the last moments were not in the audit table yet and are not in this %s\n",
			app.DataDir(), left.Pending, what)
	case err != nil:
		return err
	case left.Moved > 0:
		fmt.Fprintf(cmd.ErrOrStderr(), "moved %d entries a stopped server had left in the audit journal into the audit table\n", left.Moved)
	}
	return nil
}

// verifyError is the error of a failed Verify, nil when res is OK.
func verifyError(res audit.Result) error {
	switch {
	case res.Code == audit.CodeAnchorNotReached && res.Anchored != nil && res.Head != nil:
		return fmt.Errorf("the audit chain no longer reaches its anchored head #%d (%s), its head is #%d (%d entries verified): %s; "+
			"until a superuser accepts the loss (impersonation audit acknowledge --reason '...', or POST %s)",
			res.Anchored.Seq, res.Anchored.Hash, res.Head.Seq, res.Entries, res.Problem, acknowledgePath)
	case !res.OK:
		return fmt.Errorf("the audit chain is broken at entry %q (%d entries verified before it): %s",
			res.FirstBadId, res.Entries, res.Problem)
	}
	return nil
}

// checkWitnessFile checks the witness file at path against app's chain
// (checkpoints.Witness, with chain, the chain's verify, folded in) and
// prints "witness ok: N checkpoints" on success.
func checkWitnessFile(cmd *cobra.Command, app core.App, path string, chain audit.Result) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open the witness: %w", err)
	}
	defer f.Close()
	pub, err := checkpoints.NewSigner(app.DataDir(), nil).PublicKey()
	if err != nil {
		return err
	}
	res, err := checkpoints.Witness(f, pub, func(h audit.Head) (audit.Hold, error) { return audit.Holds(app, h) })
	if err != nil {
		return err
	}
	res = checkpoints.Fold(res, chain)
	if !res.OK {
		return fmt.Errorf("the witness %s contradicts the audit (%s): %s", path, res.Code, res.Problem)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "witness ok: %d checkpoints\n", res.Checkpoints)
	if res.Pruned > 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "%d of them name entries the retention pruned, as a later checkpoint signs\n", res.Pruned)
	}
	return nil
}
