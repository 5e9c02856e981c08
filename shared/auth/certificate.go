package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/workerfleet/workerfleet/shared/slugid"
)

// MaxTemporaryLifetime is the longest temporary credentials may live (expiry minus
// start).
const MaxTemporaryLifetime = 31 * 24 * time.Hour

// SeedLength is the length of a certificate's seed, and of an access token.
const SeedLength = 44

// maxMillis bounds certificate times (milliseconds since 1970; the end of the year
// 9999), so that their arithmetic cannot overflow.
const maxMillis = 253402300799999

// ext is a Hawk ext attribute as Taskcluster uses it: base64 of a JSON object with
// an optional certificate (temporary credentials) and optional authorizedScopes.
type ext struct {
	cert             *certificate
	authorizedScopes []string
	restricted       bool // authorizedScopes was given (even empty)
}

// parseExt decodes an ext attribute. Keys are matched exactly, as Taskcluster's
// JSON.parse does (encoding/json alone would also take "Certificate"); a null value
// counts as absent; other keys are ignored.
func parseExt(s string) (ext, error) {
	var x ext
	if s == "" {
		return x, nil
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return x, fail("ext is not base64")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return x, fail("ext is not a base64-encoded JSON object")
	}
	if c, ok := obj["certificate"]; ok && !isNull(c) {
		cert, err := parseCertificate(c)
		if err != nil {
			return x, err
		}
		x.cert = &cert
	}
	if a, ok := obj["authorizedScopes"]; ok && !isNull(a) {
		scopes, ok := scopeArray(a)
		if !ok {
			return x, fail("ext.authorizedScopes must be an array of valid scopes (strings of printable ASCII)")
		}
		x.authorizedScopes, x.restricted = scopes, true
	}
	return x, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// scopeArray decodes a JSON array of valid scopes; null elements are refused
// (encoding/json would read them as "").
func scopeArray(raw json.RawMessage) ([]string, bool) {
	var items []*string
	if err := json.Unmarshal(raw, &items); err != nil || isNull(raw) {
		return nil, false
	}
	out := make([]string, len(items))
	for i, s := range items {
		if s == nil || !ValidScope(*s) {
			return nil, false
		}
		out[i] = *s
	}
	return out, true
}

// certificate is a temporary-credentials certificate, as read from ext.
type certificate struct {
	scopes        []string
	start, expiry int64 // milliseconds
	seed          string
	signature     string
	issuer        string // named credentials only
	hasClientID   bool   // a clientId key, allowed only with issuer
}

// parseCertificate checks a certificate's structure: an object with version 1, a
// seed of 44 characters, integer start and expiry within the years 1970 to 9999,
// valid scopes (null counts as none, as the Go client sends for no scopes), a
// signature, and an optional issuer. It checks nothing that needs a key.
func parseCertificate(raw json.RawMessage) (certificate, error) {
	var c certificate
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return c, fail("ext.certificate must be a JSON object")
	}
	field := func(name string, v any, what string) error {
		r, ok := obj[name]
		if !ok {
			return fail("ext.certificate.%s is missing", name)
		}
		if err := json.Unmarshal(r, v); err != nil || isNull(r) {
			return fail("ext.certificate.%s must be %s", name, what)
		}
		return nil
	}
	var version int64
	if err := field("version", &version, "a number"); err != nil {
		return c, err
	}
	if version != 1 {
		return c, fail("ext.certificate.version must be 1")
	}
	if err := field("seed", &c.seed, "a string"); err != nil {
		return c, err
	}
	if len(c.seed) != SeedLength {
		return c, fail("ext.certificate.seed must be %d characters", SeedLength)
	}
	if err := field("start", &c.start, "an integer (milliseconds)"); err != nil {
		return c, err
	}
	if err := field("expiry", &c.expiry, "an integer (milliseconds)"); err != nil {
		return c, err
	}
	if c.start < 0 || c.start > maxMillis || c.expiry < 0 || c.expiry > maxMillis {
		return c, fail("ext.certificate start and expiry must lie between the years 1970 and 9999")
	}
	r, ok := obj["scopes"]
	if !ok {
		return c, fail("ext.certificate.scopes is missing")
	}
	if isNull(r) {
		c.scopes = []string{}
	} else if c.scopes, ok = scopeArray(r); !ok {
		return c, fail("ext.certificate.scopes must be an array of valid scopes (strings of printable ASCII)")
	}
	if err := field("signature", &c.signature, "a string"); err != nil {
		return c, err
	}
	if r, ok := obj["issuer"]; ok && !isNull(r) {
		if err := json.Unmarshal(r, &c.issuer); err != nil {
			return c, fail("ext.certificate.issuer must be a string")
		}
		if c.issuer != "" && !ValidClientID(c.issuer) {
			return c, fail("ext.certificate.issuer is not a valid client id (1 to %d of A-Z a-z 0-9 ! @ / : . + | _ -)", MaxClientIDLength)
		}
	}
	_, c.hasClientID = obj["clientId"]
	if c.hasClientID && c.issuer == "" {
		return c, fail("ext.certificate.clientId must only be used with ext.certificate.issuer")
	}
	return c, nil
}

