// Package identity verifies the proofs workers give of who they are when they
// register: an EC2 instance identity document with its signature, or a static
// worker's secret.
//
// The document is verified with AWS's published RSA certificate for the document's
// region (the `signature` endpoint: RSA PKCS#1 v1.5 over SHA-256 of the exact bytes).
// The certificates are embedded, from AWS's documentation ("Use the base64-encoded
// signature to verify the instance identity document", awsdocs/amazon-ec2-user-guide):
// one for most regions, and their own for Hong Kong, Bahrain, Cape Town, Milan, the
// China regions and GovCloud. Only their public keys are used: AWS re-issues these
// certificates over the same keys, so their validity dates are not checked. Trust
// adds or replaces a region's certificate, by configuration; the local stack trusts its
// fake cloud's certificate this way, and must be the only place that does.
package identity

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"embed"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"
)

//go:embed certs/*.pem
var certFiles embed.FS

// awsRegions maps regions with their own certificate to its file; every other region
// uses other.pem.
var awsRegions = map[string]string{
	"ap-east-1":      "ap-east-1.pem",
	"me-south-1":     "me-south-1.pem",
	"af-south-1":     "af-south-1.pem",
	"eu-south-1":     "eu-south-1.pem",
	"cn-north-1":     "china.pem",
	"cn-northwest-1": "china.pem",
	"us-gov-east-1":  "govcloud.pem",
	"us-gov-west-1":  "govcloud.pem",
}

// Document is an EC2 instance identity document.
type Document struct {
	AccountID        string    `json:"accountId"`
	Architecture     string    `json:"architecture"`
	AvailabilityZone string    `json:"availabilityZone"`
	ImageID          string    `json:"imageId"`
	InstanceID       string    `json:"instanceId"`
	InstanceType     string    `json:"instanceType"`
	PendingTime      time.Time `json:"pendingTime"`
	PrivateIP        string    `json:"privateIp"`
	Region           string    `json:"region"`
	Version          string    `json:"version"`
}

// MaxDocument bounds the size of an identity document (real ones are under 1 KB).
const MaxDocument = 16 << 10

// Verifier verifies identity documents against per-region certificates.
type Verifier struct {
	mu      sync.RWMutex
	keys    map[string]*rsa.PublicKey // region -> key
	dflt    *rsa.PublicKey            // regions without their own
	trusted bool                      // whether Trust was ever called (for logs)
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// NewAWSVerifier returns a verifier that trusts AWS's published certificates.
func NewAWSVerifier() *Verifier {
	v := &Verifier{keys: map[string]*rsa.PublicKey{}}
	var err error
	if v.dflt, err = embeddedKey("other.pem"); err != nil {
		panic(err) // the embedded certificates are checked by the tests
	}
	for region, file := range awsRegions {
		if v.keys[region], err = embeddedKey(file); err != nil {
			panic(err)
		}
	}
	return v
}

func embeddedKey(file string) (*rsa.PublicKey, error) {
	data, err := certFiles.ReadFile("certs/" + file)
	if err != nil {
		return nil, fmt.Errorf("identity: embedded certificate %s: %w", file, err)
	}
	return rsaKey(data)
}

func rsaKey(certPEM []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("identity: not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	key, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("identity: the certificate's key is not RSA")
	}
	return key, nil
}

// Trust makes the verifier use certPEM's key for region ("*" for every region
// without a certificate of its own).
func (v *Verifier) Trust(region string, certPEM []byte) error {
	key, err := rsaKey(certPEM)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.trusted = true
	if region == "*" {
		v.dflt = key
		v.keys = map[string]*rsa.PublicKey{}
		return nil
	}
	if !regionRE.MatchString(region) {
		return fmt.Errorf("identity: %q is not a region", region)
	}
	v.keys[region] = key
	return nil
}

// Verify checks the signature over the exact document bytes with the certificate of
// the document's region, and only then trusts what the document says.
func (v *Verifier) Verify(document []byte, signatureB64 string) (Document, error) {
	if len(document) == 0 || len(document) > MaxDocument {
		return Document{}, errors.New("identity document is empty or too large")
	}
	sig, err := base64.StdEncoding.DecodeString(stripSpace(signatureB64))
	if err != nil || len(sig) == 0 {
		return Document{}, errors.New("identity signature is not base64")
	}
	// The region is needed to choose the key before the document is trusted.
	var peek struct {
		Region string `json:"region"`
	}
	if err := json.Unmarshal(document, &peek); err != nil {
		return Document{}, fmt.Errorf("identity document is not JSON: %w", err)
	}
	if !regionRE.MatchString(peek.Region) {
		return Document{}, fmt.Errorf("identity document names no valid region (%q)", peek.Region)
	}
	v.mu.RLock()
	key, ok := v.keys[peek.Region]
	if !ok {
		key = v.dflt
	}
	v.mu.RUnlock()
	sum := sha256.Sum256(document)
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		return Document{}, fmt.Errorf("identity document signature does not verify for region %s", peek.Region)
	}
	var doc Document
	if err := json.Unmarshal(document, &doc); err != nil {
		return Document{}, fmt.Errorf("identity document: %w", err)
	}
	return doc, nil
}

func stripSpace(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '\n' && c != '\r' && c != ' ' && c != '\t' {
			out = append(out, c)
		}
	}
	return string(out)
}

// HashStaticSecret is what the store keeps of a static worker's secret.
func HashStaticSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// StaticSecretMatches compares a presented secret with a stored hash in constant
// time.
func StaticSecretMatches(hash []byte, presented string) bool {
	return len(hash) == sha256.Size && subtle.ConstantTimeCompare(hash, HashStaticSecret(presented)) == 1
}

var staticSecretRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{44}$`)

// ValidStaticSecret reports whether s has a static secret's form.
func ValidStaticSecret(s string) bool { return staticSecretRE.MatchString(s) }
