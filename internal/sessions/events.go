package sessions

import (
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"

	"github.com/pbimpersonation/impersonation/internal/records"
)

// StartEvent is triggered when a start has passed input validation, before
// the policy decision and the session's transaction. A handler may change
// Start (its Reason, Minutes, Mode, or Data for the session.started entry),
// or refuse the start by returning an error instead of calling e.Next(): an
// *router.ApiError is answered as it is, any other error as a 403.
type StartEvent struct {
	hook.Event
	App     core.App
	Request *core.RequestEvent
	Start   *Start
}

// EndEvent is triggered after a session's end has been committed, whatever
// ended it.
type EndEvent struct {
	hook.Event
	App     core.App
	Session *records.Session
}

// Hooks are the hook points of the plugin.
type Hooks struct {
	Start *hook.Hook[*StartEvent]
	End   *hook.Hook[*EndEvent]
}

// NewHooks returns empty hooks.
func NewHooks() Hooks {
	return Hooks{Start: &hook.Hook[*StartEvent]{}, End: &hook.Hook[*EndEvent]{}}
}
