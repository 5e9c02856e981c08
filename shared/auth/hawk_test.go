package auth

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestHawkSpecExample checks the MAC computation against the example the Hawk
// protocol's documentation publishes (credentials dh37fgj492je,
// http://example.com:8000/resource/1?b=1&a=2 at 1353832234): a GET, and a POST with
// the payload hash of its payload-validation example.
func TestHawkSpecExample(t *testing.T) {
	const key = "werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn"
	a := &Authenticator{
		Clients: NewStaticClients(Client{ClientID: "dh37fgj492je", AccessToken: key, Scopes: []string{"x"}}),
		Now:     func() time.Time { return time.Unix(1353832234, 0) },
	}
	for _, tt := range []struct{ name, method, other, header, contentType, body string }{
		{"header", "GET", "POST", `Hawk id="dh37fgj492je", ts="1353832234", nonce="j4h3g2", ext="some-app-ext-data", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="`, "", ""},
		{"with a payload hash", "POST", "GET", `Hawk id="dh37fgj492je", ts="1353832234", nonce="j4h3g2", hash="Yi9LfIIFRtBEPt74PVmbTF/xVAwPn7ub15ePICfgnuY=", ext="some-app-ext-data", mac="aSe1DERmZuRl3pI36/9BdZmnErTw3sNzOOAUlfeKjVw="`,
			"text/plain", "Thank you for flying Hawk"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := payloadHash("text/plain", []byte("Thank you for flying Hawk")); got != "Yi9LfIIFRtBEPt74PVmbTF/xVAwPn7ub15ePICfgnuY=" {
				t.Errorf("payload hash %s", got)
			}
			r := Request{Method: tt.method, Host: "example.com", Port: "8000", Resources: []string{"/resource/1?b=1&a=2"},
				Authorization: tt.header, ContentType: tt.contentType, Payload: []byte(tt.body)}
			// The example's ext is no Taskcluster ext; so check the MAC alone.
			h, err := parseHeader(r.Authorization)
			if err != nil {
				t.Fatal(err)
			}
			if !macMatches(key, h.mac, "header", h.ts, h.nonce, tt.method, r.Resources, r.Host, r.Port, h.hash, h.ext, "", "") {
				t.Error("the published MAC does not match")
			}
			if macMatches(key, h.mac, "header", h.ts, h.nonce, tt.other, r.Resources, r.Host, r.Port, h.hash, h.ext, "", "") {
				t.Error("the MAC matches another method")
			}
			// Through Authenticate it gets as far as ext, which is not base64 JSON.
			_, err = a.Authenticate(ctx, r)
			checkResult(t, Caller{}, err, "", "ext is not")
		})
	}
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		header string
		want   hawkHeader
	}{
		{`Hawk id="a", ts="1", nonce="n", mac="m"`, hawkHeader{id: "a", ts: "1", tsSec: 1, nonce: "n", mac: "m"}},
		{`hawk id="a",ts="01",nonce="n",mac="m"`, hawkHeader{id: "a", ts: "01", tsSec: 1, nonce: "n", mac: "m"}},
		{"HAWK\tid=\"a\" ,\tts=\"2\" , nonce=\"n\", mac=\"m\",", hawkHeader{id: "a", ts: "2", tsSec: 2, nonce: "n", mac: "m"}},
		{`  Hawk mac="m", nonce="n", ts="3", id="a b=c,d"  `, hawkHeader{id: "a b=c,d", ts: "3", tsSec: 3, nonce: "n", mac: "m"}},
		{`Hawk id="a", ts="1", nonce="n", mac="m", hash="h", ext="e", app="p", dlg="d"`,
			hawkHeader{id: "a", ts: "1", tsSec: 1, nonce: "n", mac: "m", hash: "h", ext: "e", app: "p", dlg: "d"}},
		{`Hawk id="!#$%&'()*+,-./:;<=>?@[]^_` + "`{|}~" + `", ts="1000000000000", nonce="n", mac="m"`,
			hawkHeader{id: "!#$%&'()*+,-./:;<=>?@[]^_`{|}~", ts: "1000000000000", tsSec: maxTimestamp, nonce: "n", mac: "m"}},
	}
	for _, tt := range tests {
		got, err := parseHeader(tt.header)
		if err != nil {
			t.Errorf("parseHeader(%q): %v", tt.header, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(hawkHeader{})); diff != "" {
			t.Errorf("parseHeader(%q) (-want +got):\n%s", tt.header, diff)
		}
	}
}

