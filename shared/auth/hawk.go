package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// hawkAuth is what a Hawk Authorization header or bewit carries.
type hawkAuth struct {
	id, mac, nonce, hash, ext, app, dlg string
	ts                                  int64
	bewit                               bool
}

const maxHeader = 16 << 10

// parseHeader parses `Hawk id="...", ts="...", nonce="...", mac="..."[, hash][, ext][,
// app, dlg]`. Attributes are unique, quoted, and free of '"' and '\'.
func parseHeader(h string) (hawkAuth, error) {
	var a hawkAuth
	if len(h) > maxHeader {
		return a, errors.New("authorization header too long")
	}
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Hawk") {
		return a, errors.New("authorization scheme is not Hawk")
	}
	seen := map[string]bool{}
	rest = strings.TrimSpace(rest)
	for rest != "" {
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return a, errors.New("malformed Hawk header attribute")
		}
		key := strings.TrimSpace(rest[:eq])
		rest = strings.TrimLeft(rest[eq+1:], " ")
		if !strings.HasPrefix(rest, `"`) {
			return a, errors.New("Hawk header attribute " + strconv.Quote(key) + " is not quoted")
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return a, errors.New("unterminated Hawk header attribute " + strconv.Quote(key))
		}
		val := rest[1 : end+1]
		rest = strings.TrimLeft(rest[end+2:], " ")
		if rest != "" {
			if rest[0] != ',' {
				return a, errors.New("malformed Hawk header: attributes must be separated by commas")
			}
			rest = strings.TrimLeft(rest[1:], " ")
		}
		if seen[key] {
			return a, errors.New("duplicate Hawk header attribute " + strconv.Quote(key))
		}
		seen[key] = true
		if strings.ContainsAny(val, "\\") || !printable(val) {
			return a, errors.New("Hawk header attribute " + strconv.Quote(key) + " has bad characters")
		}
		switch key {
		case "id":
			a.id = val
		case "ts":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return a, errors.New("Hawk ts is not a number")
			}
			a.ts = n
		case "nonce":
			a.nonce = val
		case "mac":
			a.mac = val
		case "hash":
			a.hash = val
		case "ext":
			a.ext = val
		case "app":
			a.app = val
		case "dlg":
			a.dlg = val
		default:
			return a, errors.New("unknown Hawk header attribute " + strconv.Quote(key))
		}
	}
	if a.id == "" || a.mac == "" || a.nonce == "" || !seen["ts"] {
		return a, errors.New("Hawk header lacks id, ts, nonce or mac")
	}
	return a, nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// parseBewit decodes a bewit: base64url(id \ exp \ mac \ ext).
func parseBewit(b string) (hawkAuth, error) {
	var a hawkAuth
	if len(b) > maxHeader {
		return a, errors.New("bewit too long")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(b, "="))
	if err != nil {
		return a, errors.New("bewit is not base64url")
	}
	parts := strings.Split(string(raw), `\`)
	if len(parts) != 4 || parts[0] == "" || parts[2] == "" {
		return a, errors.New("malformed bewit")
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return a, errors.New("bewit expiry is not a number")
	}
	if !printable(parts[0]) || !printable(parts[3]) {
		return a, errors.New("bewit has bad characters")
	}
	return hawkAuth{id: parts[0], ts: exp, mac: parts[2], ext: parts[3], bewit: true}, nil
}

// normalized is the string a Hawk MAC signs.
func (a hawkAuth) normalized(method, resource, host, port string) string {
	kind, nonce := "header", a.nonce
	if a.bewit {
		kind, nonce, method = "bewit", "", "GET"
	}
	s := "hawk.1." + kind + "\n" + strconv.FormatInt(a.ts, 10) + "\n" + nonce + "\n" + strings.ToUpper(method) + "\n" +
		resource + "\n" + strings.ToLower(host) + "\n" + port + "\n" + a.hash + "\n" + a.ext + "\n"
	if a.app != "" {
		s += a.app + "\n" + a.dlg + "\n"
	}
	return s
}

// macMatches reports whether a's MAC, computed with key, matches for any of the
// candidate resources. The candidates are encodings of one and the same decoded
// request (API Gateway delivers paths decoded, clients sign them encoded), so
// accepting any of them grants nothing the signer did not sign.
func (a hawkAuth) macMatches(key, method string, resources []string, host, port string) bool {
	want, err := base64.StdEncoding.DecodeString(a.mac)
	if err != nil {
		return false
	}
	for _, res := range resources {
		m := hmac.New(sha256.New, []byte(key))
		m.Write([]byte(a.normalized(method, res, host, port)))
		if hmac.Equal(m.Sum(nil), want) {
			return true
		}
	}
	return false
}

// payloadHash is Hawk's hash of a request body.
func payloadHash(contentType string, body []byte) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	}
	h := sha256.New()
	h.Write([]byte("hawk.1.payload\n" + mt + "\n"))
	h.Write(body)
	h.Write([]byte("\n"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// splitBewit returns a resource's bewit parameter and the resource without it (as the
// client signed it, before adding the bewit).
func splitBewit(resource string) (bewit, rest string) {
	path, query, ok := strings.Cut(resource, "?")
	if !ok {
		return "", resource
	}
	var kept []string
	for _, p := range strings.Split(query, "&") {
		key, val, _ := strings.Cut(p, "=")
		if k, err := url.QueryUnescape(key); err == nil && k == "bewit" {
			if v, err := url.QueryUnescape(val); err == nil {
				bewit = v
			}
			continue
		}
		kept = append(kept, p)
	}
	if len(kept) == 0 {
		return bewit, path
	}
	return bewit, path + "?" + strings.Join(kept, "&")
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func hmacSHA256(key, msg string) []byte {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return m.Sum(nil)
}
