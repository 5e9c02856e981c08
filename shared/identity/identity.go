// Package identity verifies the proofs workers give of who they are when they
// register: an EC2 instance identity document with its signature, or a static
// worker's secret.
//
// # Instance identity documents
//
// A document is verified with the RSA key AWS publishes for the document's region,
// for the instance metadata's `signature` endpoint: RSA PKCS#1 v1.5 over the SHA-256
// of the document's exact bytes. Only then is anything in it believed. The keys
// come embedded, as certificates (certs/):
//
//   - From AWS's own documentation text, "Use the base64-encoded signature to verify
//     the instance identity document" (awsdocs/amazon-ec2-user-guide,
//     doc_source/verify-signature.md, its last version, June 2023): the
//     certificate for "all AWS Regions except" the listed ones (other.pem), used
//     for us-east-1, us-east-2, us-west-1, us-west-2, ca-central-1, sa-east-1,
//     eu-west-1, eu-west-2, eu-west-3, eu-central-1, eu-north-1, ap-northeast-1,
//     ap-northeast-2, ap-northeast-3, ap-south-1, ap-southeast-1 and
//     ap-southeast-2; and the certificates of Hong Kong (ap-east-1), Bahrain
//     (me-south-1), UAE (me-central-1), Cape Town (af-south-1), Milan (eu-south-1),
//     Spain (eu-south-2), Zurich (eu-central-2), Jakarta (ap-southeast-3),
//     Melbourne (ap-southeast-4), Hyderabad (ap-south-2), China (cn-north-1,
//     cn-northwest-1) and GovCloud (us-gov-east-1, us-gov-west-1).
//   - From AWS's current per-region page ("AWS public certificates for instance
//     identity document signatures", regions-certs.html, the RSA certificate of
//     each region), as two independent public copies of it agree byte for byte:
//     Tel Aviv (il-central-1) and Calgary (ca-west-1), which the older text
//     predates.
//
// AWS has since re-issued several of these certificates with later expiry dates
// over the same keys (testdata/regions-certs holds the current page's certificate
// of every region above, and the tests check that each carries the embedded key).
// Only keys are used, so certificate dates are not checked. Regions with no
// embedded key (newer ones: ap-southeast-5, ap-southeast-7, mx-central-1, ...) are
// refused until configuration trusts a certificate for them with Trust. The local
// stack trusts its fake cloud's certificate for every region with Trust("*", ...);
// that must never happen in a deployment.
//
// # Static secrets
//
// A static worker presents a 44-character secret; the store keeps only its SHA-256,
// compared in constant time.
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

// awsRegions maps every region with an embedded key to its certificate's file.
var awsRegions = map[string]string{
	"us-east-1":      "other.pem",
	"us-east-2":      "other.pem",
	"us-west-1":      "other.pem",
	"us-west-2":      "other.pem",
	"ca-central-1":   "other.pem",
	"sa-east-1":      "other.pem",
	"eu-west-1":      "other.pem",
	"eu-west-2":      "other.pem",
	"eu-west-3":      "other.pem",
	"eu-central-1":   "other.pem",
	"eu-north-1":     "other.pem",
	"ap-northeast-1": "other.pem",
	"ap-northeast-2": "other.pem",
	"ap-northeast-3": "other.pem",
	"ap-south-1":     "other.pem",
	"ap-southeast-1": "other.pem",
	"ap-southeast-2": "other.pem",
	"ap-east-1":      "ap-east-1.pem",
	"me-south-1":     "me-south-1.pem",
	"me-central-1":   "me-central-1.pem",
	"af-south-1":     "af-south-1.pem",
	"eu-south-1":     "eu-south-1.pem",
	"eu-south-2":     "eu-south-2.pem",
	"eu-central-2":   "eu-central-2.pem",
	"ap-southeast-3": "ap-southeast-3.pem",
	"ap-southeast-4": "ap-southeast-4.pem",
	"ap-south-2":     "ap-south-2.pem",
	"cn-north-1":     "china.pem",
	"cn-northwest-1": "china.pem",
	"us-gov-east-1":  "govcloud.pem",
	"us-gov-west-1":  "govcloud.pem",
	"il-central-1":   "il-central-1.pem",
	"ca-west-1":      "ca-west-1.pem",
}

// Document is an EC2 instance identity document (the fields a registration
// checks; EC2's documents carry a few more, ignored here).
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

const (
	// MaxDocument bounds an identity document (EC2's are under 1 KiB).
	MaxDocument = 16 << 10
	// maxSignature bounds the base64 signature (an RSA-4096 signature is 684
	// characters, before line breaks).
	maxSignature = 4 << 10
)