func TestSplitBewit(t *testing.T) {
	tests := []struct {
		uri, bewit, signed string
		found              bool
		err                string
	}{
		{"/r", "", "/r", false, ""},
		{"/r?a=1", "", "/r?a=1", false, ""},
		{"/r?bewit=B", "B", "/r", true, ""},
		{"/r?bewit=B&a=1", "B", "/r?a=1", true, ""},
		{"/r?a=1&bewit=B", "B", "/r?a=1", true, ""},
		{"/r?a=1&bewit=B&z=2", "B", "/r?a=1&z=2", true, ""},
		{"/r?a=1&&bewit=B", "B", "/r?a=1&", true, ""}, // as @hapi/hawk cuts it
		{"/r?bewit=B&&a=1", "B", "/r?&a=1", true, ""}, // likewise
		{"/r?bewit=", "", "/r", true, ""},             // found, empty: refused by the caller
		{"/r?xbewit=B&bewitx=C", "", "/r?xbewit=B&bewitx=C", false, ""},
		{"/r?bewit", "", "/r?bewit", false, ""},         // no '=': no bewit, as in @hapi/hawk
		{"/r?b%65wit=B", "", "/r?b%65wit=B", false, ""}, // the name is matched as sent
		{"/r?bewit=B%3D", "B%3D", "/r", true, ""},       // the value is used as sent
		{"/r?bewit=B&bewit=C", "", "", false, "more than one bewit"},
	}
	for _, tt := range tests {
		bewit, signed, found, err := splitBewit(tt.uri)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("splitBewit(%q): error %v, want %q", tt.uri, err, tt.err)
			}
			continue
		}
		if err != nil || bewit != tt.bewit || signed != tt.signed || found != tt.found {
			t.Errorf("splitBewit(%q) = %q, %q, %v, %v; want %q, %q, %v", tt.uri, bewit, signed, found, err, tt.bewit, tt.signed, tt.found)
		}
	}
}

func TestPayloadHashContentType(t *testing.T) {
	want := payloadHash("application/json", []byte(`{}`))
	for _, ct := range []string{"application/json", "Application/JSON", " application/json ; charset=utf-8", "application/json;x=y"} {
		if got := payloadHash(ct, []byte(`{}`)); got != want {
			t.Errorf("payloadHash(%q) = %s, want %s (that of application/json)", ct, got, want)
		}
	}
	if payloadHash("text/plain", []byte(`{}`)) == want || payloadHash("", []byte(`{}`)) == want || payloadHash("application/json", []byte(`{} `)) == want {
		t.Error("the hash ignores the content type or the body")
	}
}

// FuzzParseAuthorization: the header parser, and Authenticate around it, never
// panic; a header either parses with every required attribute, or is an *Error.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		`Hawk id="user", ts="1700000000", nonce="abcdefgh", mac="bWFj", ext="e30="`,
		`Hawk id="a", ts="1", nonce="n", mac="m", hash="h", app="x", dlg="y"`,
		`hawk  id="a" ,ts="1",nonce="n",mac="m",`,
		`Hawk id="a", id="b"`, `Hawk id="`, `Hawk ,`, `Basic x`, "Hawk\tid=\"\x00\"", "",
	} {
		f.Add(s)
	}
	a := testAuthenticator()
	f.Fuzz(func(t *testing.T, header string) {
		h, err := parseHeader(header)
		var ae *Error
		if err != nil {
			if !errors.As(err, &ae) {
				t.Fatalf("parseHeader(%q): %v is no *Error", header, err)
			}
		} else if h.id == "" || h.ts == "" || h.nonce == "" || h.mac == "" || !headerValue(h.id+h.ts+h.nonce+h.mac+h.hash+h.ext+h.app+h.dlg) {
			t.Fatalf("parseHeader(%q) accepted %+v", header, h)
		}
		_, err = a.Authenticate(ctx, Request{Method: "GET", Host: "h", Port: "443", Resources: []string{"/x"}, Authorization: header})
		if err != nil && !errors.As(err, &ae) {
			t.Fatalf("Authenticate with header %q: %v is no *Error", header, err)
		}
	})
}

// FuzzBewit: bewits and request URIs of any shape never panic Authenticate and
// never authenticate.
func FuzzBewit(f *testing.F) {
	for _, s := range []string{"dXNlclwxXG1hY1w", "", "=", "a&bewit=b", "%zz"} {
		f.Add(s, "/api/x?a=1")
	}
	a := testAuthenticator()
	f.Fuzz(func(t *testing.T, bewit, uri string) {
		for _, res := range []string{uri + "?bewit=" + bewit, uri + "&bewit=" + url.QueryEscape(bewit), "/x?bewit=" + bewit} {
			c, err := a.Authenticate(ctx, Request{Method: "GET", Host: "h", Port: "443", Resources: []string{res, uri}})
			var ae *Error
			if err != nil && !errors.As(err, &ae) {
				t.Fatalf("resources %q: %v is no *Error", res, err)
			}
			if c.Authenticated {
				t.Fatalf("resources %q authenticated %+v", res, c)
			}
		}
	})
}
