package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Sealer encrypts access tokens for storage. Hawk needs the plaintext key to check a
// MAC, so tokens cannot be hashed; they are sealed with AES-256-GCM under a key
// derived from the deployment's secret, with the client id as additional data, so a
// sealed token is useless without the secret and cannot be moved to another client.
// A sealed token is the random 12-byte nonce followed by the ciphertext and its tag.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer derives the sealing key from secret (at least 16 bytes).
func NewSealer(secret []byte) (*Sealer, error) {
	if len(secret) < 16 {
		return nil, errors.New("sealer: the secret must be at least 16 bytes")
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("workerfleet client access token sealing v1"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts a client's access token.
func (s *Sealer) Seal(clientID, accessToken string) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return s.aead.Seal(nonce, nonce, []byte(accessToken), []byte(clientID)), nil
}

// Open decrypts a client's sealed access token.
func (s *Sealer) Open(clientID string, sealed []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("open sealed token: too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(clientID))
	if err != nil {
		return "", errors.New("open sealed token: wrong key, wrong client, or tampered")
	}
	return string(plain), nil
}
