package fakecloud

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/workerfleet/workerfleet/shared/cloud"
)

// IdentityDocument returns instance id's identity document, in the JSON EC2's
// instance metadata serves (accountId, architecture, availabilityZone,
// billingProducts, devpayProductCodes, marketplaceProductCodes, imageId,
// instanceId, instanceType, kernelId, pendingTime, privateIp, ramdiskId, region,
// version), and its signature: base64 of an RSA PKCS#1 v1.5 signature over the
// SHA-256 of exactly those bytes, made with the fake cloud's own key (verify it
// with the key of CertificatePEM). That key is the local stack's: a verifier must
// never trust it outside it. An unknown instance is an error wrapping ErrNotFound.
func (c *Cloud) IdentityDocument(id string) (document []byte, signature string, err error) {
	c.mu.Lock()
	inst, ok := c.byID[id]
	var doc []byte
	if ok {
		doc = identityDocument(c.cfg.AccountID, inst.arch, inst.inst)
	}
	c.mu.Unlock()
	if !ok {
		return nil, "", notFound(id)
	}
	key, _, err := c.identityKey()
	if err != nil {
		return nil, "", fmt.Errorf("identity document of %s: %w", id, err)
	}
	sig, err := signDocument(key, doc)
	if err != nil {
		return nil, "", fmt.Errorf("identity document of %s: %w", id, err)
	}
	return doc, sig, nil
}

// signDocument is base64 of the RSA PKCS#1 v1.5 signature over doc's SHA-256.
func signDocument(key *rsa.PrivateKey, doc []byte) (string, error) {
	sum := sha256.Sum256(doc)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// IdentitySigner signs instance identity documents exactly as the fake cloud does
// its own, for the instances of another emulator: the local stack's moto
// instances (CLOUD=ec2), whose simulated workers register with them. Its key is
// generated and, like the fake cloud's, only the local stack may trust it.
type IdentitySigner struct {
	key  *rsa.PrivateKey
	cert []byte
}

// NewIdentitySigner makes a signer with a fresh key.
func NewIdentitySigner() (*IdentitySigner, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate identity key: %w", err)
	}
	cert, err := selfSignedCertificate(key, time.Now())
	if err != nil {
		return nil, err
	}
	return &IdentitySigner{key: key, cert: cert}, nil
}

// Document returns inst's identity document, in EC2's JSON and field order, with
// account and arch (x86_64 or arm64), and its signature.
func (s *IdentitySigner) Document(account, arch string, inst cloud.Instance) (document []byte, signature string, err error) {
	doc := identityDocument(account, arch, inst)
	sig, err := signDocument(s.key, doc)
	if err != nil {
		return nil, "", fmt.Errorf("identity document of %s: %w", inst.ID, err)
	}
	return doc, sig, nil
}

// CertificatePEM is the self-signed certificate of the signer's key, for the
// local stack's verifier.
func (s *IdentitySigner) CertificatePEM() []byte { return append([]byte(nil), s.cert...) }

// identityDocument writes the document as EC2 does: pretty-printed, one field a
// line, `"key" : value`, in EC2's field order.
func identityDocument(account, arch string, inst cloud.Instance) []byte {
	fields := []struct {
		key   string
		value any
	}{
		{"accountId", account},
		{"architecture", arch},
		{"availabilityZone", inst.AvailabilityZone},
		{"billingProducts", nil},
		{"devpayProductCodes", nil},
		{"marketplaceProductCodes", nil},
		{"imageId", inst.ImageID},
		{"instanceId", inst.ID},
		{"instanceType", inst.InstanceType},
		{"kernelId", nil},
		{"pendingTime", inst.LaunchTime.UTC().Format("2006-01-02T15:04:05Z")},
		{"privateIp", inst.PrivateIP},
		{"ramdiskId", nil},
		{"region", inst.Region},
		{"version", "2017-09-30"},
	}
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, f := range fields {
		v, _ := json.Marshal(f.value) // strings and nil always encode
		fmt.Fprintf(&b, "  %q : %s", f.key, v)
		if i < len(fields)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}")
	return b.Bytes()
}

// UserData returns instance id's user data, raw (nil when it has none). An
// unknown instance is an error wrapping ErrNotFound.
func (c *Cloud) UserData(id string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	inst, ok := c.byID[id]
	if !ok {
		return nil, notFound(id)
	}
	return append([]byte(nil), inst.userData...), nil
}

// RunInstancesInput returns the RunInstances call that launched instance id, as the
// EC2 driver built it (market options, tags, instance profile, subnet, base64 user
// data, ...): what EC2 would have been asked. An unknown instance is an error
// wrapping ErrNotFound.
func (c *Cloud) RunInstancesInput(id string) (*awsec2.RunInstancesInput, error) {
	c.mu.Lock()
	inst, ok := c.byID[id]
	var request []byte
	if ok {
		request = inst.request
	}
	c.mu.Unlock()
	if !ok {
		return nil, notFound(id)
	}
	in := &awsec2.RunInstancesInput{}
	if err := json.Unmarshal(request, in); err != nil {
		return nil, fmt.Errorf("decode the recorded request of %s: %w", id, err)
	}
	return in, nil
}

// CertificatePEM returns a self-signed X.509 certificate (PEM) for the key that
// signs identity documents, for a verifier that takes AWS's published per-region
// certificates to be configured with it in the local stack. It returns nil only
// if the key could not be made (crypto/rand failing), which it logs.
func (c *Cloud) CertificatePEM() []byte {
	_, cert, err := c.identityKey()
	if err != nil {
		c.log.Error("fake cloud: identity certificate", "error", err)
		return nil
	}
	return append([]byte(nil), cert...)
}

// identityKey returns the signing key (the configured one, or one generated on
// first use) and its certificate.
func (c *Cloud) identityKey() (*rsa.PrivateKey, []byte, error) {
	c.keyOnce.Do(func() {
		key := c.key
		if key == nil {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				c.keyErr = fmt.Errorf("generate identity key: %w", err)
				return
			}
			key = k
		}
		cert, err := selfSignedCertificate(key, c.now())
		if err != nil {
			c.keyErr = err
			return
		}
		c.key = key
		c.certPEM = cert
	})
	return c.key, c.certPEM, c.keyErr
}

// selfSignedCertificate is a PEM certificate for key, valid from an hour before now
// for ten years, naming itself as never to be trusted outside the local stack.
func selfSignedCertificate(key *rsa.PrivateKey, now time.Time) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("identity certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization: []string{"workerfleet"},
			CommonName:   "workerfleet fake cloud instance identity (local stack only, never trust elsewhere)",
		},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("identity certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// parseRSAKey reads an RSA private key in PKCS#1 ("RSA PRIVATE KEY") or PKCS#8
// ("PRIVATE KEY") PEM.
func parseRSAKey(b []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		rsaKey, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("the key is not an RSA key")
		}
		return rsaKey, nil
	}
	return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
}