// Verifier verifies identity documents against per-region keys. Its zero value
// trusts nothing; it is safe for concurrent use.
type Verifier struct {
	mu       sync.RWMutex
	keys     map[string]*rsa.PublicKey // by region
	wildcard *rsa.PublicKey            // Trust("*"): for regions without their own
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// NewAWSVerifier returns a verifier that trusts AWS's published keys for the regions
// the package documentation lists, and no others.
func NewAWSVerifier() *Verifier {
	v := &Verifier{keys: make(map[string]*rsa.PublicKey, len(awsRegions))}
	for region, file := range awsRegions {
		// The tests parse every embedded certificate; one that did not parse would
		// leave its regions refused, never trusted wrongly.
		if key, err := embeddedKey(file); err == nil {
			v.keys[region] = key
		}
	}
	return v
}

func embeddedKey(file string) (*rsa.PublicKey, error) {
	data, err := certFiles.ReadFile("certs/" + file)
	if err != nil {
		return nil, fmt.Errorf("embedded certificate %s: %w", file, err)
	}
	key, err := rsaKey(data)
	if err != nil {
		return nil, fmt.Errorf("embedded certificate %s: %w", file, err)
	}
	return key, nil
}

// rsaKey is the RSA public key of a PEM certificate.
func rsaKey(certPEM []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	key, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("the certificate's key is %T, not RSA", cert.PublicKey)
	}
	return key, nil
}

// Trust makes the verifier use certPEM's RSA key for region. Region "*" means every
// region: it replaces every key trusted so far (the embedded ones included); a
// later Trust of one region overrides it for that region.
func (v *Verifier) Trust(region string, certPEM []byte) error {
	if region != "*" && !regionRE.MatchString(region) {
		return fmt.Errorf("identity: trust: %q is not a region", region)
	}
	key, err := rsaKey(certPEM)
	if err != nil {
		return fmt.Errorf("identity: trust %s: %w", region, err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if region == "*" {
		v.keys, v.wildcard = map[string]*rsa.PublicKey{}, key
		return nil
	}
	if v.keys == nil {
		v.keys = map[string]*rsa.PublicKey{}
	}
	v.keys[region] = key
	return nil
}

// key is the key trusted for region, or nil.
func (v *Verifier) key(region string) *rsa.PublicKey {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if k, ok := v.keys[region]; ok {
		return k
	}
	return v.wildcard
}

// Verify checks signatureB64 (base64, line breaks allowed, as the metadata service
// serves it) over the exact document bytes with the key of the region the document
// names, and only then reads the document. It fails for an empty or oversized
// document, one that is not a JSON object naming a region, a region with no
// trusted key, a signature that is not base64 or does not verify, and a document
// whose fields do not parse. Errors never quote the signature.
func (v *Verifier) Verify(document []byte, signatureB64 string) (Document, error) {
	if len(document) == 0 || len(document) > MaxDocument {
		return Document{}, fmt.Errorf("identity document is empty or over %d bytes", MaxDocument)
	}
	if len(signatureB64) > maxSignature {
		return Document{}, fmt.Errorf("identity signature is over %d characters", maxSignature)
	}
	sig, err := base64.StdEncoding.DecodeString(stripSpace(signatureB64))
	if err != nil || len(sig) == 0 {
		return Document{}, errors.New("identity signature is not base64")
	}
	// The region chooses the key, so it is read before the document is trusted;
	// the same decoder reads it again once the signature holds.
	var peek struct {
		Region string `json:"region"`
	}
	if err := json.Unmarshal(document, &peek); err != nil {
		return Document{}, errors.New("identity document is not a JSON object with a string region")
	}
	if !regionRE.MatchString(peek.Region) {
		return Document{}, errors.New("identity document names no valid region")
	}
	key := v.key(peek.Region)
	if key == nil {
		return Document{}, fmt.Errorf("identity document is from region %s, for which no certificate is trusted", peek.Region)
	}
	sum := sha256.Sum256(document)
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		return Document{}, fmt.Errorf("identity document signature does not verify with the key for region %s", peek.Region)
	}
	var doc Document
	if err := json.Unmarshal(document, &doc); err != nil {
		return Document{}, fmt.Errorf("identity document fields: %w", err)
	}
	return doc, nil
}

// stripSpace removes ASCII whitespace (the metadata service breaks long base64
// lines).
func stripSpace(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '\n' && c != '\r' && c != ' ' && c != '\t' {
			out = append(out, c)
		}
	}
	return string(out)
}

// HashStaticSecret is what the store keeps of a static worker's secret: its
// SHA-256. Static secrets are random (44 characters, as Taskcluster makes them), so
// a fast hash suffices; a guessable secret would stay guessable under any hash.
func HashStaticSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// StaticSecretMatches reports, in constant time, whether presented is the secret
// whose hash the store kept. A hash of the wrong length never matches.
func StaticSecretMatches(hash []byte, presented string) bool {
	sum := sha256.Sum256([]byte(presented))
	return len(hash) == sha256.Size && subtle.ConstantTimeCompare(hash, sum[:]) == 1
}

var staticSecretRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{44}$`)

// ValidStaticSecret reports whether s has a static secret's form: 44 characters of
// [a-zA-Z0-9_-].
func ValidStaticSecret(s string) bool { return staticSecretRE.MatchString(s) }
