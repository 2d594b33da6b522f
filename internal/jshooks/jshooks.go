// Package jshooks runs the JS handlers that pb_hooks files bind to the
// plugin's hooks, the way PocketBase's jsvm plugin runs the handlers of its
// own hooks (plugins/jsvm/binds.go, hooksBinds).
//
// A goja runtime may be used by one goroutine at a time, and a JS function
// belongs to the runtime that made it. So a handler is never kept as a
// function of the runtime that loaded it: its source is compiled once, at
// load time, into a program (which any runtime may run), and each call runs
// that program in a runtime borrowed from a pool for the call alone.
//
// jsvm's own pool of runtimes is not exported, so the pool is a Pool of
// this package, whose runtimes are set up as jsvm sets up its executors
// (its exported bindings, require, console, process, buffer, $app,
// $template, __hooks), then given jsvm.Config.OnInit.
package jshooks

import (
	"fmt"
	"path/filepath"
	"sync"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/buffer"
	"github.com/dop251/goja_nodejs/console"
	"github.com/dop251/goja_nodejs/process"
	"github.com/dop251/goja_nodejs/require"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/plugins/jsvm"
	"github.com/pocketbase/pocketbase/tools/template"
)

// scriptPath is the file name programs are compiled under, as jsvm names
// its own ("pb.js" in the working directory), so that require resolves
// modules from the same place.
var scriptPath = func() string {
	abs, err := filepath.Abs("pb.js")
	if err != nil {
		return "pb.js"
	}
	return abs
}()

// Pool lends goja runtimes, each to one call at a time. It keeps up to the
// jsvm config's HooksPoolSize idle runtimes and makes a new one whenever
// none is idle (jsvm's pool also makes one-off runtimes when all of its
// own are busy); with HooksPoolSize 0, as with jsvm, every call gets a new
// runtime.
type Pool struct {
	config jsvm.Config
	init   func(*goja.Runtime)

	once      sync.Once
	hooksDir  string
	required  *require.Registry
	templates *template.Registry
	idle      chan *goja.Runtime
}

// NewPool returns a pool of runtimes for the handlers of pb_hooks files,
// configured by config (the jsvm plugin's, before jsvm fills its defaults)
// and given init after jsvm's bindings: config.OnInit and the plugin's own
// globals.
func NewPool(config jsvm.Config, init func(*goja.Runtime)) *Pool {
	return &Pool{config: config, init: init, idle: make(chan *goja.Runtime, max(config.HooksPoolSize, 0))}
}

// newRuntime returns a runtime set up as jsvm's executors of app are
// (jsvm.go, registerHooks' sharedBinds), in the same order.
func (p *Pool) newRuntime(app core.App) *goja.Runtime {
	p.once.Do(func() {
		dir := p.config.HooksDir
		if dir == "" {
			dir = filepath.Join(app.DataDir(), "../pb_hooks") // jsvm's default
		}
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		p.hooksDir = dir
		p.required = new(require.Registry)
		p.templates = template.NewRegistry()
	})
	vm := goja.New()
	p.required.Enable(vm)
	console.Enable(vm)
	process.Enable(vm)
	buffer.Enable(vm)
	jsvm.BindCore(vm)
	jsvm.BindDbx(vm)
	jsvm.BindSecurity(vm)
	jsvm.BindOS(vm)
	jsvm.BindFilepath(vm)
	jsvm.BindHTTP(vm)
	jsvm.BindFilesystem(vm)
	jsvm.BindForms(vm)
	jsvm.BindMails(vm)
	jsvm.BindApis(vm)
	vm.Set("$app", app)
	vm.Set("$template", p.templates)
	vm.Set("__hooks", p.hooksDir)
	p.init(vm)
	return vm
}

// Handler is a JS handler of a hook, compiled: it runs in any runtime.
type Handler struct {
	pool    *Pool
	program *goja.Program
}

// Compile compiles the JS function fn, given to a binder such as
// onImpersonationStart, into a handler that takes the hook's event, sets
// $app to the event's app (jsvm's hooks do the same) and calls fn with
// it. Only fn's source is kept: like jsvm's handlers, fn cannot see the
// variables of the file that bound it.
func (p *Pool) Compile(fn goja.Value) (*Handler, error) {
	if _, ok := goja.AssertFunction(fn); !ok {
		return nil, fmt.Errorf("the handler must be a function, not %s", fn)
	}
	src := `function(e) { $app = e.app; return (` + fn.String() + `).call(undefined, e) }`
	program, err := goja.Compile(scriptPath, "{("+src+").apply(undefined, __args)}", true)
	if err != nil {
		return nil, err
	}
	return &Handler{pool: p, program: program}, nil
}

// Run calls the handler with event, an event of app, in a runtime borrowed
// for the call. It
// returns what the handler threw, or the error it returned, as a Go error:
// an error value thrown from Go (new ForbiddenError(...),
// e.request.forbiddenError(...)) as it is.
func (h *Handler) Run(app core.App, event any) error {
	vm := h.pool.borrow(app)
	returned := false
	defer func() {
		// a runtime a Go panic went through is not given back
		if returned {
			h.pool.giveBack(vm)
		}
	}()
	defaultApp := vm.Get("$app")
	vm.Set("__args", []any{event})
	res, err := vm.RunProgram(h.program)
	vm.Set("__args", goja.Undefined())
	vm.Set("$app", defaultApp) // the handler set it to the event's
	returned = true
	if resErr := returnedError(res); resErr != nil {
		return resErr
	}
	return unwrap(err)
}

func (p *Pool) borrow(app core.App) *goja.Runtime {
	select {
	case vm := <-p.idle:
		return vm
	default:
		return p.newRuntime(app)
	}
}

func (p *Pool) giveBack(vm *goja.Runtime) {
	select {
	case p.idle <- vm:
	default: // the pool is full: the runtime goes, as jsvm's one-offs do
	}
}

// returnedError is the error a handler returned, if it returned one
// (jsvm's checkGojaValueForError).
func returnedError(v goja.Value) error {
	if v == nil {
		return nil
	}
	if err, ok := v.Export().(error); ok {
		return err
	}
	return nil
}

// unwrap returns the Go error a JS exception carries, or err itself
// (jsvm's normalizeException).
func unwrap(err error) error {
	ex, ok := err.(*goja.Exception)
	if !ok {
		return err
	}
	switch v := ex.Value().Export().(type) {
	case error:
		return v
	case map[string]any: // a goja.GoError
		if inner, ok := v["value"].(error); ok {
			return inner
		}
	}
	return err
}
