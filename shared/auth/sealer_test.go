package auth

import (
	"bytes"
	"strings"
	"testing"
)

func TestSealer(t *testing.T) {
	s, err := NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal("ci", userToken)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(userToken)) || bytes.Contains(sealed, []byte(userToken[:16])) {
		t.Fatal("the sealed token shows the plaintext")
	}
	if got, err := s.Open("ci", sealed); err != nil || got != userToken {
		t.Fatalf("Open = %q, %v; want the token", got, err)
	}
	again, _ := s.Seal("ci", userToken)
	if bytes.Equal(again, sealed) {
		t.Error("sealing twice gave the same bytes: the nonce is not random")
	}
	same, _ := NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if got, err := same.Open("ci", sealed); err != nil || got != userToken {
		t.Errorf("another sealer of the same secret: Open = %q, %v", got, err)
	}

	other, _ := NewSealer([]byte("another secret of sixteen+ bytes"))
	for _, tt := range []struct {
		name   string
		sealer *Sealer
		client string
		sealed []byte
	}{
		{"another client id", s, "other", sealed},
		{"a client id differing in case", s, "CI", sealed},
		{"another deployment's secret", other, "ci", sealed},
		{"empty", s, "ci", nil},
		{"shorter than a nonce", s, "ci", sealed[:8]},
		{"the tag cut off", s, "ci", sealed[:len(sealed)-1]},
	} {
		if got, err := tt.sealer.Open(tt.client, tt.sealed); err == nil || got != "" {
			t.Errorf("%s: Open = %q, %v; want an error", tt.name, got, err)
		} else if strings.Contains(err.Error(), userToken) {
			t.Errorf("%s: the error %q holds the token", tt.name, err)
		}
	}
	// Every single-bit change anywhere is detected.
	for i := range sealed {
		for bit := 0; bit < 8; bit++ {
			tampered := bytes.Clone(sealed)
			tampered[i] ^= 1 << bit
			if got, err := s.Open("ci", tampered); err == nil {
				t.Fatalf("a flip of bit %d of byte %d opened as %q", bit, i, got)
			}
		}
	}
	if _, err := NewSealer([]byte("fifteen bytes..")); err == nil {
		t.Error("a secret of 15 bytes was accepted")
	}
}

func TestNewAccessToken(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok, err := NewAccessToken()
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != 44 || strings.Trim(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != "" || tok[0] == '-' || tok[22] == '-' {
			t.Fatalf("NewAccessToken() = %q; want 44 characters of [A-Za-z0-9_-], two slugids not starting with '-'", tok)
		}
		if seen[tok] {
			t.Fatalf("NewAccessToken() repeated %q", tok)
		}
		seen[tok] = true
	}
}