// signedText is what a certificate's signature covers (clientID: the temporary
// client id, for named credentials):
//
//	version:1\n[clientId:<clientID>\nissuer:<issuer>\n]seed:<seed>\nstart:<ms>\nexpiry:<ms>\nscopes:[\n<scope>]...
func signedText(clientID, issuer, seed string, start, expiry int64, scopes []string) []byte {
	b := []byte("version:1\n")
	if issuer != "" {
		b = append(b, "clientId:"...)
		b = append(b, clientID...)
		b = append(b, "\nissuer:"...)
		b = append(b, issuer...)
		b = append(b, '\n')
	}
	b = append(b, "seed:"...)
	b = append(b, seed...)
	b = append(b, "\nstart:"...)
	b = strconv.AppendInt(b, start, 10)
	b = append(b, "\nexpiry:"...)
	b = strconv.AppendInt(b, expiry, 10)
	b = append(b, "\nscopes:"...)
	for _, s := range scopes {
		b = append(b, '\n')
		b = append(b, s...)
	}
	return b
}

// certificateSignature is base64 of HMAC-SHA256(issuer's access token, signedText).
func certificateSignature(accessToken, clientID, issuer, seed string, start, expiry int64, scopes []string) string {
	m := hmac.New(sha256.New, []byte(accessToken))
	m.Write(signedText(clientID, issuer, seed, start, expiry, scopes))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// signedBy reports whether c was signed with accessToken for the temporary client
// clientID, comparing in constant time.
func (c *certificate) signedBy(accessToken, clientID string) bool {
	want := certificateSignature(accessToken, clientID, c.issuer, c.seed, c.start, c.expiry, c.scopes)
	return subtle.ConstantTimeCompare([]byte(want), []byte(c.signature)) == 1
}

// TemporaryAccessToken is the access token of temporary credentials whose
// certificate has seed, issued by the client with accessToken:
// base64url-without-padding(HMAC-SHA256(accessToken, seed)).
func TemporaryAccessToken(accessToken, seed string) string {
	m := hmac.New(sha256.New, []byte(accessToken))
	m.Write([]byte(seed))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Credentials are Taskcluster credentials; Certificate is the certificate's JSON
// text, as Taskcluster hands it out ("" for permanent credentials).
type Credentials struct {
	ClientID    string `json:"clientId"`
	AccessToken string `json:"accessToken"`
	Certificate string `json:"certificate,omitempty"`
}

// Issuer mints temporary credentials from its own permanent credentials.
type Issuer struct {
	ClientID, AccessToken string
	// Scopes are the issuer's own: it grants no scope they do not satisfy.
	Scopes []string
	// Now is the clock (default time.Now); credentials already expired by it are
	// refused.
	Now func() time.Time
}

// clientIDPattern is Taskcluster's pattern for client ids.
var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9!@/:.+|_-]+$`)

// certificateJSON is a certificate as Taskcluster writes it.
type certificateJSON struct {
	Version   int      `json:"version"`
	Scopes    []string `json:"scopes"`
	Start     int64    `json:"start"`
	Expiry    int64    `json:"expiry"`
	Seed      string   `json:"seed"`
	Signature string   `json:"signature"`
	Issuer    string   `json:"issuer,omitempty"`
}

// Temporary returns temporary credentials for scopes, valid from start to expiry
// (in whole milliseconds). With a name they are named credentials: their clientId
// is the name and the certificate records the issuer, which must then hold
// auth:create-client:<name> (Taskcluster's rule). Without, their clientId is the
// issuer's. It refuses: an issuer without credentials, a name that is not a client
// id or is the issuer's own, expiry not after start, a lifetime over 31 days,
// credentials already expired, times outside the years 1970 to 9999, invalid
// scopes, and scopes the issuer does not hold.
func (i Issuer) Temporary(name string, scopes []string, start, expiry time.Time) (Credentials, error) {
	if i.ClientID == "" || i.AccessToken == "" {
		return Credentials{}, errors.New("temporary credentials: the issuer has no credentials")
	}
	now := time.Now
	if i.Now != nil {
		now = i.Now
	}
	startMs, expiryMs := start.UnixMilli(), expiry.UnixMilli()
	switch {
	case name != "" && !ValidClientID(name):
		return Credentials{}, fmt.Errorf("temporary credentials: name %q is not a valid client id", name)
	case name == i.ClientID:
		return Credentials{}, errors.New("temporary credentials: a name must differ from the issuer's client id")
	case startMs < 0 || expiryMs > maxMillis:
		return Credentials{}, errors.New("temporary credentials: start and expiry must lie between the years 1970 and 9999")
	case expiryMs <= startMs:
		return Credentials{}, errors.New("temporary credentials: expiry must be after start")
	case expiryMs-startMs > MaxTemporaryLifetime.Milliseconds():
		return Credentials{}, fmt.Errorf("temporary credentials: a lifetime of %s is over the 31 days allowed", expiry.Sub(start).Round(time.Second))
	case expiryMs < now().UnixMilli():
		return Credentials{}, errors.New("temporary credentials: expiry is in the past")
	}
	for _, s := range scopes {
		if !ValidScope(s) {
			return Credentials{}, fmt.Errorf("temporary credentials: scope %q is not printable ASCII", s)
		}
		if !Satisfies(i.Scopes, s) {
			return Credentials{}, fmt.Errorf("temporary credentials: issuer %s does not hold scope %q", i.ClientID, s)
		}
	}
	if name != "" && !Satisfies(i.Scopes, "auth:create-client:"+name) {
		return Credentials{}, fmt.Errorf("temporary credentials: issuer %s lacks auth:create-client:%s, needed to name credentials", i.ClientID, name)
	}
	seed, err := NewAccessToken()
	if err != nil {
		return Credentials{}, fmt.Errorf("temporary credentials: seed: %w", err)
	}
	c := certificateJSON{Version: 1, Scopes: append([]string{}, scopes...), Start: startMs, Expiry: expiryMs, Seed: seed}
	clientID := i.ClientID
	if name != "" {
		c.Issuer, clientID = i.ClientID, name
	}
	c.Signature = certificateSignature(i.AccessToken, clientID, c.Issuer, c.Seed, c.Start, c.Expiry, c.Scopes)
	raw, err := json.Marshal(c)
	if err != nil {
		return Credentials{}, fmt.Errorf("temporary credentials: %w", err)
	}
	return Credentials{ClientID: clientID, AccessToken: TemporaryAccessToken(i.AccessToken, c.Seed), Certificate: string(raw)}, nil
}

// NewAccessToken returns a new random access token as Taskcluster makes them: two
// nice slugids, 44 characters of [A-Za-z0-9_-] that never start with '-'.
func NewAccessToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new access token: %w", err)
	}
	return slugid.FromBytes([16]byte(b[:16])) + slugid.FromBytes([16]byte(b[16:])), nil
}
