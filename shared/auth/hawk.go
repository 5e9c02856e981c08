package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"hash"
	"strconv"
	"strings"
)

// This file is the Hawk layer: reading an Authorization header or a bewit, and
// recomputing the MAC a client made. It follows the Hawk server Taskcluster runs
// (@hapi/hawk) where the two Hawk implementations differ, and the Go client
// (github.com/tent/hawk-go) everywhere a Go client must be accepted.

const (
	// maxHeader bounds the Authorization header and the bewit. @hapi/hawk allows
	// 4096 characters; a certificate with many scopes can exceed that, and API
	// Gateway itself caps a request's headers at 10 KiB, so this only bounds work.
	maxHeader = 16 << 10
	// maxTimestamp bounds Hawk timestamps (seconds; the year 33658), so that
	// arithmetic in milliseconds cannot overflow.
	maxTimestamp = 1_000_000_000_000
)

// hawkHeader is what a Hawk Authorization header carries. Values are kept exactly
// as sent: the MAC covers them as sent.
type hawkHeader struct {
	id, ts, nonce, mac, hash, ext, app, dlg string
	tsSec                                   int64 // ts, parsed
}

// parseHeader reads `Hawk id="…", ts="…", nonce="…", mac="…"[, hash="…"][, ext="…"][,
// app="…"[, dlg="…"]]` as @hapi/hawk does: the scheme is "Hawk" in any case; each
// attribute is a known name, unique, with a quoted non-empty value of printable
// ASCII other than '"' and '\'; attributes are separated by commas (spaces and one
// trailing comma allowed); id, ts, nonce and mac are required; ts is decimal
// seconds. Every failure is an *Error naming what is wrong, never quoting a value.
func parseHeader(s string) (hawkHeader, error) {
	var h hawkHeader
	rest, err := hawkAttributes(s)
	if err != nil {
		return h, err
	}
	seen := map[string]bool{}
	for rest != "" {
		var key, val string
		if key, val, rest, err = nextAttribute(rest); err != nil {
			return h, err
		}
		if seen[key] {
			return h, fail("malformed Hawk header: attribute %s appears twice", attrName(key))
		}
		seen[key] = true
		if err := h.set(key, val); err != nil {
			return h, err
		}
	}
	for _, req := range []string{"id", "ts", "nonce", "mac"} {
		if !seen[req] {
			return h, fail("the Hawk header lacks the %s attribute", req)
		}
	}
	ts, ok := parseTimestamp(h.ts)
	if !ok {
		return h, fail("the Hawk header's ts is not a timestamp in seconds")
	}
	h.tsSec = ts
	return h, nil
}

// hawkAttributes checks an Authorization header's length and Hawk scheme and
// returns what follows the scheme: its attributes.
func hawkAttributes(s string) (string, error) {
	if len(s) > maxHeader {
		return "", fail("the Authorization header is longer than %d bytes", maxHeader)
	}
	s = strings.Trim(s, " \t")
	n := wordLen(s)
	if n == 0 {
		return "", fail("the Authorization header has no scheme")
	}
	if !strings.EqualFold(s[:n], "Hawk") {
		return "", fail("the Authorization scheme is not Hawk")
	}
	rest := s[n:]
	if sp := spaceLen(rest); sp > 0 {
		rest = rest[sp:]
	} else if rest != "" {
		return "", fail("malformed Hawk header: the scheme must be followed by a space")
	}
	if rest == "" {
		return "", fail("the Hawk header has no attributes")
	}
	return rest, nil
}

// nextAttribute reads one name="value" attribute and the comma after it, and
// returns what remains.
func nextAttribute(rest string) (key, val, remaining string, err error) {
	k := wordLen(rest)
	if k == 0 {
		return "", "", "", fail("malformed Hawk header: an attribute name was expected")
	}
	key = rest[:k]
	rest = rest[k:]
	if !strings.HasPrefix(rest, `="`) {
		return "", "", "", fail("malformed Hawk header: attribute %s is not of the form name=\"value\"", attrName(key))
	}
	rest = rest[2:]
	end := strings.IndexByte(rest, '"')
	if end < 0 {
		return "", "", "", fail("malformed Hawk header: the value of attribute %s is not terminated", attrName(key))
	}
	val = rest[:end]
	rest = rest[end+1:]
	rest = rest[spaceLen(rest):]
	if rest != "" {
		if rest[0] != ',' {
			return "", "", "", fail("malformed Hawk header: attributes must be separated by commas")
		}
		rest = rest[1:]
		rest = rest[spaceLen(rest):]
	}
	if val == "" {
		return "", "", "", fail("malformed Hawk header: attribute %s is empty", attrName(key))
	}
	if !headerValue(val) {
		return "", "", "", fail("malformed Hawk header: attribute %s holds a character Hawk does not allow", attrName(key))
	}
	return key, val, rest, nil
}

// set takes one attribute's value.
func (h *hawkHeader) set(key, val string) error {
	switch key {
	case "id":
		h.id = val
	case "ts":
		h.ts = val
	case "nonce":
		h.nonce = val
	case "mac":
		h.mac = val
	case "hash":
		h.hash = val
	case "ext":
		h.ext = val
	case "app":
		h.app = val
	case "dlg":
		h.dlg = val
	default:
		return fail("malformed Hawk header: unknown attribute %s", attrName(key))
	}
	return nil
}

