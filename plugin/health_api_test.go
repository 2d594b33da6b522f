package plugin_test

import (
	"net/http"
	"testing"

	"github.com/pocketbase/pocketbase/tests"

	"github.com/pbimpersonation/impersonation/internal/audit"
	"github.com/pbimpersonation/impersonation/plugin"
)

func TestHealth(t *testing.T) {
	t.Parallel()
	const url = "/api/impersonation/health"
	scenarios := []tests.ApiScenario{
		{
			Name:            "guest",
			Method:          http.MethodGet,
			URL:             url,
			ExpectedStatus:  401,
			ExpectedContent: []string{`"status":401`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "a user",
			Method:          http.MethodGet,
			URL:             url,
			Headers:         map[string]string{"Authorization": userToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"status":403`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:            "an impersonation token",
			Method:          http.MethodGet,
			URL:             url,
			Headers:         map[string]string{"Authorization": liveToken},
			ExpectedStatus:  403,
			ExpectedContent: []string{`"status":403`},
			TestAppFactory:  factory(plugin.Config{}, nil),
		},
		{
			Name:           "a superuser, before any verify",
			Method:         http.MethodGet,
			URL:            url,
			Headers:        map[string]string{"Authorization": superuserToken},
			ExpectedStatus: 200,
			ExpectedContent: []string{
				`"journal":{"entries":0,"oldest":"","journalBytes":0,"moveError":""}`, `"lastVerify":null`,
			},
			TestAppFactory: factory(plugin.Config{}, nil),
		},
		{
			Name:           "a superuser, after a verify that found the chain whole",
			Method:         http.MethodGet,
			URL:            url,
			Headers:        map[string]string{"Authorization": superuserToken},
			ExpectedStatus: 200,
			ExpectedContent: []string{
				`"lastVerify":{"at":"20`, `"ok":true,"entries":1}`,
			},
			TestAppFactory: factory(plugin.Config{}, func(t testing.TB, app *testApp) {
				if err := logOf(app).Write(app, audit.Entry{Event: audit.SessionStarted}); err != nil {
					t.Fatal(err)
				}
				if res, err := logOf(app).Verify(nil); err != nil || !res.OK {
					t.Fatalf("verify: %+v %v", res, err)
				}
			}),
		},
	}
	for _, s := range scenarios {
		s.Test(t)
	}
}
