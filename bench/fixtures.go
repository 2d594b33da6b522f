package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// notesPerUser is how many notes each bench user owns.
const notesPerUser = 40

// fixtures are the users of one server, logged in, each owning notes in a
// "notes" collection only its owner may list and view.
type fixtures struct {
	srv     *server
	userIds []string
	tokens  []string
}

// newFixtures makes n users with their notes on srv.
func newFixtures(srv *server, n int) (*fixtures, error) {
	var users struct{ Id string }
	if err := srv.call(http.MethodGet, "/api/collections/users", srv.superuser, nil, &users); err != nil {
		return nil, err
	}
	owner := "owner = @request.auth.id"
	notes := map[string]any{
		"name": "notes", "type": "base", "listRule": owner, "viewRule": owner,
		"fields": []map[string]any{
			{"name": "owner", "type": "relation", "collectionId": users.Id, "maxSelect": 1, "required": true},
			{"name": "title", "type": "text"},
			{"name": "body", "type": "text"},
			{"name": "created", "type": "autodate", "onCreate": true},
		},
		"indexes": []string{"CREATE INDEX idx_notes_owner ON notes (owner, created)"},
	}
	if err := srv.call(http.MethodPost, "/api/collections", srv.superuser, notes, nil); err != nil {
		return nil, err
	}
	f := &fixtures{srv: srv}
	for i := range n {
		email := fmt.Sprintf("user%d@bench.example.com", i)
		var user struct{ Id string }
		err := srv.call(http.MethodPost, "/api/collections/users/records", "", map[string]any{
			"email": email, "password": superuserPassword, "passwordConfirm": superuserPassword,
			"name": fmt.Sprintf("User %d", i),
		}, &user)
		if err != nil {
			return nil, err
		}
		var auth struct{ Token string }
		err = srv.call(http.MethodPost, "/api/collections/users/auth-with-password", "",
			map[string]any{"identity": email, "password": superuserPassword}, &auth)
		if err != nil {
			return nil, err
		}
		for j := range notesPerUser {
			err := srv.call(http.MethodPost, "/api/collections/notes/records", srv.superuser, map[string]any{
				"owner": user.Id, "title": fmt.Sprintf("note %d of %s", j, email), "body": "some text",
			}, nil)
			if err != nil {
				return nil, err
			}
		}
		f.userIds, f.tokens = append(f.userIds, user.Id), append(f.tokens, auth.Token)
	}
	return f, nil
}

// views are requests for each user's own record.
func (f *fixtures) views() target {
	t := target{srv: f.srv, tokens: f.tokens}
	for _, id := range f.userIds {
		t.paths = append(t.paths, "/api/collections/users/records/"+id)
	}
	return t
}

// noteCreates are a superuser's creates of notes owned by the first user of
// f: another user's writes, beside the reads of the others.
func (f *fixtures) noteCreates() target {
	body, _ := json.Marshal(map[string]any{"owner": f.userIds[0], "title": "written under load", "body": "some text"})
	return target{srv: f.srv, tokens: []string{f.srv.superuser}, paths: []string{"/api/collections/notes/records"},
		method: http.MethodPost, body: body}
}

// lists are requests for a filtered page of each user's notes.
func (f *fixtures) lists() target {
	q := url.Values{"filter": {`title ~ "1"`}, "sort": {"-created"}, "perPage": {"20"}}
	return target{srv: f.srv, tokens: f.tokens, paths: []string{"/api/collections/notes/records?" + q.Encode()}}
}

// impersonate lets the superuser act as every user of f, which must be the
// project's: the users consent and the superuser starts a read session on
// each. It returns the same users with the sessions' tokens.
func (f *fixtures) impersonate() (*fixtures, error) {
	if err := f.relaxPolicy(); err != nil {
		return nil, err
	}
	imp := &fixtures{srv: f.srv, userIds: f.userIds}
	for i, id := range f.userIds {
		if err := f.srv.call(http.MethodPut, "/api/impersonation/consent", f.tokens[i], map[string]any{"hours": 24}, nil); err != nil {
			return nil, err
		}
		token, err := f.start(id)
		if err != nil {
			return nil, err
		}
		imp.tokens = append(imp.tokens, token)
	}
	return imp, nil
}

