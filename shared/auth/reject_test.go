package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
)

const target = "https://tc.example.com/api/worker-manager/v1/worker-pool/proj%2Fpool?limit=5"

// setAttr replaces (or adds) one attribute of a Hawk header, keeping the others.
func setAttr(r Request, attr, val string) Request {
	parts := strings.Split(strings.TrimPrefix(r.Authorization, "Hawk "), ", ")
	found := false
	for i, p := range parts {
		if strings.HasPrefix(p, attr+"=") {
			parts[i], found = attr+`="`+val+`"`, true
		}
	}
	if !found {
		parts = append(parts, attr+`="`+val+`"`)
	}
	r.Authorization = "Hawk " + strings.Join(parts, ", ")
	return r
}

// attr reads one attribute of a Hawk header.
func attr(r Request, name string) string {
	for _, p := range strings.Split(strings.TrimPrefix(r.Authorization, "Hawk "), ", ") {
		if v, ok := strings.CutPrefix(p, name+`="`); ok {
			return strings.TrimSuffix(v, `"`)
		}
	}
	return ""
}

// bewitURL returns a signed URL the official client makes, as a Request.
func bewitURL(t testing.TB, creds *tcclient.Credentials, d time.Duration) Request {
	t.Helper()
	c := &tcclient.Client{Credentials: creds, RootURL: "https://tc.example.com", ServiceName: "worker-manager", APIVersion: "v1"}
	u, err := c.SignedURL(poolRoute, url.Values{"limit": {"5"}}, d)
	if err != nil {
		t.Fatal(err)
	}
	host, port := hostPort(u)
	return Request{Method: "GET", Host: host, Port: port, Resources: []string{u.RequestURI()}}
}

