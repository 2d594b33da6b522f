// Package pbhooks gives the impersonation plugin to the JS hooks of
// pb_hooks files, through PocketBase's jsvm plugin. It is apart from
// package plugin so that an app without JS hooks does not link the JS
// engine.
//
// Config adds to every runtime of jsvm
//
//	onImpersonationStart(handler)  // plugin.Plugin.OnSessionStart; e is a StartEvent
//	onImpersonationEnd(handler)    // plugin.Plugin.OnSessionEnd; e is an EndEvent
//	$impersonation.fromRequest(e)  // plugin.FromRequest: null or {session, actor, policy}
//
// with Go's names in jsvm's JS form (e.reason, e.session.endCause) and the
// modes as strings (e.mode === "write"). A start handler changes the start
// by assigning (e.mode = "read", e.minutes = 15, e.data = {...} or
// e.data.ticket = "42") and calls e.next(). It refuses the start by
// throwing (throw new ForbiddenError("...") is answered as it is, anything
// else as the plugin's generic 403), by returning an error
// (e.request.forbiddenError("...")), or by returning without calling
// e.next(); the refusal is audited as a Go handler's is.
//
// Handlers run as jsvm runs the handlers of PocketBase's own hooks
// (onRecordCreate...). A goja runtime is for one goroutine at a time, and a
// JS function belongs to the runtime that made it; so a handler is not kept
// as a function of the runtime that loaded its file: its source is
// compiled when the file binds it, and every call runs it in a runtime lent
// to that call alone. As in jsvm, a handler therefore cannot see the
// variables of its file (share code with require(`${__hooks}/...`)), and
// $app is the event's app while it runs. jsvm's pool of runtimes is not
// exported: the runtimes come from a pool of the plugin's, of up to
// HooksPoolSize idle runtimes (a new one when none is idle), each set up as
// jsvm sets up its own (its bindings, require, __hooks, $template, $app,
// then OnInit). cronAdd and cronRemove, which jsvm gives its own runtimes
// only, are not in them.
//
// Example usage:
//
//	imp := plugin.MustRegister(app, plugin.Config{...})
//	jsvm.MustRegister(app, pbhooks.Config(imp, jsvm.Config{HooksPoolSize: 15}))
//
// and in pb_hooks/impersonation.pb.js:
//
//	onImpersonationStart((e) => {
//		if (e.mode === "write" && !/#\d+/.test(e.reason)) {
//			throw new ForbiddenError("Write sessions need a ticket number (#123) in the reason.");
//		}
//		e.next();
//	});
package pbhooks

import (
	"github.com/dop251/goja"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/plugins/jsvm"

	"github.com/pbimpersonation/impersonation/internal/jshooks"
	"github.com/pbimpersonation/impersonation/plugin"
)

// Config returns c, a config of PocketBase's jsvm plugin, with the JS
// bindings of imp added to its OnInit (which still runs first): give it to
// jsvm.MustRegister.
func Config(imp *plugin.Plugin, c jsvm.Config) jsvm.Config {
	onInit := c.OnInit
	var pool *jshooks.Pool
	init := func(vm *goja.Runtime) {
		if onInit != nil {
			onInit(vm)
		}
		bind(vm, imp, pool)
	}
	pool = jshooks.NewPool(c, init)
	c.OnInit = init
	return c
}

// bind sets the JS globals of imp in vm; handlers run in pool.
func bind(vm *goja.Runtime, imp *plugin.Plugin, pool *jshooks.Pool) {
	compile := func(name string, fn goja.Value) *jshooks.Handler {
		h, err := pool.Compile(fn)
		if err != nil {
			panic(vm.NewTypeError(name + ": " + err.Error()))
		}
		return h
	}
	vm.Set("onImpersonationStart", func(fn goja.Value) {
		h := compile("onImpersonationStart", fn)
		imp.OnSessionStart().BindFunc(func(e *plugin.StartEvent) error { return h.Run(e.App, newStartEvent(e)) })
	})
	vm.Set("onImpersonationEnd", func(fn goja.Value) {
		h := compile("onImpersonationEnd", fn)
		imp.OnSessionEnd().BindFunc(func(e *plugin.EndEvent) error {
			return h.Run(e.App, &endEvent{endFields: e, Session: newSession(e.Session)})
		})
	})
	obj := vm.NewObject()
	obj.Set("fromRequest", func(e *core.RequestEvent) *impersonation {
		imp := plugin.FromRequest(e)
		if imp == nil {
			return nil
		}
		return &impersonation{Session: newSession(imp.Session), Actor: imp.Actor, Policy: imp.Policy}
	})
	vm.Set("$impersonation", obj)
}

// The JS forms of the events and of an Impersonation are the Go ones with
// Mode as a plain string, so that e.mode === "read" holds in JS (goja makes
// an object of a value of a named string type). The aliases are embedded
// unexported, so that JS sees their fields and not the struct itself.
type (
	startFields   = plugin.StartEvent
	endFields     = plugin.EndEvent
	sessionFields = plugin.Session
)

// session is a plugin.Session as JS sees it.
type session struct {
	sessionFields
	Mode string
}

func newSession(s plugin.Session) session { return session{sessionFields: s, Mode: string(s.Mode)} }

// startEvent is a plugin.StartEvent as a JS handler sees it. Its fields
// but Mode are the event's own: a handler's assignments change the start.
type startEvent struct {
	*startFields
	Mode string
	// nilData is whether the event had no Data: it is given an empty map,
	// so that a handler may set e.data.key, and has none again if the
	// handler left the map empty.
	nilData bool
}

func newStartEvent(e *plugin.StartEvent) *startEvent {
	js := &startEvent{startFields: e, Mode: string(e.Mode), nilData: e.Data == nil}
	if js.nilData {
		e.Data = map[string]any{}
	}
	return js
}

// Next gives the start the handler's mode and goes on with it.
func (e *startEvent) Next() error {
	e.startFields.Mode = plugin.Mode(e.Mode)
	if e.nilData && len(e.Data) == 0 {
		e.Data = nil
	}
	return e.startFields.Next()
}

// endEvent is a plugin.EndEvent as a JS handler sees it.
type endEvent struct {
	*endFields
	Session session
}

// impersonation is a plugin.Impersonation as JS sees it.
type impersonation struct {
	Session session
	Actor   *core.Record
	Policy  *core.Record
}
