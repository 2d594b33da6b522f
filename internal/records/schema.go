package records

import "context"

// schemaChangeKey marks the context of the plugin's own schema saves.
type schemaChangeKey struct{}

// SchemaChange returns ctx marked as the plugin's own change of its
// collections (a migration step, the restore on serve): the only saves that
// may reshape them.
func SchemaChange(ctx context.Context) context.Context {
	return context.WithValue(ctx, schemaChangeKey{}, true)
}

// IsSchemaChange reports whether ctx was marked by SchemaChange.
func IsSchemaChange(ctx context.Context) bool {
	marked, _ := ctx.Value(schemaChangeKey{}).(bool)
	return marked
}