// parseTimestamp reads decimal seconds from 0 to maxTimestamp.
func parseTimestamp(s string) (int64, bool) {
	if s == "" || len(s) > 13 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > maxTimestamp {
		return 0, false
	}
	return n, true
}

// wordLen is the length of the prefix of s made of [A-Za-z0-9_] (JavaScript's \w).
func wordLen(s string) int {
	i := 0
	for i < len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			break
		}
		i++
	}
	return i
}

func spaceLen(s string) int {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// headerValue reports whether s is made only of the characters Hawk allows in an
// attribute value: printable ASCII other than '"' and '\'.
func headerValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// attrName quotes an attribute name for a message, shortened: it is the client's
// text, not a secret, but need not be echoed at length.
func attrName(s string) string {
	if len(s) > 32 {
		s = s[:32] + "..."
	}
	return strconv.Quote(s)
}

// hawkBewit is what a bewit carries.
type hawkBewit struct {
	id, mac, ext string
	exp          int64 // seconds
}

// parseBewit decodes a bewit: base64url without padding (only [A-Za-z0-9_-], as
// @hapi/hawk requires) of id \ exp \ mac \ ext, exactly four parts, the first three
// non-empty.
func parseBewit(b string) (hawkBewit, error) {
	var w hawkBewit
	if len(b) > maxHeader {
		return w, fail("the bewit is longer than %d bytes", maxHeader)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return w, fail("the bewit is not base64url without padding")
		}
	}
	raw, err := base64.RawURLEncoding.DecodeString(b)
	if err != nil {
		return w, fail("the bewit is not base64url without padding")
	}
	parts := strings.Split(string(raw), `\`)
	if len(parts) != 4 {
		return w, fail("malformed bewit: it must have four parts")
	}
	if parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return w, fail("malformed bewit: id, expiry and mac are required")
	}
	if !headerValue(parts[0]) || !headerValue(parts[2]) || !headerValue(parts[3]) {
		return w, fail("malformed bewit: it holds a character Hawk does not allow")
	}
	exp, ok := parseTimestamp(parts[1])
	if !ok {
		return w, fail("malformed bewit: its expiry is not a timestamp in seconds")
	}
	return hawkBewit{id: parts[0], exp: exp, mac: parts[2], ext: parts[3]}, nil
}

// splitBewit finds the bewit parameter in a request URI (path?query) and returns it
// with the URI the client signed: the same URI without that parameter, and without
// the '?' when no other parameter remains. As in @hapi/hawk, the parameter is
// recognised by its literal text "bewit=" at the start of the query or after '&';
// its value is used as sent (a bewit needs no escaping). A URI with two bewits is
// an *Error; found is false when there is none.
func splitBewit(uri string) (bewit, signed string, found bool, err error) {
	path, query, ok := strings.Cut(uri, "?")
	if !ok {
		return "", uri, false, nil
	}
	params := strings.Split(query, "&")
	kept := params[:0:0]
	for _, p := range params {
		if v, isBewit := strings.CutPrefix(p, "bewit="); isBewit {
			if found {
				return "", "", false, fail("the request URI carries more than one bewit")
			}
			bewit, found = v, true
			continue
		}
		kept = append(kept, p)
	}
	if !found {
		return "", uri, false, nil
	}
	if len(kept) == 0 {
		return bewit, path, true, nil
	}
	return bewit, path + "?" + strings.Join(kept, "&"), true, nil
}

// mac is a Hawk MAC computation with one key, reused across candidates.
type mac struct {
	h   hash.Hash
	sum [sha256.Size]byte
	b64 [44]byte // base64 of a SHA-256 sum
	buf []byte
}

func newMAC(key string) *mac { return &mac{h: hmac.New(sha256.New, []byte(key))} }

// matches reports whether the base64 MAC of normalized equals want, comparing in
// constant time as @hapi/hawk does (the strings, not decoded bytes).
func (m *mac) matches(normalized []byte, want string) bool {
	m.h.Reset()
	m.h.Write(normalized)
	base64.StdEncoding.Encode(m.b64[:], m.h.Sum(m.sum[:0]))
	return subtle.ConstantTimeCompare(m.b64[:], []byte(want)) == 1
}

// normalized is the text a Hawk MAC covers:
//
//	hawk.1.<kind>\n ts\n nonce\n METHOD\n resource\n host\n port\n hash\n ext\n [app\n dlg\n]
//
// each followed by a newline as shown, ts and everything else exactly as sent.
func (m *mac) normalized(kind, ts, nonce, method, resource, host, port, hash, ext, app, dlg string) []byte {
	b := m.buf[:0]
	b = append(b, "hawk.1."...)
	b = append(b, kind...)
	for _, s := range [...]string{ts, nonce, method, resource, host, port, hash, ext} {
		b = append(b, '\n')
		b = append(b, s...)
	}
	b = append(b, '\n')
	if app != "" {
		b = append(b, app...)
		b = append(b, '\n')
		b = append(b, dlg...)
		b = append(b, '\n')
	}
	m.buf = b
	return b
}

// payloadHash is Hawk's hash of a request body: base64 of SHA-256 over
// "hawk.1.payload\n" + content type + "\n" + body + "\n", where the content type is
// the header's value before any ';', trimmed and lower-cased (@hapi/hawk's
// parseContentType).
func payloadHash(contentType string, body []byte) string {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	h := sha256.New()
	h.Write([]byte("hawk.1.payload\n"))
	h.Write([]byte(mt))
	h.Write([]byte("\n"))
	h.Write(body)
	h.Write([]byte("\n"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}
