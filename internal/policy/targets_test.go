package policy_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/policy"
	"github.com/pbimpersonation/impersonation/internal/records"
)

// targetIds runs the query of policy.Targets and returns the ids it finds,
// sorted, or the error of Targets.
func targetIds(t *testing.T, app core.App, p *records.Policy, c *core.Collection, actor *core.Record) ([]string, error) {
	t.Helper()
	query, resolver, err := policy.Targets(app, p, c, actor)
	if err != nil {
		return nil, err
	}
	if err := resolver.UpdateQuery(query); err != nil {
		t.Fatalf("UpdateQuery: %v", err)
	}
	var found []*core.Record
	if err := query.All(&found); err != nil {
		t.Fatalf("run the targets query: %v", err)
	}
	var ids []string
	for _, r := range found {
		ids = append(ids, r.Id)
	}
	slices.Sort(ids)
	if len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Errorf("the targets query returns a record twice: %v", ids)
	}
	return ids, nil
}

// TestTargetsAgreesWithCheck: for every rule, actor and record, the SQL
// filter of policy.Targets keeps exactly the records Check lets the actor
// act as (consent and mode aside), and HasTargets says whether there is one.
func TestTargetsAgreesWithCheck(t *testing.T) {
	rules := map[string]string{
		"empty":                      "",
		"verified clients":           verifiedClientsRule,
		"any auth":                   anyAuthRule,
		"same collection":            `@request.auth.collectionName = "users"`,
		"target field":               `name ~ "test"`,
		"actor field vs target":      `@request.auth.email = email`,
		"other collection (join)":    `@collection.clients.email ?= email && @request.auth.id != ""`,
		"relation of the target":     `rel.id != "" || verified = false`,
		"request data takes no part": `@request.query.x = "1" || @request.method = "GET" || @request.context = "default"`,
		"never":                      `id = "nope"`,
	}
	actors := []ref{superuser, userUnverif, userVerified, userVerified2, clientVerif, clientUnverif}
	targets := []ref{userUnverif, userVerified, userVerified2}

	for name, rule := range rules {
		t.Run(name, func(t *testing.T) {
			app := newTestApp(t)
			p := newPolicy(t, app, rule, func(p *records.Policy) { p.SetConsent(records.ConsentNone) })
			users, err := app.FindCollectionByNameOrId("users")
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range actors {
				actor := find(t, app, a)
				var want []string
				for _, target := range targets {
					err := policy.Check(app, policy.Request{
						Policy: p, Actor: actor, Target: find(t, app, target), Mode: records.ModeRead, Now: now,
					})
					if err == nil {
						want = append(want, target.id)
					}
				}
				slices.Sort(want)

				got, err := targetIds(t, app, p, users, actor)
				var refusal *policy.Refusal
				if errors.As(err, &refusal) && refusal.Code == policy.CodeRuleFailed {
					got = nil // the rule lets this actor act as no one
				} else if err != nil {
					t.Fatalf("%v: Targets: %v", a, err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%v: Targets found %v, Check allows %v", a, got, want)
				}

				has, err := policy.HasTargets(app, p, users, actor)
				if err != nil {
					t.Fatalf("%v: HasTargets: %v", a, err)
				}
				if has != (len(want) > 0) {
					t.Errorf("%v: HasTargets = %v, Check allows %v", a, has, want)
				}
			}
		})
	}
}

func TestTargetsRefusals(t *testing.T) {
	app := newTestApp(t)
	users, _ := app.FindCollectionByNameOrId("users")
	clients, _ := app.FindCollectionByNameOrId("clients")
	superusers, _ := app.FindCollectionByNameOrId(core.CollectionNameSuperusers)
	actor := find(t, app, clientVerif)
	enabled := newPolicy(t, app, verifiedClientsRule, nil)
	disabled := newPolicy(t, app, verifiedClientsRule, func(p *records.Policy) { p.SetEnabled(false) })
	ofSuperusers := newPolicy(t, app, anyAuthRule, func(p *records.Policy) { p.SetCollection(core.CollectionNameSuperusers) })

	cases := []struct {
		name       string
		policy     *records.Policy
		collection *core.Collection
		actor      *core.Record
		code       policy.Code
		err        error
	}{
		{"no policy", nil, users, actor, policy.CodeNoPolicy, policy.ErrNotAllowed},
		{"disabled policy", disabled, users, actor, policy.CodePolicyDisabled, policy.ErrNotAllowed},
		{"collection the policy does not cover", enabled, clients, actor, policy.CodeTargetNotFound, policy.ErrNotAllowed},
		{"no collection", enabled, nil, actor, policy.CodeTargetNotFound, policy.ErrNotAllowed},
		{"superusers", ofSuperusers, superusers, actor, policy.CodeTargetNotFound, policy.ErrNotAllowed},
		{"no actor", enabled, users, nil, policy.CodeActorNotFound, policy.ErrActorUnavailable},
		{"empty rule, not a superuser", newPolicy(t, app, "", nil), users, actor, policy.CodeRuleFailed, policy.ErrNotAllowed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := policy.Targets(app, c.policy, c.collection, c.actor)
			assertDecision(t, err, c.code, c.err)
			if has, err := policy.HasTargets(app, c.policy, c.collection, c.actor); has || err != nil {
				t.Errorf("HasTargets = %v, %v; want false, nil", has, err)
			}
		})
	}

	t.Run("a rule that does not compile", func(t *testing.T) {
		p := newPolicy(t, app, `nope ~~ (`, nil)
		_, _, err := policy.Targets(app, p, users, actor)
		var refusal *policy.Refusal
		if err == nil || errors.As(err, &refusal) {
			t.Fatalf("Targets: %v, want a build error", err)
		}
		if has, err := policy.HasTargets(app, p, users, actor); has || err == nil {
			t.Errorf("HasTargets = %v, %v; want false and the error", has, err)
		}
	})
}
