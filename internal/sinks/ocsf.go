package sinks

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// OCSFVersion is the version of the OCSF schema the ocsf format follows.
const OCSFVersion = "1.3.0"

// The OCSF classes the events map to, each event to one (see ocsfClassOf
// and the README's "Audit sinks"):
//
//	session.started, .denied, .throttled  Authentication (3002), Account Switch (7)
//	session.ended                         Authentication (3002), Logoff (2)
//	request                               API Activity (6003), by method: Create 1, Read 2, Update 3, Delete 4, Other 99
//	consent.granted, consent.revoked      User Access Management (3005), Assign 1 / Revoke 2 Privileges
//	every other event (policy.*, settings.*, sink.*, collection.*, audit.*)
//	                                      Entity Management (3004), Create 1, Update 3, Delete 4, Other 99
const (
	classAuthentication   = 3002
	classEntity           = 3004
	classUserAccess       = 3005
	classAPIActivity      = 6003
	categoryIAM           = 3
	categoryApplication   = 6
	activityOther         = 99
	statusSuccess         = 1
	statusFailure         = 2
	severityInformational = 1
)

// exported is an entry as the audit's JSON lines export writes it: what
// the ocsf format maps.
type exported struct {
	Id               string          `json:"id"`
	Seq              int             `json:"seq"`
	Hash             string          `json:"hash"`
	Created          string          `json:"created"`
	Event            string          `json:"event"`
	Actor            string          `json:"actor"`
	ActorCollection  string          `json:"actorCollection"`
	Target           string          `json:"target"`
	TargetCollection string          `json:"targetCollection"`
	Session          string          `json:"session"`
	Reason           string          `json:"reason"`
	IP               string          `json:"ip"`
	UserAgent        string          `json:"userAgent"`
	Method           string          `json:"method"`
	Path             string          `json:"path"`
	Status           int             `json:"status"`
	Data             json.RawMessage `json:"data"`
}

// ocsfClassOf returns the class, category and activity of an entry.
func ocsfClassOf(e *exported) (class, category, activity int) {
	switch {
	case e.Event == "session.started" || e.Event == "session.denied" || e.Event == "session.throttled":
		return classAuthentication, categoryIAM, 7
	case e.Event == "session.ended":
		return classAuthentication, categoryIAM, 2
	case e.Event == "request":
		activity := map[string]int{http.MethodPost: 1, http.MethodGet: 2, http.MethodHead: 2, http.MethodPatch: 3, http.MethodPut: 3, http.MethodDelete: 4}[e.Method]
		if activity == 0 {
			activity = activityOther
		}
		return classAPIActivity, categoryApplication, activity
	case e.Event == "consent.granted":
		return classUserAccess, categoryIAM, 1
	case e.Event == "consent.revoked":
		return classUserAccess, categoryIAM, 2
	case strings.HasSuffix(e.Event, ".created"):
		return classEntity, categoryIAM, 1
	case strings.HasSuffix(e.Event, ".updated") || e.Event == "collection.rules_changed":
		return classEntity, categoryIAM, 3
	case strings.HasSuffix(e.Event, ".deleted"):
		return classEntity, categoryIAM, 4
	}
	return classEntity, categoryIAM, activityOther
}

// ocsfLine returns the export line of an entry as an OCSF event, one JSON
// line. What OCSF has no attribute for (the entry's hash, its data, its
// reason) is kept under unmapped, so nothing of the entry is lost.
func ocsfLine(line []byte) ([]byte, error) {
	var e exported
	if err := json.Unmarshal(line, &e); err != nil {
		return nil, err
	}
	class, category, activity := ocsfClassOf(&e)
	status := statusSuccess
	if e.Event == "session.denied" || e.Event == "session.throttled" || e.Status >= 400 {
		status = statusFailure
	}
	created, _ := time.Parse("2006-01-02 15:04:05.000Z", e.Created)
	ev := map[string]any{
		"class_uid":    class,
		"category_uid": category,
		"activity_id":  activity,
		"type_uid":     class*100 + activity,
		"severity_id":  severityInformational,
		"status_id":    status,
		"time":         created.UnixMilli(),
		"message":      e.Event,
		"metadata": map[string]any{
			"version":         OCSFVersion,
			"uid":             e.Id,
			"sequence":        e.Seq,
			"correlation_uid": e.Session,
			"product":         map[string]any{"name": "PocketBase impersonation plugin", "vendor_name": "pbimpersonation"},
		},
		"unmapped": map[string]any{
			"event": e.Event, "hash": e.Hash, "reason": e.Reason, "data": e.Data,
			"actorCollection": e.ActorCollection, "targetCollection": e.TargetCollection,
		},
	}
	if e.Actor != "" {
		ev["actor"] = map[string]any{"user": map[string]any{"uid": e.Actor}, "session": map[string]any{"uid": e.Session}}
	}
	if e.Target != "" {
		ev["user"] = map[string]any{"uid": e.Target}
	}
	if e.IP != "" {
		ev["src_endpoint"] = map[string]any{"ip": e.IP}
	}
	if e.Method != "" {
		ev["http_request"] = map[string]any{"http_method": e.Method, "user_agent": e.UserAgent, "url": map[string]any{"path": e.Path}}
	}
	if e.Status != 0 {
		ev["http_response"] = map[string]any{"code": e.Status}
	}
	switch class {
	case classAPIActivity:
		ev["api"] = map[string]any{"operation": e.Method + " " + e.Path}
	case classUserAccess:
		ev["privileges"] = []string{"impersonation"}
	case classEntity:
		ev["entity"] = map[string]any{"name": strings.SplitN(e.Event, ".", 2)[0], "type": "impersonation " + strings.SplitN(e.Event, ".", 2)[0]}
	}
	out, err := json.Marshal(ev)
	return append(out, '\n'), err
}