// rebewit edits the parts of a request's bewit (id, exp, mac, ext) and re-encodes it.
func rebewit(t testing.TB, r Request, edit func(parts []string)) Request {
	t.Helper()
	u, err := url.Parse(r.Resources[0])
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	raw, err := base64.RawURLEncoding.DecodeString(q.Get("bewit"))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(raw), `\`)
	edit(parts)
	q.Set("bewit", base64.RawURLEncoding.EncodeToString([]byte(strings.Join(parts, `\`))))
	u.RawQuery = q.Encode()
	r.Resources = []string{u.RequestURI()}
	return r
}

// TestRejections is the rejection matrix: every way credentials can be wrong, each
// an *Error naming what failed, never a success, never another error, and never
// quoting a secret the request or the clients hold.
func TestRejections(t *testing.T) {
	now := time.Now()
	user := perm("user", userToken)
	good := func(t testing.TB) Request { return signed(t, user, "PUT", target, `{"a":1}`) }
	// cert is a valid certificate of "user" for one scope, to be edited.
	cert := func(edit func(c *tcclient.Certificate)) tcclient.Certificate {
		c := tcclient.Certificate{Version: 1, Scopes: []string{"queue:x"}, Start: ms(now), Expiry: ms(now.Add(time.Hour)), Seed: seed('s')}
		if edit != nil {
			edit(&c)
		}
		return c
	}
	withTemp := func(t testing.TB, creds *tcclient.Credentials) Request { return signed(t, creds, "GET", target, "") }
	// signedCert: a certificate signed by tcclient.Certificate.Sign for clientID with
	// issuerToken, then edited after signing (tamper).
	signedCert := func(t testing.TB, clientID, issuerToken string, c tcclient.Certificate, tamper func(c *tcclient.Certificate)) *tcclient.Credentials {
		creds := tempCreds(t, clientID, issuerToken, issuerToken, c)
		if tamper != nil {
			var cc tcclient.Certificate
			json.Unmarshal([]byte(creds.Certificate), &cc)
			tamper(&cc)
			raw, _ := json.Marshal(cc)
			creds.Certificate = string(raw)
		}
		return creds
	}
	// crafted signs, with hawk-go and the temporary key of seed, an ext whose
	// certificate is the given JSON object: for certificates tcclient cannot write.
	crafted := func(t testing.TB, id string, certObj map[string]any) Request {
		key := TemporaryAccessToken(userToken, fmt.Sprint(certObj["seed"]))
		return hawkSigned(t, id, key, extOf(map[string]any{"certificate": certObj}), "GET", target, "", "", false, "")
	}
	// certObj is a certificate object for crafted: the cases using it fail on its
	// structure, names or issuer, before its signature is looked at.
	certObj := func(edit func(m map[string]any)) map[string]any {
		m := map[string]any{"version": 1, "scopes": []string{"queue:x"}, "start": ms(now), "expiry": ms(now.Add(time.Hour)),
			"seed": seed('s'), "signature": base64.StdEncoding.EncodeToString(make([]byte, 32))}
		if edit != nil {
			edit(m)
		}
		return m
	}

	tests := []struct {
		name string
		req  func(t testing.TB) Request
		want string
	}{
		// The client and its key.
		{"wrong access token", func(t testing.TB) Request { return signed(t, perm("user", wrongKey), "GET", target, "") }, "signature (mac) does not match"},
		{"unknown client", func(t testing.TB) Request { return signed(t, perm("nobody", userToken), "GET", target, "") }, `unknown client "nobody"`},
		{"disabled client", func(t testing.TB) Request { return signed(t, perm("disabled", userToken), "GET", target, "") }, `client "disabled" is disabled`},
		{"expired client", func(t testing.TB) Request { return signed(t, perm("expired", userToken), "GET", target, "") }, `client "expired" expired at`},
		{"client without an access token", func(t testing.TB) Request { return signed(t, perm("tokenless", ""), "GET", target, "") }, `client "tokenless" has no access token`},
		{"temporary credentials of a disabled issuer", func(t testing.TB) Request {
			tc, err := perm("disabled", userToken).CreateTemporaryCredentials(time.Hour, "queue:x")
			if err != nil {
				t.Fatal(err)
			}
			return withTemp(t, tc)
		}, "is disabled"},

		// Tampering with what the MAC covers.
		{"tampered mac", func(t testing.TB) Request {
			return setAttr(good(t), "mac", base64.StdEncoding.EncodeToString(make([]byte, 32)))
		}, "signature (mac) does not match"},
		{"mac with a flipped character", func(t testing.TB) Request {
			r := good(t)
			m := []byte(attr(r, "mac"))
			m[0] ^= 1
			return setAttr(r, "mac", string(m))
		}, "signature (mac) does not match"},
		{"tampered ts within the skew", func(t testing.TB) Request {
			return setAttr(good(t), "ts", fmt.Sprint(now.Add(-time.Minute).Unix()))
		}, "signature (mac) does not match"},
		{"tampered nonce", func(t testing.TB) Request { return setAttr(good(t), "nonce", "AAAAAAAA") }, "signature (mac) does not match"},
		{"tampered method", func(t testing.TB) Request { r := good(t); r.Method = "DELETE"; return r }, "signature (mac) does not match"},
		{"tampered path", func(t testing.TB) Request {
			r := good(t)
			r.Resources = []string{strings.Replace(r.Resources[0], "proj%2Fpool", "proj%2Fother", 1)}
			return r
		}, "signature (mac) does not match"},
		{"tampered query", func(t testing.TB) Request {
			r := good(t)
			r.Resources = []string{strings.Replace(r.Resources[0], "limit=5", "limit=500", 1)}
			return r
		}, "signature (mac) does not match"},
		{"query dropped", func(t testing.TB) Request {
			r := good(t)
			r.Resources = []string{strings.Split(r.Resources[0], "?")[0]}
			return r
		}, "signature (mac) does not match"},
		{"tampered host", func(t testing.TB) Request { r := good(t); r.Host = "evil.example.com"; return r }, "signature (mac) does not match"},
		{"tampered port", func(t testing.TB) Request { r := good(t); r.Port = "8443"; return r }, "signature (mac) does not match"},
		{"tampered ext: authorizedScopes added", func(t testing.TB) Request {
			return setAttr(good(t), "ext", extOf(map[string]any{"authorizedScopes": []string{"queue:x"}}))
		}, "signature (mac) does not match"},
		{"tampered ext: authorizedScopes removed", func(t testing.TB) Request {
			narrow := &tcclient.Credentials{ClientID: "user", AccessToken: userToken, AuthorizedScopes: []string{"queue:x"}}
			r := signed(t, narrow, "GET", target, "")
			r.Authorization = strings.Replace(r.Authorization, `, ext="`+attr(r, "ext")+`"`, "", 1)
			return r
		}, "signature (mac) does not match"},
		{"tampered ext: certificate swapped for another of the same issuer", func(t testing.TB) Request {
			a, _ := user.CreateTemporaryCredentials(time.Hour, "queue:a")
			b, _ := user.CreateTemporaryCredentials(time.Hour, "queue:*")
			r := withTemp(t, a)
			return setAttr(r, "ext", attr(withTemp(t, b), "ext"))
		}, "signature (mac) does not match"},
		{"hash added", func(t testing.TB) Request {
			r := good(t)
			return setAttr(r, "hash", payloadHash(r.ContentType, r.Payload))
		}, "signature (mac) does not match"},

		// Time.
		{"ts outside the skew (old)", func(t testing.TB) Request {
			return setAttr(good(t), "ts", fmt.Sprint(now.Add(-16*time.Minute).Unix()))
		}, "away from the server's clock"},
		{"ts outside the skew (ahead)", func(t testing.TB) Request {
			return setAttr(good(t), "ts", fmt.Sprint(now.Add(16*time.Minute).Unix()))
		}, "away from the server's clock"},
		{"ts zero", func(t testing.TB) Request { return setAttr(good(t), "ts", "0") }, "away from the server's clock"},

		// Certificates.
		{"certificate expired", func(t testing.TB) Request {
			return withTemp(t, tempCreds(t, "user", userToken, userToken, cert(func(c *tcclient.Certificate) {
				c.Start, c.Expiry = ms(now.Add(-3*time.Hour)), ms(now.Add(-time.Millisecond))
			})))
		}, "ext.certificate expired at"},
		{"certificate expired a minute ago (no grace)", func(t testing.TB) Request {
			return withTemp(t, tempCreds(t, "user", userToken, userToken, cert(func(c *tcclient.Certificate) {
				c.Start, c.Expiry = ms(now.Add(-time.Hour)), ms(now.Add(-time.Minute))
			})))
		}, "ext.certificate expired at"},
		{"certificate not yet valid", func(t testing.TB) Request {
			return withTemp(t, tempCreds(t, "user", userToken, userToken, cert(func(c *tcclient.Certificate) {
				c.Start, c.Expiry = ms(now.Add(16*time.Minute)), ms(now.Add(2*time.Hour))
			})))
		}, "ext.certificate is not valid until"},
		{"certificate starting 10 minutes ahead (within the ts skew, beyond the start allowance)", func(t testing.TB) Request {
			return withTemp(t, tempCreds(t, "user", userToken, userToken, cert(func(c *tcclient.Certificate) {
				c.Start, c.Expiry = ms(now.Add(10*time.Minute)), ms(now.Add(2*time.Hour))
			})))
		}, "ext.certificate is not valid until"},
		{"client id longer than a DynamoDB key", func(t testing.TB) Request {
			return signed(t, &tcclient.Credentials{ClientID: strings.Repeat("u", 3000), AccessToken: userToken}, "GET", target, "")
		}, "not a valid client id"},
		{"client id with a character Taskcluster does not allow", func(t testing.TB) Request {
			return signed(t, &tcclient.Credentials{ClientID: "us=er", AccessToken: userToken}, "GET", target, "")
		}, "not a valid client id"},
		{"certificate lifetime over 31 days", func(t testing.TB) Request {
			return withTemp(t, tempCreds(t, "user", userToken, userToken, cert(func(c *tcclient.Certificate) {
				c.Start, c.Expiry = ms(now.Add(-time.Hour)), ms(now.Add(31*24*time.Hour))
			})))
		}, "cannot last longer than 31 days"},
		{"certificate expiring before it starts", func(t testing.TB) Request {
			return withTemp(t, tempCreds(t, "user", userToken, userToken, cert(func(c *tcclient.Certificate) {
				c.Start, c.Expiry = ms(now), ms(now.Add(-time.Second))
			})))
		}, "expires before it starts"},
		{"certificate times beyond int64 arithmetic", func(t testing.TB) Request {
			return withTemp(t, tempCreds(t, "user", userToken, userToken, cert(func(c *tcclient.Certificate) {
				c.Start, c.Expiry = -9_000_000_000_000_000_000, 9_000_000_000_000_000_000
			})))
		}, "between the years 1970 and 9999"},
		{"certificate with a bad signature (scopes changed after signing)", func(t testing.TB) Request {
			return withTemp(t, signedCert(t, "user", userToken, cert(nil), func(c *tcclient.Certificate) { c.Scopes = []string{"queue:*"} }))
		}, "ext.certificate.signature is not valid"},
		{"certificate with a bad signature (expiry extended after signing)", func(t testing.TB) Request {
			return withTemp(t, signedCert(t, "user", userToken, cert(nil), func(c *tcclient.Certificate) { c.Expiry += 1000 }))
		}, "ext.certificate.signature is not valid"},
		{"certificate signed with another key", func(t testing.TB) Request {
			return withTemp(t, tempCreds(t, "user", wrongKey, userToken, cert(nil)))
		}, "ext.certificate.signature is not valid"},
		{"certificate version 2", func(t testing.TB) Request {
			return withTemp(t, tempCreds(t, "user", userToken, userToken, cert(func(c *tcclient.Certificate) { c.Version = 2 })))
		}, "ext.certificate.version must be 1"},
		{"certificate version 0", func(t testing.TB) Request {
			return withTemp(t, tempCreds(t, "user", userToken, userToken, cert(func(c *tcclient.Certificate) { c.Version = 0 })))
		}, "ext.certificate.version must be 1"},
		{"certificate granting scopes its issuer lacks", func(t testing.TB) Request {
			return withTemp(t, tempCreds(t, "user", userToken, userToken, cert(func(c *tcclient.Certificate) { c.Scopes = []string{"queue:x", "secrets:get:all"} })))
		}, `ext.certificate grants "secrets:get:all", which its issuer "user" does not hold`},
		{"certificate seed tampered (key of the original seed)", func(t testing.TB) Request {
			creds := signedCert(t, "user", userToken, cert(nil), func(c *tcclient.Certificate) { c.Seed = seed('t') })
			return withTemp(t, creds)
		}, "signature (mac) does not match"},
		{"certificate seed tampered (key of the new seed)", func(t testing.TB) Request {
			creds := signedCert(t, "user", userToken, cert(nil), func(c *tcclient.Certificate) { c.Seed = seed('t') })
			creds.AccessToken = TemporaryAccessToken(userToken, seed('t'))
			return withTemp(t, creds)
		}, "ext.certificate.signature is not valid"},
		{"certificate seed of 43 characters", func(t testing.TB) Request {
			return withTemp(t, tempCreds(t, "user", userToken, userToken, cert(func(c *tcclient.Certificate) { c.Seed = seed('s')[1:] })))
		}, "seed must be 44 characters"},
		{"named credentials without auth:create-client", func(t testing.TB) Request {
			named, err := user.CreateNamedTemporaryCredentials("someone-else", time.Hour, "queue:x")
			if err != nil {
				t.Fatal(err)
			}
			return withTemp(t, named)
		}, "lacks auth:create-client:someone-else"},
		{"named credentials used under another name", func(t testing.TB) Request {
			named, err := user.CreateNamedTemporaryCredentials("user/a", time.Hour, "queue:x")
			if err != nil {
				t.Fatal(err)
			}
			named.ClientID = "user/b"
			return withTemp(t, named)
		}, "or the client id does not match"},
		{"named credentials naming their issuer", func(t testing.TB) Request {
			return crafted(t, "user", certObj(func(m map[string]any) { m["issuer"] = "user" }))
		}, "issuer must differ"},
		{"unnamed certificate with a clientId", func(t testing.TB) Request {
			return crafted(t, "user", certObj(func(m map[string]any) { m["clientId"] = "someone" }))
		}, "clientId must only be used with ext.certificate.issuer"},
		{"certificate with an unknown issuer", func(t testing.TB) Request {
			return crafted(t, "user/x", certObj(func(m map[string]any) { m["issuer"] = "ghost" }))
		}, `unknown client "ghost"`},
		{"certificate scopes with a null", func(t testing.TB) Request {
			return crafted(t, "user", certObj(func(m map[string]any) { m["scopes"] = []any{"queue:x", nil} }))
		}, "ext.certificate.scopes must be an array of valid scopes"},
		{"certificate scope with a newline", func(t testing.TB) Request {
			return crafted(t, "user", certObj(func(m map[string]any) { m["scopes"] = []string{"queue:x\nsecrets:*"} }))
		}, "ext.certificate.scopes must be an array of valid scopes"},
		{"certificate start as a string", func(t testing.TB) Request {
			return crafted(t, "user", certObj(func(m map[string]any) { m["start"] = fmt.Sprint(ms(now)) }))
		}, "ext.certificate.start must be an integer"},
		{"certificate expiry fractional", func(t testing.TB) Request {
			return crafted(t, "user", certObj(func(m map[string]any) { m["expiry"] = float64(ms(now.Add(time.Hour))) + 0.5 }))
		}, "ext.certificate.expiry must be an integer"},
		{"certificate without a signature", func(t testing.TB) Request {
			m := certObj(nil)
			delete(m, "signature")
			return crafted(t, "user", m)
		}, "ext.certificate.signature is missing"},
		{"certificate that is a string", func(t testing.TB) Request {
			return hawkSigned(t, "user", userToken, extOf(map[string]any{"certificate": "{}"}), "GET", target, "", "", false, "")
		}, "ext.certificate must be a JSON object"},

		// authorizedScopes.
		{"authorizedScopes widening", func(t testing.TB) Request {
			return signed(t, &tcclient.Credentials{ClientID: "user", AccessToken: userToken, AuthorizedScopes: []string{"queue:x", "secrets:*"}}, "GET", target, "")
		}, `ext.authorizedScopes oversteps your scopes: "secrets:*"`},
		{"authorizedScopes widening a star", func(t testing.TB) Request {
			return signed(t, &tcclient.Credentials{ClientID: "user", AccessToken: userToken, AuthorizedScopes: []string{"worker-manager:*"}}, "GET", target, "")
		}, "oversteps your scopes"},
		{"authorizedScopes beyond temporary credentials' scopes", func(t testing.TB) Request {
			narrow := &tcclient.Credentials{ClientID: "user", AccessToken: userToken, AuthorizedScopes: []string{"queue:*"}}
			temp, err := narrow.CreateTemporaryCredentials(time.Hour, "queue:a")
			if err != nil {
				t.Fatal(err)
			}
			return withTemp(t, temp)
		}, `oversteps your scopes: "queue:*"`},
		{"authorizedScopes not an array", func(t testing.TB) Request {
			return hawkSigned(t, "user", userToken, extOf(map[string]any{"authorizedScopes": "queue:*"}), "GET", target, "", "", false, "")
		}, "ext.authorizedScopes must be an array"},
		{"authorizedScopes with an invalid scope", func(t testing.TB) Request {
			return hawkSigned(t, "user", userToken, extOf(map[string]any{"authorizedScopes": []string{"queue:\u00e9"}}), "GET", target, "", "", false, "")
		}, "ext.authorizedScopes must be an array of valid scopes"},

		// ext itself.
		{"ext not base64", func(t testing.TB) Request {
			return hawkSigned(t, "user", userToken, "!!!", "GET", target, "", "", false, "")
		}, "ext is not base64"},
		{"ext not JSON", func(t testing.TB) Request {
			return hawkSigned(t, "user", userToken, base64.StdEncoding.EncodeToString([]byte("{oops")), "GET", target, "", "", false, "")
		}, "ext is not a base64-encoded JSON object"},
		{"ext a JSON array", func(t testing.TB) Request {
			return hawkSigned(t, "user", userToken, extOf([]string{"a"}), "GET", target, "", "", false, "")
		}, "ext is not a base64-encoded JSON object"},
		{"ext null", func(t testing.TB) Request {
			return hawkSigned(t, "user", userToken, extOf(nil), "GET", target, "", "", false, "")
		}, "ext is not a base64-encoded JSON object"},

		// Payload hashes.
		{"payload hash mismatch", func(t testing.TB) Request {
			r := hawkSigned(t, "user", userToken, "", "PUT", target, "application/json", `{"a":1}`, true, "")
			r.Payload = []byte(`{"a":2}`)
			return r
		}, "payload hash does not match"},
		{"payload hash over another content type", func(t testing.TB) Request {
			r := hawkSigned(t, "user", userToken, "", "PUT", target, "application/json", `{"a":1}`, true, "")
			r.ContentType = "text/plain"
			return r
		}, "payload hash does not match"},
		{"payload hash, body dropped", func(t testing.TB) Request {
			r := hawkSigned(t, "user", userToken, "", "PUT", target, "application/json", `{"a":1}`, true, "")
			r.Payload = nil
			return r
		}, "payload hash does not match"},

		// Bewits.
		{"tampered bewit: expiry extended", func(t testing.TB) Request {
			return rebewit(t, bewitURL(t, user, time.Minute), func(p []string) { p[1] = fmt.Sprint(now.Add(time.Hour).Unix()) })
		}, "signature (mac) does not match"},
		{"tampered bewit: other client", func(t testing.TB) Request {
			return rebewit(t, bewitURL(t, user, time.Minute), func(p []string) { p[0] = "root" })
		}, "signature (mac) does not match"},
		{"tampered bewit: ext added", func(t testing.TB) Request {
			return rebewit(t, bewitURL(t, user, time.Minute), func(p []string) { p[3] = extOf(map[string]any{"authorizedScopes": []string{}}) })
		}, "signature (mac) does not match"},
		{"tampered bewit: mac", func(t testing.TB) Request {
			return rebewit(t, bewitURL(t, user, time.Minute), func(p []string) { p[2] = base64.StdEncoding.EncodeToString(make([]byte, 32)) })
		}, "signature (mac) does not match"},
		{"bewit with the URL's query changed", func(t testing.TB) Request {
			r := bewitURL(t, user, time.Minute)
			r.Resources = []string{strings.Replace(r.Resources[0], "limit=5", "limit=6", 1)}
			return r
		}, "signature (mac) does not match"},
		{"bewit with a parameter added", func(t testing.TB) Request {
			r := bewitURL(t, user, time.Minute)
			r.Resources = []string{r.Resources[0] + "&admin=1"}
			return r
		}, "signature (mac) does not match"},
		{"expired bewit", func(t testing.TB) Request { return bewitURL(t, user, -time.Second) }, "the signed URL expired at"},
		{"bewit on a POST", func(t testing.TB) Request { r := bewitURL(t, user, time.Minute); r.Method = "POST"; return r }, "only valid for GET"},
		{"bewit on a PUT", func(t testing.TB) Request { r := bewitURL(t, user, time.Minute); r.Method = "PUT"; return r }, "only valid for GET"},
		{"bewit on a DELETE", func(t testing.TB) Request { r := bewitURL(t, user, time.Minute); r.Method = "DELETE"; return r }, "only valid for GET"},
		{"bewit and an Authorization header", func(t testing.TB) Request {
			r := bewitURL(t, user, time.Minute)
			r.Authorization = good(t).Authorization
			return r
		}, "not both"},
		{"two bewits", func(t testing.TB) Request {
			r := bewitURL(t, user, time.Minute)
			r.Resources = []string{r.Resources[0] + "&bewit=abc"}
			return r
		}, "more than one bewit"},
		{"empty bewit", func(t testing.TB) Request {
			return Request{Method: "GET", Host: "tc.example.com", Port: "443", Resources: []string{"/api/x?bewit="}}
		}, "the bewit is empty"},
		{"bewit with padding", func(t testing.TB) Request {
			return Request{Method: "GET", Host: "tc.example.com", Port: "443", Resources: []string{"/api/x?bewit=YWJj%3D"}}
		}, "not base64url"},
		{"bewit of three parts", func(t testing.TB) Request {
			return Request{Method: "GET", Host: "tc.example.com", Port: "443", Resources: []string{"/api/x?bewit=" + base64.RawURLEncoding.EncodeToString([]byte(`user\1\mac`))}}
		}, "four parts"},
		{"bewit without a mac", func(t testing.TB) Request {
			return Request{Method: "GET", Host: "tc.example.com", Port: "443", Resources: []string{"/api/x?bewit=" + base64.RawURLEncoding.EncodeToString([]byte(`user\1\\`))}}
		}, "id, expiry and mac are required"},
		{"bewit with a quote in its id", func(t testing.TB) Request {
			return Request{Method: "GET", Host: "tc.example.com", Port: "443", Resources: []string{"/api/x?bewit=" + base64.RawURLEncoding.EncodeToString([]byte(`us"er\1\mac\`))}}
		}, "a character Hawk does not allow"},
		{"bewit with a non-numeric expiry", func(t testing.TB) Request {
			return Request{Method: "GET", Host: "tc.example.com", Port: "443", Resources: []string{"/api/x?bewit=" + base64.RawURLEncoding.EncodeToString([]byte(`user\soon\mac\`))}}
		}, "expiry is not a timestamp"},
		{"candidates disagreeing about the bewit", func(t testing.TB) Request {
			r := bewitURL(t, user, time.Minute)
			r.Resources = append(r.Resources, "/api/worker-manager/v1/worker-pool/proj%2Fpool?limit=5")
			return r
		}, "disagree about its bewit"},

		// No usable URI.
		{"no candidate URI", func(t testing.TB) Request { r := good(t); r.Resources = nil; return r }, "no URI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testAuthenticator()
			a.Now = func() time.Time { return now }
			r := tt.req(t)
			got, err := a.Authenticate(ctx, r)
			checkResult(t, got, err, "", tt.want)
			if err != nil {
				for _, secret := range secretsOf(t, r) {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("the error %q quotes a secret of the request (%.8s...)", err, secret)
					}
				}
			}
		})
	}
}

// secretsOf lists what must never appear in an error: the access tokens, and the
// request's MAC, hash, ext, seed, signature and temporary access token.
func secretsOf(t testing.TB, r Request) []string {
	out := []string{userToken, rootToken, wrongKey}
	for _, name := range []string{"mac", "ext"} {
		if v := attr(r, name); len(v) >= 8 {
			out = append(out, v)
		}
	}
	ext := attr(r, "ext")
	for _, res := range r.Resources {
		if b, _, ok, _ := splitBewit(res); ok && b != "" {
			if raw, err := base64.RawURLEncoding.DecodeString(b); err == nil {
				if parts := strings.Split(string(raw), `\`); len(parts) == 4 {
					if len(parts[2]) >= 8 {
						out = append(out, parts[2])
					}
					ext = parts[3]
				}
			}
		}
	}
	if raw, err := base64.StdEncoding.DecodeString(ext); err == nil {
		var x struct {
			Certificate struct {
				Seed, Signature string
			}
		}
		if json.Unmarshal(raw, &x) == nil {
			for _, s := range []string{x.Certificate.Seed, x.Certificate.Signature, TemporaryAccessToken(userToken, x.Certificate.Seed)} {
				if len(s) >= 8 {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// TestAcceptedEdges: what is near a rejection but valid.
func TestAcceptedEdges(t *testing.T) {
	now := time.Now()
	user := perm("user", userToken)
	cert := func(start, expiry time.Time) *tcclient.Credentials {
		return tempCreds(t, "user", userToken, userToken, tcclient.Certificate{Version: 1, Scopes: []string{"queue:x"}, Start: ms(start), Expiry: ms(expiry), Seed: seed('s')})
	}
	tests := []struct {
		name string
		now  time.Time
		req  func(t testing.TB) Request
	}{
		{"ts 14m59s old", now.Add(14*time.Minute + 59*time.Second), func(t testing.TB) Request { return signed(t, user, "GET", target, "") }},
		{"ts 14m59s ahead", now.Add(-14*time.Minute - 59*time.Second), func(t testing.TB) Request { return signed(t, user, "GET", target, "") }},
		{"certificate starting 5 minutes ahead", now, func(t testing.TB) Request {
			return signed(t, cert(now.Add(5*time.Minute), now.Add(time.Hour)), "GET", target, "")
		}},
		{"certificate at its expiry millisecond", now.Truncate(time.Millisecond), func(t testing.TB) Request {
			return signed(t, cert(now.Add(-time.Hour), now.Truncate(time.Millisecond)), "GET", target, "")
		}},
		{"certificate of exactly 31 days", now, func(t testing.TB) Request {
			return signed(t, cert(now.Add(-time.Hour), now.Add(-time.Hour+31*24*time.Hour)), "GET", target, "")
		}},
		{"certificate with no scopes (null)", now, func(t testing.TB) Request {
			tc, err := user.CreateTemporaryCredentials(time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(tc.Certificate, `"scopes":null`) {
				t.Fatalf("certificate %s", tc.Certificate)
			}
			return signed(t, tc, "GET", target, "")
		}},
		{"payload hash with content-type parameters", now, func(t testing.TB) Request {
			return hawkSigned(t, "user", userToken, "", "PUT", target, "Application/JSON; charset=utf-8", `{"a":1}`, true, "")
		}},
		{"payload hash of an empty body", now, func(t testing.TB) Request {
			return hawkSigned(t, "user", userToken, "", "POST", target, "", "", true, "")
		}},
		{"app and dlg", now, func(t testing.TB) Request {
			return hawkSigned(t, "user", userToken, "", "GET", target, "", "", false, "some-app")
		}},
		{"lower-case method as sent", now, func(t testing.TB) Request {
			r := signed(t, user, "GET", target, "")
			r.Method = "get"
			return r
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testAuthenticator()
			a.Now = func() time.Time { return tt.now }
			got, err := a.Authenticate(ctx, tt.req(t))
			checkResult(t, got, err, "user", "")
		})
	}
}

// TestMalformedHeaders: every malformed Authorization header is an *Error, never a
// panic, a success or another error.
func TestMalformedHeaders(t *testing.T) {
	ts := fmt.Sprint(time.Now().Unix())
	valid := `id="user", ts="` + ts + `", nonce="abcdefgh", mac="bWFj"`
	tests := []struct{ name, header, want string }{
		{"Basic scheme", "Basic dXNlcjpwYXNz", "not Hawk"},
		{"Bearer scheme", "Bearer abc", "not Hawk"},
		{"scheme only", "Hawk", "no attributes"},
		{"scheme and spaces", "Hawk   ", "no attributes"},
		{"no scheme", `id="user"`, "not Hawk"},
		{"punctuation only", `,,,`, "no scheme"},
		{"scheme glued to attributes", `Hawk,id="x"`, "followed by a space"},
		{"attribute without value", "Hawk id", "name=\"value\""},
		{"unquoted value", "Hawk id=user", "name=\"value\""},
		{"single quotes", "Hawk id='user'", "name=\"value\""},
		{"unterminated value", `Hawk id="user`, "not terminated"},
		{"missing comma", `Hawk id="a" mac="b"`, "separated by commas"},
		{"double comma", `Hawk id="a",, mac="b"`, "attribute name was expected"},
		{"leading comma", `Hawk , id="a"`, "attribute name was expected"},
		{"space before equals", `Hawk id ="a"`, "name=\"value\""},
		{"duplicate id", `Hawk ` + valid + `, id="root"`, "appears twice"},
		{"duplicate mac", `Hawk ` + valid + `, mac="bWFj"`, "appears twice"},
		{"unknown attribute", `Hawk ` + valid + `, bogus="1"`, `unknown attribute "bogus"`},
		{"empty value", `Hawk id="", ts="1", nonce="n", mac="m"`, `attribute "id" is empty`},
		{"backslash in value", `Hawk id="a\b", ts="1", nonce="n", mac="m"`, "character Hawk does not allow"},
		{"NUL in value", "Hawk id=\"\x00\", ts=\"1\", nonce=\"n\", mac=\"m\"", "character Hawk does not allow"},
		{"newline in value", "Hawk id=\"a\nb\", ts=\"1\", nonce=\"n\", mac=\"m\"", "character Hawk does not allow"},
		{"non-ASCII in value", "Hawk id=\"us\u00e9r\", ts=\"1\", nonce=\"n\", mac=\"m\"", "character Hawk does not allow"},
		{"non-ASCII attribute name", "Hawk \u00efd=\"user\"", "attribute name was expected"},
		{"no id", `Hawk ts="` + ts + `", nonce="n", mac="m"`, "lacks the id attribute"},
		{"no ts", `Hawk id="user", nonce="n", mac="m"`, "lacks the ts attribute"},
		{"no nonce", `Hawk id="user", ts="` + ts + `", mac="m"`, "lacks the nonce attribute"},
		{"no mac", `Hawk id="user", ts="` + ts + `", nonce="n"`, "lacks the mac attribute"},
		{"ts not a number", `Hawk id="user", ts="abc", nonce="n", mac="m"`, "ts is not a timestamp"},
		{"ts negative", `Hawk id="user", ts="-1", nonce="n", mac="m"`, "ts is not a timestamp"},
		{"ts fractional", `Hawk id="user", ts="1.5", nonce="n", mac="m"`, "ts is not a timestamp"},
		{"ts exponent", `Hawk id="user", ts="1e9", nonce="n", mac="m"`, "ts is not a timestamp"},
		{"ts huge", `Hawk id="user", ts="99999999999999999999999", nonce="n", mac="m"`, "ts is not a timestamp"},
		{"ts beyond the bound", `Hawk id="user", ts="1000000000001", nonce="n", mac="m"`, "ts is not a timestamp"},
		{"too long", "Hawk " + valid + `, ext="` + strings.Repeat("A", maxHeader) + `"`, "longer than"},
		{"unknown client, valid syntax", "hawk\t" + valid + ",", `unknown client "user2"`},
	}
	tests[len(tests)-1].header = strings.Replace(tests[len(tests)-1].header, `id="user"`, `id="user2"`, 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := testAuthenticator().Authenticate(ctx, Request{Method: "GET", Host: "h", Port: "443", Resources: []string{"/"}, Authorization: tt.header})
			checkResult(t, got, err, "", tt.want)
		})
	}
}

// TestAnonymous: no credentials, anonymous caller; each call its own scopes slice.
func TestAnonymous(t *testing.T) {
	a := testAuthenticator()
	for _, res := range [][]string{{"/api/x"}, {"/api/x?a=1&bewitx=2"}, {"/api/x?bewit"}, nil} {
		got, err := a.Authenticate(ctx, Request{Method: "GET", Host: "h", Port: "443", Resources: res})
		if err != nil || got.Authenticated || !cmpEqual(got.Scopes, []string{AnonymousScope}) {
			t.Errorf("resources %q: %+v, %v; want the anonymous caller", res, got, err)
		}
		got.Scopes[0] = "*"
	}
	if got := Anonymous(); got.Scopes[0] != AnonymousScope {
		t.Errorf("Anonymous() after a caller changed its copy: %v", got.Scopes)
	}
}

func cmpEqual(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n") && len(a) == len(b)
}

// TestClientLookupFailure: a store failure is not an authentication failure (and
// does not fall through to a later source or the remote).
func TestClientLookupFailure(t *testing.T) {
	boom := errors.New("table unreachable")
	a := &Authenticator{Clients: Chain{failing{boom}, testClients()}, Remote: &TaskclusterAuth{RootURL: "http://127.0.0.1:1"}}
	_, err := a.Authenticate(ctx, signed(t, perm("user", userToken), "GET", target, ""))
	var ae *Error
	if !errors.Is(err, boom) || errors.As(err, &ae) {
		t.Errorf("got %v; want an error wrapping %v that is no *Error", err, boom)
	}
}

type failing struct{ err error }

func (f failing) LookupClient(context.Context, string) (Client, error) { return Client{}, f.err }
