// Package masks decides what of a user's data an impersonation session
// must not see. A policy's maskedFields name, by collection, the fields
// hidden while impersonating under it:
//
//	{"payments": ["cardNumber", "iban"], "users": ["phone"]}
//
// A masked field is left out of every record served while impersonating,
// cannot be written, and cannot be read another way, one guess at a time:
// a filter, sort or expand that reads it, and an API rule that compares it
// with what the request sends (its query, body or headers), are refused.
//
// Reads are matched by name, conservatively: any field path that names a
// masked field's name in any letter case, in any collection, counts
// (cardNumber, owner.phone, payments_via_owner.cardNumber,
// @collection.payments.iban, @request.auth.phone, with any modifier such
// as :lower or :each, behind any operator such as ?= or ~). A filter is
// read with PocketBase's own parser, so a string literal is never taken
// for a path and no path is hidden from it; one that does not parse (which
// PocketBase refuses as well) is searched for the names word by word.
//
// Example usage:
//
//	m := masks.New(map[string][]string{"payments": {"cardNumber"}})
//	if field, ok := m.FilterReads(`owner.name = "Ann" && cardNumber ~ "4111"`); ok {
//		// refuse: the filter reads field
//	}
//	record.Hide(m.Fields("payments")...) // before a payment is served
package masks

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/tools/search"
)

// Sentinel errors of what a session may not do to a masked field.
var (
	// ErrRead: a filter, sort or expand reads a masked field.
	ErrRead = errors.New("reads a masked field")
	// ErrRule: an API rule the request makes PocketBase evaluate compares
	// a masked field with data the caller sends.
	ErrRule = errors.New("an API rule compares a masked field with request data")
	// ErrWrite: the request writes a masked field.
	ErrWrite = errors.New("writes a masked field")
)

