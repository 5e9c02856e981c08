// Package slugid makes Taskcluster slugids: version 4 UUIDs in URL-safe base64
// without padding (22 characters). Nice slugids also start with a letter or digit,
// never '-', so they are safe as command-line arguments.
package slugid

import (
	"crypto/rand"
	"encoding/base64"
	"regexp"
)

// Pattern matches a nice v4 slugid, as Taskcluster's schemas do (errorId, tokens).
var Pattern = regexp.MustCompile(`^[A-Za-z0-9_-]{8}[Q-T][A-Za-z0-9_-][CGKOSWaeimquy26-][A-Za-z0-9_-]{10}[AQgw]$`)

// Nice returns a random nice slugid.
func Nice() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("slugid: crypto/rand failed: " + err.Error()) // the platform is broken
	}
	return FromBytes(b)
}

// FromBytes makes a nice slugid from 16 bytes (of a random or keyed source): it sets
// the UUID version and variant bits and clears the first bit.
func FromBytes(b [16]byte) string {
	b[0] &= 0x7f
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Valid reports whether s is a nice v4 slugid.
func Valid(s string) bool { return Pattern.MatchString(s) }
