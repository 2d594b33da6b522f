package sessions_test

import (
	"github.com/pocketbase/dbx"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pbimpersonation/impersonation/internal/records"
	"github.com/pbimpersonation/impersonation/internal/sessions"

	"github.com/pbimpersonation/impersonation/internal/testapp"
)

func TestMain(m *testing.M) { testapp.Main(m) }

func TestCache(t *testing.T) {
	app, err := testapp.NewApp()
	if err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()
	cache := sessions.NewCache(app)
	// as the plugin binds it: every committed change is forgotten
	app.OnRecordAfterCreateSuccess().BindFunc(func(e *core.RecordEvent) error { cache.Forget(e.Record); return e.Next() })
	app.OnRecordAfterUpdateSuccess().BindFunc(func(e *core.RecordEvent) error { cache.Forget(e.Record); return e.Next() })
	app.OnRecordAfterDeleteSuccess().BindFunc(func(e *core.RecordEvent) error { cache.Forget(e.Record); return e.Next() })

	superuser, _ := app.FindRecordById(core.CollectionNameSuperusers, "sywbhecnh46rhm0")
	user, _ := app.FindRecordById("users", "4q1xlclmfloku33")

	t.Run("a missing session is not remembered", func(t *testing.T) {
		if _, err := cache.Session("sessioncache001"); err == nil {
			t.Fatal("found a session that does not exist")
		}
		// written with raw SQL, past the hooks: only a lookup that did not
		// remember the miss finds it
		_, err := app.DB().Insert(records.SessionsCollection, dbx.Params{
			"id": "sessioncache001", "actor": superuser.Id, "actorCollection": superuser.Collection().Id,
			"target": user.Id, "targetCollection": user.Collection().Id, "mode": "read",
			"expires": time.Now().Add(time.Hour).UTC().Format("2006-01-02 15:04:05.000Z"),
		}).Execute()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cache.Session("sessioncache001"); err != nil {
			t.Errorf("the missing session was remembered: %v", err)
		}
	})

	t.Run("a change is seen at once", func(t *testing.T) {
		s, err := cache.Session("sessioncache001")
		if err != nil || s.IsEnded() {
			t.Fatalf("live session: %v", err)
		}
		fresh, _ := records.FindSession(app, s.Id)
		fresh.SetEnded(time.Now(), records.EndStopped)
		if err := app.Save(fresh); err != nil {
			t.Fatal(err)
		}
		if s, _ := cache.Session(s.Id); !s.IsEnded() {
			t.Error("the cache still holds the live session")
		}
	})

	t.Run("a missing policy is remembered until one is created", func(t *testing.T) {
		if p, _ := cache.Policy("users"); p != nil {
			t.Fatal("found a policy that does not exist")
		}
		p, _ := records.NewPolicy(app)
		p.SetCollection("users")
		p.SetConsent(records.ConsentRequired)
		p.SetMaxMinutes(60)
		p.SetModes([]records.Mode{records.ModeRead})
		p.SetAttemptsPerMinute(5)
		p.SetConsentMaxHours(24)
		if err := app.Save(p); err != nil {
			t.Fatal(err)
		}
		if found, _ := cache.Policy("users"); found == nil || found.ConsentMaxHours() != 24 {
			t.Errorf("the created policy is not seen: %v", found)
		}
	})

	t.Run("a consent's change and an actor's change are seen", func(t *testing.T) {
		if c, _ := cache.Consent(user); c != nil {
			t.Fatal("found a consent that does not exist")
		}
		c, _ := records.FindOrNewConsent(app, user)
		c.SetExpires(time.Now().Add(time.Hour))
		if err := app.Save(c); err != nil {
			t.Fatal(err)
		}
		if found, _ := cache.Consent(user); found == nil {
			t.Error("the new consent is not seen")
		}
		actor, _ := cache.Record(user.Collection().Id, user.Id)
		changed, _ := app.FindRecordById("users", user.Id)
		changed.Set("name", "renamed")
		if err := app.Save(changed); err != nil {
			t.Fatal(err)
		}
		if again, _ := cache.Record(user.Collection().Id, user.Id); again.GetString("name") != "renamed" || actor.GetString("name") == "renamed" {
			t.Error("the actor's change is not seen, or a shared record was modified")
		}
	})
}