// Error is a refusal on account of a masked field: one of the sentinel
// errors, the field's name and where it was found (a query parameter, an
// API rule, a body field).
type Error struct {
	Err   error
	Field string
	Where string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s (%s)", e.Err, e.Field, e.Where) }

// Unwrap returns the sentinel error.
func (e *Error) Unwrap() error { return e.Err }

// Masks are the fields hidden while impersonating under one policy. The
// zero value masks nothing. Masks are read-only once made, and safe for
// concurrent use.
type Masks struct {
	// fields are the masked fields by collection name
	fields map[string][]string
	// names are every masked field's name, lower case
	names map[string]bool
}

// New returns the masks of a policy's maskedFields (collection name →
// field names). Empty names are left out.
func New(byCollection map[string][]string) Masks {
	m := Masks{fields: map[string][]string{}, names: map[string]bool{}}
	for collection, fields := range byCollection {
		for _, f := range fields {
			if f = strings.TrimSpace(f); f == "" || slices.Contains(m.fields[collection], f) {
				continue
			}
			m.fields[collection] = append(m.fields[collection], f)
			m.names[strings.ToLower(f)] = true
		}
	}
	return m
}

// Empty reports whether m masks nothing.
func (m Masks) Empty() bool { return len(m.names) == 0 }

// Fields returns the masked fields of the named collection (nil for none).
// The caller must not modify the slice.
func (m Masks) Fields(collection string) []string { return m.fields[collection] }

// ByCollection returns a copy of the masked fields by collection name,
// each list sorted: what the plugin's answers tell.
func (m Masks) ByCollection() Listing {
	out := make(Listing, len(m.fields))
	for c, fields := range m.fields {
		out[c] = slices.Sorted(slices.Values(fields))
	}
	return out
}

// Listing is masked field names by collection name. It encodes as a JSON
// object whose collections are sorted, so that an answer that lists masks
// is the same every time.
type Listing map[string][]string

// MarshalJSON encodes l with its collections sorted.
func (l Listing) MarshalJSON() ([]byte, error) { return json.Marshal(map[string][]string(l)) }

// named reports whether name is a masked field's name, in any letter case.
func (m Masks) named(name string) bool { return m.names[strings.ToLower(name)] }

// Written returns the first masked field of collection that a request body
// with the given field names would write ("cardNumber", "+receipt",
// "receipt-", "code:autogenerate": every modifier PocketBase accepts, and
// any letter case).
func (m Masks) Written(collection string, bodyFields []string) (string, bool) {
	return WrittenOf(m.fields[collection], bodyFields)
}

// WrittenOf returns the first of fields that a request body with the given
// field names would write, as Written tells it.
func WrittenOf(fields, bodyFields []string) (string, bool) {
	for _, key := range bodyFields {
		name := strings.TrimPrefix(key, "+")
		name = strings.TrimRight(name, "+-")
		name, _, _ = strings.Cut(name, ":")
		for _, f := range fields {
			if strings.EqualFold(name, f) {
				return f, true
			}
		}
	}
	return "", false
}

// FilterReads returns the first masked field's name that a filter (the
// records API's filter syntax) reads.
func (m Masks) FilterReads(filter string) (string, bool) {
	if m.Empty() || strings.TrimSpace(filter) == "" {
		return "", false
	}
	for _, id := range identifiers(filter) {
		for _, name := range readNames(id) {
			if m.named(name) {
				return name, true
			}
		}
	}
	return "", false
}

// SortReads returns the first masked field's name that a sort ("-created,
// owner.phone") reads.
func (m Masks) SortReads(sort string) (string, bool) {
	if m.Empty() || sort == "" {
		return "", false
	}
	for _, f := range search.ParseSortFromString(sort) {
		for _, name := range readNames(f.Name) {
			if m.named(name) {
				return name, true
			}
		}
	}
	return "", false
}

// ExpandReads returns the first masked field's name that an expand
// ("owner,payments_via_owner.receipt") reads: a masked relation field is
// read by expanding it (its value is the related record).
func (m Masks) ExpandReads(expand string) (string, bool) {
	if m.Empty() || expand == "" {
		return "", false
	}
	for _, path := range strings.Split(expand, ",") {
		for _, name := range readNames(strings.TrimSpace(path)) {
			if m.named(name) {
				return name, true
			}
		}
	}
	return "", false
}

// QueryReads checks the filter, sort and expand of a request's query (the
// records API's parameters) and returns an *Error wrapping ErrRead for
// the first that reads a masked field.
func (m Masks) QueryReads(filter, sort, expand string) error {
	for _, check := range []struct {
		param string
		reads func(string) (string, bool)
		value string
	}{{"filter", m.FilterReads, filter}, {"sort", m.SortReads, sort}, {"expand", m.ExpandReads, expand}} {
		if field, ok := check.reads(check.value); ok {
			return &Error{Err: ErrRead, Field: field, Where: check.param}
		}
	}
	return nil
}

// RuleSteered returns the first masked field's name that an API rule
// compares with data the caller sends: a rule that reads a masked field
// and also reads @request.query, @request.body or @request.headers (but
// trusted, the header the server sets itself, as API rules name it), or,
// when fieldsSent (a create rule, whose record is the one the caller
// sends), any field of its own record. The caller would learn the field's
// value one guess at a time from whether the rule lets it in. A body field
// is the caller's own value, unless it is read with :changed (compared
// with the stored one) or through a relation (the related record's
// fields).
func (m Masks) RuleSteered(rule, trusted string, fieldsSent bool) (string, bool) {
	if m.Empty() || strings.TrimSpace(rule) == "" {
		return "", false
	}
	steered, masked := false, ""
	for _, id := range identifiers(rule) {
		if isSteered(id, trusted) || (fieldsSent && !strings.HasPrefix(id, "@")) {
			steered = true
		}
		for _, name := range readNames(id) {
			if masked == "" && m.named(name) {
				masked = name
			}
		}
	}
	if !steered {
		return "", false
	}
	return masked, masked != ""
}

// isSteered reports whether a rule's identifier is data the caller sends.
func isSteered(id, trusted string) bool {
	switch {
	case strings.HasPrefix(id, "@request.query."), strings.HasPrefix(id, "@request.body."):
		return true
	case strings.HasPrefix(id, "@request.headers."):
		name, _, _ := strings.Cut(strings.TrimPrefix(id, "@request.headers."), ":")
		return !strings.EqualFold(name, trusted)
	}
	return false
}

// readNames returns the names of the fields a field path reads (each
// segment without its modifier): every segment of a plain path ("owner",
// "phone" of owner.phone:lower; "payments_via_owner" and "owner" of
// payments_via_owner.cardNumber, besides "cardNumber"); those after the
// collection of @collection.name.path and after @request.auth; none of
// @request.query, @request.headers, @request.method or @request.context;
// and of @request.body.field, the field only with :changed (which compares
// the stored value) and the related record's fields of a longer path.
func readNames(path string) []string {
	segments := strings.Split(path, ".")
	modifiers := make([]string, len(segments))
	for i, s := range segments {
		segments[i], modifiers[i], _ = strings.Cut(strings.TrimSpace(s), ":")
	}
	switch {
	case segments[0] == "@collection":
		segments = segments[min(2, len(segments)):]
	case segments[0] == "@request" && len(segments) > 1 && segments[1] == "auth":
		segments = segments[2:]
	case segments[0] == "@request" && len(segments) > 2 && segments[1] == "body":
		var read []string
		if len(segments) == 3 && modifiers[2] == "changed" {
			read = append(read, segments[2])
		}
		return append(read, segments[3:]...)
	case strings.HasPrefix(segments[0], "@"):
		return nil
	}
	var names []string
	for _, s := range segments {
		names = append(names, s)
		// PocketBase splits a back-relation at its last "_via_"; every
		// part counts, so a name holding "_via_" is read either way
		if parts := strings.Split(s, "_via_"); len(parts) > 1 && parts[0] != "" {
			names = append(names, parts[1:]...)
		}
	}
	return names
}

// RuleFields returns the fields of a record that rule (the API rules'
// syntax) reads, as PocketBase's parser finds its paths: the field each
// plain path starts from (the record the rule is evaluated on: "manager"
// of manager.org.owner) and of each @request.auth path (the record of
// whoever the rule is evaluated for), but for the unwritable names.
// @collection paths read other collections' records, which are not among
// them.
func RuleFields(rule string) []string {
	var fields []string
	for _, path := range identifiers(rule) {
		segments := strings.Split(path, ".")
		if len(segments) > 2 && segments[0] == "@request" && segments[1] == "auth" {
			segments = segments[2:]
		}
		name, _, _ := strings.Cut(strings.TrimSpace(segments[0]), ":")
		if name == "" || strings.HasPrefix(name, "@") || slices.Contains(unwritable, name) || slices.Contains(fields, name) {
			continue
		}
		fields = append(fields, name)
	}
	return fields
}

// unwritable are the names a rule's path may start from that no update
// changes: the id, the virtual collection fields, and the literals the
// parser hands the resolver.
var unwritable = []string{"id", "collectionId", "collectionName", "true", "false", "null"}

// identifiers returns the field paths of a filter, as PocketBase's own
// parser finds them. A filter that does not parse is split into words
// instead, string literals included: each word counts as a path.
func identifiers(filter string) []string {
	var r recorder
	if _, err := search.FilterData(filter).BuildExpr(&r); err != nil {
		return word.FindAllString(filter, -1)
	}
	return r.paths
}

// word matches a field path, modifiers and all, in any text.
var word = regexp.MustCompile(`[@A-Za-z0-9_][A-Za-z0-9_.:@]*`)

// recorder is a search.FieldResolver that resolves every field path to a
// constant and notes it.
type recorder struct{ paths []string }

func (r *recorder) UpdateQuery(*dbx.SelectQuery) error { return nil }

func (r *recorder) Resolve(path string) (*search.ResolverResult, error) {
	r.paths = append(r.paths, path)
	return &search.ResolverResult{Identifier: "NULL"}, nil
}