// relaxPolicy lets the bench start as many sessions as it needs, and sends
// no start or digest emails (there is no mail server).
func (f *fixtures) relaxPolicy() error {
	return f.updateUsersPolicy(map[string]any{"attemptsPerMinute": 10000, "notifyTarget": false, "digestEmail": false})
}

// updateUsersPolicy sets fields of the users policy of f's server.
func (f *fixtures) updateUsersPolicy(fields map[string]any) error {
	var list struct{ Items []struct{ Id string } }
	path := "/api/collections/impersonation_policies/records?" + url.Values{"filter": {`collection = "users"`}}.Encode()
	if err := f.srv.call(http.MethodGet, path, f.srv.superuser, nil, &list); err != nil {
		return err
	}
	if len(list.Items) != 1 {
		return fmt.Errorf("the project has %d policies for users", len(list.Items))
	}
	return f.srv.call(http.MethodPatch, "/api/collections/impersonation_policies/records/"+list.Items[0].Id, f.srv.superuser, fields, nil)
}

// start starts a read session on user id as the superuser and returns its
// token.
func (f *fixtures) start(id string) (string, error) {
	var started struct{ Token string }
	err := f.srv.call(http.MethodPost, "/api/impersonation/sessions", f.srv.superuser, map[string]any{
		"collection": "users", "record": id, "reason": "bench", "minutes": 60, "mode": "read",
	}, &started)
	return started.Token, err
}

// builtinImpersonate calls PocketBase's own impersonate route on user id.
func (f *fixtures) builtinImpersonate(id string) error {
	return f.srv.call(http.MethodPost, "/api/collections/users/impersonate/"+id, f.srv.superuser,
		map[string]any{"duration": 3600}, nil)
}

// compareStarts times, in alternating rounds of o.starts sequential calls,
// PocketBase's built-in impersonate call on plain and the plugin's session
// start on project: ratio = start / built-in of the median times, met when
// at most 2.
func compareStarts(plain, project *fixtures, o options) (comparison, error) {
	var builtin, starts []float64
	n := 0
	for range o.rounds {
		var a, b []time.Duration
		for i := range o.starts {
			began := time.Now()
			if err := plain.builtinImpersonate(plain.userIds[i%len(plain.userIds)]); err != nil {
				return comparison{}, err
			}
			a = append(a, time.Since(began))
		}
		for i := range o.starts {
			began := time.Now()
			if _, err := project.start(project.userIds[i%len(project.userIds)]); err != nil {
				return comparison{}, err
			}
			b = append(b, time.Since(began))
		}
		slices.Sort(a)
		slices.Sort(b)
		builtin, starts = append(builtin, ms(percentile(a, 50))), append(starts, ms(percentile(b, 50)))
		n += len(a) + len(b)
	}
	c := comparison{
		Name: "session start", A: "built-in impersonate (plain)", B: "plugin start", Unit: "ms (median)",
		AValue: median(builtin), BValue: median(starts), Goal: "≤ 2", Requests: n,
	}
	c.Ratio = c.BValue / c.AValue
	c.Met = c.Ratio <= 2
	return c, nil
}

// countRequestEntries returns how many request entries srv's audit holds.
func countRequestEntries(srv *server) (int, error) {
	var page struct{ TotalItems int }
	path := "/api/collections/impersonation_audit/records?" + url.Values{"filter": {`event = "request"`}, "perPage": {"1"}}.Encode()
	err := srv.call(http.MethodGet, path, srv.superuser, nil, &page)
	return page.TotalItems, err
}
