package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// printReport writes rep as tables.
func printReport(w io.Writer, rep report) {
	fmt.Fprintf(w, "\n%s · %d CPUs · %s · %s · %d clients · %d rounds of %s\n\n",
		rep.Machine.CPU, rep.Machine.CPUs, rep.Machine.OS, rep.Machine.Go, rep.Clients, rep.Rounds, rep.RoundTime)
	t := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(t, "comparison\tA\tB\tA value\tB value\tunit\tB/A\tgoal\tmet")
	for _, c := range rep.Comparisons {
		fmt.Fprintf(t, "%s\t%s\t%s\t%.1f\t%.1f\t%s\t%.2f\t%s\t%s\n", c.Name, c.A, c.B, c.AValue, c.BValue, c.Unit, c.Ratio, c.Goal, yes(c.Met))
	}
	t.Flush()
	fmt.Fprintf(w, "\naudit: %d impersonated responses, %d request entries: %s\n\n",
		rep.Audit.Responses, rep.Audit.Entries, map[bool]string{true: "equal", false: "NOT EQUAL"}[rep.Audit.Equal])
	if m := rep.Mover; m.Samples > 0 {
		fmt.Fprintf(w, "mover, while impersonated rounds ran (%d samples): the table lagged the journal by %.0f ms p50, %.0f ms p99, %.0f ms at most; the journal held %d KiB at most\n\n",
			m.Samples, m.LagP50ms, m.LagP99ms, m.LagMaxms, m.MaxJournalBytes/1024)
	}

	if len(rep.Scale) == 0 {
		return
	}
	var names []string
	for name := range rep.Scale[0].Queries {
		names = append(names, name)
	}
	slices.Sort(names)
	t = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := []string{"audit entries"}
	for _, n := range names {
		header = append(header, n+" p50/p99 ms")
	}
	header = append(header, "verify s", "export entries/s", "export MB/s", "bytes/entry")
	fmt.Fprintln(t, strings.Join(header, "\t"))
	for _, s := range rep.Scale {
		row := []string{fmt.Sprint(s.Entries)}
		for _, n := range names {
			row = append(row, fmt.Sprintf("%.1f/%.1f", s.Queries[n].P50ms, s.Queries[n].P99ms))
		}
		row = append(row, fmt.Sprintf("%.2f", s.VerifySeconds), fmt.Sprintf("%.0f", s.ExportPerSec),
			fmt.Sprintf("%.1f", s.ExportMBPerSec), fmt.Sprintf("%.0f", s.BytesPerEntry))
		fmt.Fprintln(t, strings.Join(row, "\t"))
	}
	t.Flush()
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}
