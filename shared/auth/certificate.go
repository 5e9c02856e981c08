package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/workerfleet/workerfleet/shared/slugid"
)

// MaxTemporaryLifetime is the longest temporary credentials may live.
const MaxTemporaryLifetime = 31 * 24 * time.Hour

// certificateSkew is the clock skew Taskcluster allows on a certificate's start and
// expiry.
const certificateSkew = 5 * time.Minute

// Certificate is a temporary-credentials certificate (version 1).
type Certificate struct {
	Version   int      `json:"version"`
	Scopes    []string `json:"scopes"`
	Start     int64    `json:"start"`
	Expiry    int64    `json:"expiry"`
	Seed      string   `json:"seed"`
	Signature string   `json:"signature"`
	Issuer    string   `json:"issuer,omitempty"`
}

// signature is the certificate's signature with the issuer's access token; clientID
// is the temporary client id (named credentials only).
func (c Certificate) signature(accessToken, clientID string) string {
	lines := []string{"version:" + strconv.Itoa(c.Version)}
	if c.Issuer != "" {
		lines = append(lines, "clientId:"+clientID, "issuer:"+c.Issuer)
	}
	lines = append(lines, "seed:"+c.Seed, "start:"+strconv.FormatInt(c.Start, 10), "expiry:"+strconv.FormatInt(c.Expiry, 10), "scopes:")
	lines = append(lines, c.Scopes...)
	m := hmac.New(sha256.New, []byte(accessToken))
	m.Write([]byte(strings.Join(lines, "\n")))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// TemporaryAccessToken is the access token of temporary credentials made from
// accessToken with a certificate's seed.
func TemporaryAccessToken(accessToken, seed string) string {
	m := hmac.New(sha256.New, []byte(accessToken))
	m.Write([]byte(seed))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Credentials are Taskcluster credentials; Certificate is the certificate's JSON, as
// Taskcluster hands it out.
type Credentials struct {
	ClientID    string `json:"clientId"`
	AccessToken string `json:"accessToken"`
	Certificate string `json:"certificate,omitempty"`
}

// Issuer mints temporary credentials from its own permanent credentials.
type Issuer struct {
	ClientID, AccessToken string
	// Scopes are the issuer's own: it cannot grant more.
	Scopes []string
	Now    func() time.Time
}

// Temporary returns temporary credentials for scopes, valid from start to expiry.
// With a name they are named credentials (their clientId is the name, the issuer is
// recorded); without, their clientId is the issuer's.
func (i Issuer) Temporary(name string, scopes []string, start, expiry time.Time) (Credentials, error) {
	if i.ClientID == "" || i.AccessToken == "" {
		return Credentials{}, errors.New("temporary credentials: the issuer has no credentials")
	}
	if !expiry.After(start) {
		return Credentials{}, errors.New("temporary credentials: expiry must be after start")
	}
	if expiry.Sub(start) > MaxTemporaryLifetime {
		return Credentials{}, fmt.Errorf("temporary credentials: lifetime %s is over 31 days", expiry.Sub(start))
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
		return Credentials{}, fmt.Errorf("temporary credentials: issuer %s may not name credentials %q", i.ClientID, name)
	}
	if scopes == nil {
		scopes = []string{}
	}
	c := Certificate{Version: 1, Scopes: scopes, Start: start.UnixMilli(), Expiry: expiry.UnixMilli(), Seed: slugid.Nice() + slugid.Nice()}
	clientID := i.ClientID
	if name != "" {
		c.Issuer, clientID = i.ClientID, name
	}
	c.Signature = c.signature(i.AccessToken, clientID)
	raw, err := json.Marshal(c)
	if err != nil {
		return Credentials{}, fmt.Errorf("temporary credentials: %w", err)
	}
	return Credentials{ClientID: clientID, AccessToken: TemporaryAccessToken(i.AccessToken, c.Seed), Certificate: string(raw)}, nil
}

// NewAccessToken returns a new random access token of 44 characters
// ([A-Za-z0-9_-]), as Taskcluster makes them.
func NewAccessToken() (string, error) {
	var b [33]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new access token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
