package plugin

import "github.com/pbimpersonation/impersonation/internal/audit"

// AuditLog returns p's audit, for the tests of package plugin_test.
func AuditLog(p *Plugin) *audit.Log { return p.audit }
