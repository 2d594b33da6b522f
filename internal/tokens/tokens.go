// Package tokens mints and reads impersonation tokens.
//
// An impersonation token is an ordinary PocketBase auth token of the target
// (claims "type", "id", "collectionId", "exp", signed with the target's
// tokenKey and its collection's auth secret, so every PocketBase API and SDK
// accepts it) with three differences:
//
//   - "refreshable" is false, so auth-refresh cannot trade it for a plain token;
//   - "act" names the real actor, as RFC 8693 §4.1 says:
//     {"sub": <actor id>, "collectionId": <actor collection id>};
//   - "sid" is the id of the impersonation session the token belongs to.
//
// "exp" equals the session's expiry to the second.
package tokens

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/security"
)

// Claim names added to PocketBase's auth token claims.
const (
	ClaimActor   = "act"
	ClaimSession = "sid"
)

// ErrMalformed is returned by Peek for a token that carries impersonation
// claims of the wrong shape.
var ErrMalformed = errors.New("malformed impersonation claims")

// Actor is the "act" claim: who is really acting.
type Actor struct {
	Sub          string `json:"sub"`
	CollectionId string `json:"collectionId"`
}

// Claims are the claims of an impersonation token that the plugin reads.
type Claims struct {
	Target           string
	TargetCollection string
	Actor            Actor
	Session          string
	Refreshable      bool
	Expires          time.Time
	// File tells a file token (PocketBase's "file" type) from an auth token.
	File bool
}

// Mint returns a signed impersonation token of target for the session
// sessionId started by actor, valid until expires (whole seconds).
func Mint(target, actor *core.Record, sessionId string, expires time.Time) (string, error) {
	return mint(core.TokenTypeAuth, target, actor, sessionId, expires)
}

// MintFile returns a signed impersonation file token of target, as
// PocketBase's POST /api/files/token mints for protected files, that also
// names the actor and the session sessionId, valid until expires: the
// plugin checks its downloads against the session like any other request.
func MintFile(target, actor *core.Record, sessionId string, expires time.Time) (string, error) {
	return mint(core.TokenTypeFile, target, actor, sessionId, expires)
}

func mint(tokenType string, target, actor *core.Record, sessionId string, expires time.Time) (string, error) {
	if !target.Collection().IsAuth() {
		return "", core.ErrNotAuthRecord
	}
	claims := jwt.MapClaims{
		core.TokenClaimType:         tokenType,
		core.TokenClaimId:           target.Id,
		core.TokenClaimCollectionId: target.Collection().Id,
		"exp":                       expires.Unix(),
		ClaimActor: map[string]any{
			"sub":          actor.Id,
			"collectionId": actor.Collection().Id,
		},
		ClaimSession: sessionId,
	}
	if tokenType == core.TokenTypeAuth {
		claims[core.TokenClaimRefreshable] = false
	}
	return security.NewJWT(claims, signingKey(tokenType, target), time.Until(expires))
}

// signingKey is the key PocketBase signs target's tokens of tokenType with.
func signingKey(tokenType string, target *core.Record) string {
	if tokenType == core.TokenTypeFile {
		return target.TokenKey() + target.Collection().FileToken.Secret
	}
	return target.TokenKey() + target.Collection().AuthToken.Secret
}

// Peek reads the claims of token WITHOUT verifying its signature or expiry;
// PocketBase's own auth middleware verifies them. ok is false when token is
// not an impersonation token (it has neither "act" nor "sid"). err is
// ErrMalformed when it has one of them but the claims are not as Mint
// writes them.
func Peek(token string) (claims Claims, ok bool, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, false, nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || !mayName(payload, ClaimActor, ClaimSession) {
		return Claims{}, false, nil
	}
	var raw map[string]any
	if json.Unmarshal(payload, &raw) != nil {
		return Claims{}, false, nil
	}
	act, hasAct := raw[ClaimActor]
	sid, hasSid := raw[ClaimSession]
	if !hasAct && !hasSid {
		return Claims{}, false, nil
	}

	actObj, _ := act.(map[string]any)
	claims.Actor.Sub, _ = actObj["sub"].(string)
	claims.Actor.CollectionId, _ = actObj["collectionId"].(string)
	claims.Session, _ = sid.(string)
	claims.Target, _ = raw[core.TokenClaimId].(string)
	claims.TargetCollection, _ = raw[core.TokenClaimCollectionId].(string)
	claims.Refreshable, _ = raw[core.TokenClaimRefreshable].(bool)
	claims.File = raw[core.TokenClaimType] == core.TokenTypeFile
	if exp, isNum := raw["exp"].(float64); isNum {
		claims.Expires = time.Unix(int64(exp), 0)
	}
	if claims.Actor.Sub == "" || claims.Actor.CollectionId == "" || claims.Session == "" ||
		claims.Target == "" || claims.TargetCollection == "" {
		return claims, true, ErrMalformed
	}
	return claims, true, nil
}

// mayName reports whether the JSON object payload may have a key of names:
// whether it holds one of them quoted, or any escape (a key may be spelled
// with one). Every request's token is peeked, and most name neither, so
// this spares them the decoding.
func mayName(payload []byte, names ...string) bool {
	if bytes.IndexByte(payload, '\\') >= 0 {
		return true
	}
	for _, n := range names {
		if bytes.Contains(payload, []byte(`"`+n+`"`)) {
			return true
		}
	}
	return false
}

// ErrBadSignature is returned by VerifySignature for a token that target's
// key did not sign.
var ErrBadSignature = errors.New("the token is not signed with the target's key")

// VerifySignature checks that token, whose claims are c, was signed as Mint
// or MintFile signs, with the key of target (its tokenKey and its
// collection's auth or file token secret). It does not check the expiry: a
// session's own expiry decides, and a token past its exp that the plugin
// sees was signed by the server is the session's request, so it is answered
// (and audited) as an expired one.
func VerifySignature(token string, c Claims, target *core.Record) error {
	tokenType := core.TokenTypeAuth
	if c.File {
		tokenType = core.TokenTypeFile
	}
	key := signingKey(tokenType, target)
	_, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return []byte(key), nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithoutClaimsValidation())
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}
